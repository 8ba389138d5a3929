package dataplane

// Hot path: no allocation, no locks, no logging.

// Fixed-offset parsing of the outer headers, in place. Every function checks
// lengths before it reads, so no input can panic a worker; a refusal is
// counted by the caller as DropMalformed.

const (
	ipv4MinHdr = 20
	ipv6Hdr    = 40
	udpHdr     = 8
	macLen     = 6
)

// parseEther returns the offset of the L3 header, the EtherType and the VLAN
// tag (tci, tagged). One 802.1Q or 802.1ad tag is understood.
func parseEther(b []byte) (l3 int, et uint16, tci uint16, tagged bool, ok bool) {
	if len(b) < ethHdrLen {
		return 0, 0, 0, false, false
	}
	et = be16(b[12:])
	l3 = ethHdrLen
	if et == etherTypeVLAN || et == etherTypeQinQ {
		if len(b) < ethHdrLen+vlanLen {
			return 0, 0, 0, false, false // cut VLAN tag
		}
		tci = be16(b[14:])
		tagged = true
		et = be16(b[16:])
		l3 += vlanLen
	}
	return l3, et, tci, tagged, true
}

// parseIP parses the IP header at the start of b (which may extend past the
// IP packet, e.g. Ethernet padding) into f, and returns the offset of the L4
// header and the end of the IP packet in b. It checks version, header
// length, total/payload length and the IPv4 header checksum, and refuses
// IPv4 fragments (sluice does not reassemble).
func parseIP(b []byte, f *flow) (l4, end int, ok bool) {
	if len(b) < 1 {
		return 0, 0, false
	}
	switch b[0] >> 4 {
	case 4:
		if len(b) < ipv4MinHdr {
			return 0, 0, false
		}
		ihl := int(b[0]&0x0f) * 4
		tot := int(be16(b[2:]))
		if ihl < ipv4MinHdr || tot < ihl || tot > len(b) {
			return 0, 0, false
		}
		if ipChecksum(b[:ihl]) != 0 {
			return 0, 0, false
		}
		// MF set or a non-zero offset: a fragment. TODO(#4): reassembly.
		if be16(b[6:])&0x3fff != 0 {
			return 0, 0, false
		}
		f.v6 = false
		f.proto = b[9]
		f.src4 = be32(b[12:])
		f.dst4 = be32(b[16:])
		return ihl, tot, true
	case 6:
		if len(b) < ipv6Hdr {
			return 0, 0, false
		}
		end = ipv6Hdr + int(be16(b[4:]))
		if end > len(b) {
			return 0, 0, false
		}
		f.v6 = true
		f.proto = b[6]
		f.src6 = [2]uint64{be64(b[8:]), be64(b[16:])}
		f.dst6 = [2]uint64{be64(b[24:]), be64(b[32:])}
		return ipv6Hdr, end, true
	}
	return 0, 0, false
}

// parseUDP checks the UDP header at b[l4:end] and returns the end of the
// datagram (UDP length may be shorter than the IP payload, never longer).
func parseUDP(b []byte, l4, end int, f *flow) (udpEnd int, ok bool) {
	if l4+udpHdr > end {
		return 0, false
	}
	ulen := int(be16(b[l4+4:]))
	if ulen < udpHdr || l4+ulen > end {
		return 0, false
	}
	f.sport = be16(b[l4:])
	f.dport = be16(b[l4+2:])
	f.hasPorts = true
	return l4 + ulen, true
}

// parsePorts fills f's ports for TCP (and other port-carrying protocols the
// rule table may match) without validating more than their presence.
func parsePorts(b []byte, l4, end int, f *flow) {
	if f.proto == protoTCP || f.proto == protoSCTP {
		if l4+4 <= end {
			f.sport = be16(b[l4:])
			f.dport = be16(b[l4+2:])
			f.hasPorts = true
		}
	}
}

const (
	protoTCP  = 6
	protoSCTP = 132
)

// ipChecksum returns the Internet checksum (RFC 1071) of b; over a header
// that includes its own checksum field the result is 0 when it is valid.
func ipChecksum(b []byte) uint16 {
	var s uint32
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
