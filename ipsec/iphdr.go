package ipsec

// Hot path: no allocation, no locks, no logging.

import (
	"encoding/binary"
	"math/bits"
)

// IPv4 and IPv6 header field offsets (RFC 791 section 3.1, RFC 8200 section 3).
const (
	v4TOS      = 1
	v4TotalLen = 2
	v4ID       = 4
	v4Flags    = 6
	v4TTL      = 8
	v4Proto    = 9
	v4Csum     = 10
	v4Src      = 12
	v4Dst      = 16
	v4DF       = 0x40
	v4FragMask = 0x3fff // MF flag and fragment offset

	v6PayloadLen = 4
	v6NextHdr    = 6
	v6HopLimit   = 7
	v6Src        = 8
	v6Dst        = 24

	udpLen  = 4
	udpCsum = 6
	tcpCsum = 16
)

var be = binary.BigEndian

// csumAdd adds b to a one's-complement running sum (RFC 1071), 8 bytes at a
// time with end-around carry.
func csumAdd(sum uint64, b []byte) uint64 {
	var c uint64
	for len(b) >= 32 {
		sum, c = bits.Add64(sum, be.Uint64(b), c)
		sum, c = bits.Add64(sum, be.Uint64(b[8:]), c)
		sum, c = bits.Add64(sum, be.Uint64(b[16:]), c)
		sum, c = bits.Add64(sum, be.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		sum, c = bits.Add64(sum, be.Uint64(b), c)
		b = b[8:]
	}
	if len(b) >= 4 {
		sum, c = bits.Add64(sum, uint64(be.Uint32(b)), c)
		b = b[4:]
	}
	if len(b) >= 2 {
		sum, c = bits.Add64(sum, uint64(be.Uint16(b)), c)
		b = b[2:]
	}
	if len(b) == 1 {
		sum, c = bits.Add64(sum, uint64(b[0])<<8, c)
	}
	sum, _ = bits.Add64(sum, 0, c)
	return sum
}

// csumFold folds a running sum to 16 bits and complements it.
func csumFold(sum uint64) uint16 {
	s := (sum >> 32) + (sum & 0xffffffff)
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return ^uint16(s)
}

// setIPv4Checksum recomputes the header checksum of the IPv4 header h.
func setIPv4Checksum(h []byte) {
	h[v4Csum], h[v4Csum+1] = 0, 0
	be.PutUint16(h[v4Csum:], csumFold(csumAdd(0, h)))
}

// csumReplace updates checksum field cs (as stored in the packet) for a
// 16-bit word of the covered data changing from old to new, per RFC 1624
// eqn. 3: HC' = ~(~HC + ~m + m'). Cheaper than recomputing a header.
func csumReplace(cs, old, new uint16) uint16 {
	s := uint32(^cs) + uint32(^old) + uint32(new)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return ^uint16(s)
}

// setIPv4ProtoLen sets an IPv4 header's protocol and total length and
// updates its checksum incrementally.
func setIPv4ProtoLen(h []byte, proto byte, total uint16) {
	cs := be.Uint16(h[v4Csum:])
	oldTP := be.Uint16(h[v4TTL:])
	oldLen := be.Uint16(h[v4TotalLen:])
	h[v4Proto] = proto
	be.PutUint16(h[v4TotalLen:], total)
	cs = csumReplace(cs, oldTP, be.Uint16(h[v4TTL:]))
	cs = csumReplace(cs, oldLen, total)
	be.PutUint16(h[v4Csum:], cs)
}

// l4Checksum computes the TCP or UDP checksum of seg (its checksum field
// already zeroed) with the pseudo-header of RFC 768 / RFC 8200 section 8.1,
// whose addresses are src and dst (4 or 16 bytes each).
func l4Checksum(src, dst []byte, proto byte, seg []byte) uint16 {
	sum := csumAdd(0, src)
	sum = csumAdd(sum, dst)
	sum += uint64(proto) + uint64(len(seg))
	return csumFold(csumAdd(sum, seg))
}
