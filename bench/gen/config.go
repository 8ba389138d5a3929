package gen

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/sluicenet/sluice/ipsec"
)

// WriteConfig writes the sluice configuration (YAML, as control/config
// reads it) that accepts the generator's traffic: the interface with the
// server address, every SA pair, the seed firewall rule (UDP/1701 only
// inside IPsec, default drop) on the interface, and one static L2TP tunnel
// per traffic SA with its sessions, bound to the SA. Local and peer ids are
// equal (tunnel i+1, sessions 1..Sessions).
//
// The config holds the benchmark's keys in clear, as any sluice config
// does: these are derived from the scenario's seed and good for nothing
// else. SAs are written one per line (YAML flow mappings) so 100k of them
// stay a file of a few tens of megabytes.
func (g *Generator) WriteConfig(w io.Writer) error {
	sc := g.sc
	bw := bufio.NewWriterSize(w, 1<<16)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	p("# sluice-bench: %s\n", g)
	p("# Benchmark keys derived from seed %d; never use them for anything else.\n", sc.Seed)
	p("interfaces:\n  %s: {driver: %s", sc.Interface, sc.Driver)
	if sc.XDPMode != "" {
		p(", xdp-mode: %s", sc.XDPMode)
	}
	p(", address: [%s]}\n", sc.Server)
	p("ipsec:\n  sa:\n")
	for i := 0; i < sc.SAs; i++ {
		writeSA(bw, sc.InboundSpec(i))
		writeSA(bw, sc.OutboundSpec(i))
	}
	p(`firewall:
  name:
    WAN_LOCAL:
      default-action: drop
      rule:
        10: {description: L2TP only in IPsec, action: accept, protocol: udp, destination: {port: 1701}, ipsec: match-ipsec}
  interface:
    %s: {local: WAN_LOCAL}
`, sc.Interface)
	p("l2tp:\n  static:\n    tunnel:\n")
	for i := 0; i < g.traffic; i++ {
		in, _ := SANames(i)
		t := Tunnel(i)
		p("      %d: {peer-tunnel: %d, sa: %s, session: {", t, t, in)
		for s := 1; s <= sc.Sessions; s++ {
			if s > 1 {
				p(", ")
			}
			p("%d: {peer-session: %d}", s, s)
		}
		p("}}\n")
	}
	return bw.Flush()
}

// Config returns WriteConfig's text.
func (g *Generator) Config() []byte {
	var b bytes.Buffer
	_ = g.WriteConfig(&b) // a bytes.Buffer does not fail
	return b.Bytes()
}

func writeSA(w io.Writer, s ipsec.SASpec) {
	fmt.Fprintf(w, "    %s: {spi: %#08x, direction: %v, mode: %v, source: %s, destination: %s, encapsulation: %v",
		s.Name, s.SPI, s.Direction, s.Mode, s.Source, s.Destination, s.Encapsulation)
	if s.Encapsulation == ipsec.EncapUDP {
		fmt.Fprintf(w, ", source-port: %d, destination-port: %d", s.SourcePort, s.DestinationPort)
	}
	// ipsec.Key redacts itself in every fmt verb: the config is the one
	// place its bytes are meant to be written, so they are hex-encoded here.
	fmt.Fprintf(w, ", proposal: %v, enc-key: 0x%s", s.Proposal, hex.EncodeToString(s.EncKey))
	if len(s.AuthKey) > 0 {
		fmt.Fprintf(w, ", auth-key: 0x%s", hex.EncodeToString(s.AuthKey))
	}
	if s.Direction == ipsec.In {
		fmt.Fprintf(w, ", replay-window: %d, pair: %s", s.ReplayWindow, s.Pair)
	}
	fmt.Fprintf(w, "}\n")
}
