// Package gen is sluice's traffic generator: it crafts, with known SAs and
// keys, the Ethernet frames an L2TP/IPsec appliance sees, and the sluice
// configuration that accepts them, so that a benchmark's two ends agree and
// its outcome is known in advance, frame by frame.
//
// Data flow:
//
//	Scenario ─► New: keys derived from the seed, one client SA per inbound
//	            SA (ipsec.OutboundSA with the same SPI and keys), every
//	            template encrypted once into one arena
//	         ─► WriteConfig: interfaces, SA pairs, the seed firewall rule,
//	            static L2TP tunnels and sessions (YAML for control/config)
//	Generator ─► NewStream(shard, shards): one per goroutine
//	Stream.Next(buf): copy the next template by the kind and size schedules,
//	            patch it (fresh sequence number and ICV, flipped ICV bit,
//	            unknown SPI), count it ─► Counts ─► Expect ─► Check against
//	            the dataplane's counters
//
// Frames: ESP-protected L2TP data messages (transport mode, IPv4 or IPv6
// outer, optionally in UDP/4500 per RFC 3948) for N SAs × M sessions,
// ESP-protected HELLOs, cleartext L2TP data and HELLOs to UDP/1701, ESP with
// a bad ICV, ESP with an unknown SPI, and junk. Payload sizes are the L2TP
// payload (the PPP frame) from MinPayload to MaxPayload bytes, one size or
// a weighted mix (IMIX: 7:4:1 of 64/576/1400).
//
// Stream.Next allocates nothing and takes no lock: a benchmark can call it
// on the worker's own goroutine (the mem port's Source) or in a TX loop.
package gen
