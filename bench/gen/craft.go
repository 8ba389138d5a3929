package gen

// Control-time packet building: the generator crafts every template once,
// here, allocating freely; the per-frame path (stream.go) only copies and
// patches.

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/sluicenet/sluice/ipsec"
	"github.com/sluicenet/sluice/l2tp"
)

var be = binary.BigEndian

// Header sizes and numbers the generator writes.
const (
	ethHdrLen  = 14
	ipv4HdrLen = 20
	ipv6HdrLen = 40
	udpHdrLen  = 8
	espHdrLen  = 8
	protoUDP   = 17
	protoESP   = 50
	nattPort   = 4500
	// l2tpDataHdrLen is the data message header the generator writes:
	// flags (T=0, L=1, version 2), length, tunnel id, session id
	// (RFC 2661 section 3.1).
	l2tpDataHdrLen = 8
	l2tpDataFlags  = l2tp.FlagLength | l2tp.Version
	// pppHdrLen is the PPP address, control and protocol fields in front of
	// the inner packet: FF 03 00 21 (RFC 1662 section 3.1, IPv4 = 0x0021).
	pppHdrLen = 4
	// craftHeadroom is where templates start in their build buffer: room
	// for Ethernet, the outer headers and Encap's nonce scratch.
	craftHeadroom = 128
)

// The addresses inside the PPP link (the inner packet of a PPP frame).
var (
	pppClient = netip.MustParseAddr("192.168.99.2")
	pppServer = netip.MustParseAddr("192.168.99.1")
)

// csum returns the Internet checksum (RFC 1071) of the bytes of parts,
// starting from sum.
func csum(sum uint32, parts ...[]byte) uint16 {
	odd := false
	for _, p := range parts {
		for _, b := range p {
			if odd {
				sum += uint32(b)
			} else {
				sum += uint32(b) << 8
			}
			odd = !odd
		}
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// ipv4Header writes a 20-byte IPv4 header with DF set and a valid checksum.
func ipv4Header(dst []byte, id uint16, proto byte, src, to netip.Addr, payloadLen int) {
	h := dst[:ipv4HdrLen]
	clear(h)
	h[0] = 0x45
	be.PutUint16(h[2:], uint16(ipv4HdrLen+payloadLen))
	be.PutUint16(h[4:], id)
	h[6] = 0x40 // DF
	h[8] = 64
	h[9] = proto
	s4, d4 := src.As4(), to.As4()
	copy(h[12:16], s4[:])
	copy(h[16:20], d4[:])
	be.PutUint16(h[10:], csum(0, h))
}

// ipv6Header writes a 40-byte IPv6 header.
func ipv6Header(dst []byte, next byte, src, to netip.Addr, payloadLen int) {
	h := dst[:ipv6HdrLen]
	clear(h)
	h[0] = 0x60
	be.PutUint16(h[4:], uint16(payloadLen))
	h[6] = next
	h[7] = 64
	s, d := src.As16(), to.As16()
	copy(h[8:24], s[:])
	copy(h[24:40], d[:])
}

// ipUDP returns an IPv4 or IPv6 packet (by src's family) carrying one UDP
// datagram with a valid checksum (RFC 768; RFC 8200 8.1 for IPv6).
func ipUDP(id uint16, src, to netip.Addr, sport, dport uint16, payload []byte) []byte {
	hl := ipv4HdrLen
	if src.Is6() {
		hl = ipv6HdrLen
	}
	p := make([]byte, hl+udpHdrLen+len(payload))
	u := p[hl:]
	be.PutUint16(u[0:], sport)
	be.PutUint16(u[2:], dport)
	be.PutUint16(u[4:], uint16(len(u)))
	copy(u[udpHdrLen:], payload)
	var pseudo []byte
	if src.Is6() {
		ipv6Header(p, protoUDP, src, to, len(u))
		pseudo = make([]byte, 40)
		copy(pseudo, p[8:40])
		be.PutUint32(pseudo[32:], uint32(len(u)))
		pseudo[39] = protoUDP
	} else {
		ipv4Header(p, id, protoUDP, src, to, len(u))
		pseudo = make([]byte, 12)
		copy(pseudo, p[12:20])
		pseudo[9] = protoUDP
		be.PutUint16(pseudo[10:], uint16(len(u)))
	}
	cs := csum(0, pseudo, u)
	if cs == 0 {
		cs = 0xffff
	}
	be.PutUint16(u[6:], cs)
	return p
}

// pppFrame returns a PPP frame of size bytes: FF 03 00 21 and an inner
// IPv4/UDP packet (to the discard port) whose data is a pattern tagged
// with tag, so two frames of one size differ.
func pppFrame(size int, tag uint32) []byte {
	data := make([]byte, size-pppHdrLen-ipv4HdrLen-udpHdrLen)
	for i := range data {
		data[i] = byte(i)
	}
	if len(data) >= 4 {
		be.PutUint32(data, tag)
	}
	inner := ipUDP(uint16(tag), pppClient, pppServer, 9, 9, data)
	return append([]byte{0xff, 0x03, 0x00, 0x21}, inner...)
}

// l2tpData returns an L2TP data message carrying ppp in (tunnel, session).
func l2tpData(tunnel, session uint16, ppp []byte) []byte {
	m := make([]byte, l2tpDataHdrLen+len(ppp))
	be.PutUint16(m[0:], l2tpDataFlags)
	be.PutUint16(m[2:], uint16(len(m)))
	be.PutUint16(m[4:], tunnel)
	be.PutUint16(m[6:], session)
	copy(m[l2tpDataHdrLen:], ppp)
	return m
}

// l2tpHello returns an L2TP HELLO control message (RFC 2661 section 6.5)
// for the box's tunnel id, encoded by the l2tp package's codec.
func l2tpHello(tunnel uint16, ns uint16) ([]byte, error) {
	m := &l2tp.Message{TunnelID: tunnel, Ns: ns, Type: l2tp.MsgHELLO, TypeMandatory: true}
	return m.Append(nil, nil, nil)
}

// ether returns an Ethernet frame around the IP packet ip.
func ether(dst, src net.HardwareAddr, ip []byte) []byte {
	f := make([]byte, ethHdrLen+len(ip))
	copy(f[0:6], dst)
	copy(f[6:12], src)
	et := uint16(0x0800)
	if ip[0]>>4 == 6 {
		et = 0x86dd
	}
	be.PutUint16(f[12:], et)
	copy(f[ethHdrLen:], ip)
	return f
}

// espFrame encrypts the transport mode IP packet ip with the client SA and
// returns the Ethernet frame.
func espFrame(sa *ipsec.OutboundSA, dst, src net.HardwareAddr, ip []byte) ([]byte, error) {
	head, tail := sa.Overhead()
	buf := make([]byte, craftHeadroom+head+len(ip)+tail)
	off := craftHeadroom + head
	copy(buf[off:], ip)
	newOff, n, r := sa.Encap(buf, off, len(ip), 0)
	if r != ipsec.OK {
		return nil, fmt.Errorf("encap with %v: %v", sa, r)
	}
	return ether(dst, src, buf[newOff:newOff+n]), nil
}

// junkFrame returns a frame of n bytes: Ethernet, an IPv4 header claiming
// ESP whose checksum is wrong, and random bytes.
func junkFrame(dst, src net.HardwareAddr, n int, rnd *splitmix, from, to netip.Addr) []byte {
	ip := make([]byte, n-ethHdrLen)
	for i := ipv4HdrLen; i < len(ip); i++ {
		ip[i] = byte(rnd.next())
	}
	ipv4Header(ip, uint16(rnd.next()), protoESP, from, to, len(ip)-ipv4HdrLen)
	ip[10] ^= 0x5a // checksum off by a constant: never valid
	return ether(dst, src, ip)
}

// splitmix is SplitMix64, a tiny deterministic generator for junk bytes.
type splitmix struct{ s uint64 }

func (r *splitmix) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
