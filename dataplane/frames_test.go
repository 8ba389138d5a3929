package dataplane

import (
	"net"
	"net/netip"
	"strconv"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/sluicenet/sluice/ipsec"
)

// Test frames are built with gopacket's serializers, not with the parsers
// under test, so a parsing bug cannot hide behind a matching building bug.

var (
	macClient = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	macServer = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	ipClient  = netip.MustParseAddr("10.99.0.2")
	ipServer  = netip.MustParseAddr("10.99.0.1")
)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ether(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macClient, DstMAC: macServer, EthernetType: et}
}

func ipv4(src, dst netip.Addr, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

// l2tpData returns an L2TPv2 data message (L bit set) carrying ppp.
func l2tpData(tunnel, session uint16, ppp []byte) []byte {
	n := 8 + len(ppp)
	b := []byte{0x40, 0x02, byte(n >> 8), byte(n), byte(tunnel >> 8), byte(tunnel), byte(session >> 8), byte(session)}
	return append(b, ppp...)
}

// l2tpHello returns an L2TPv2 HELLO control message (RFC 2661 6.5).
func l2tpHello(tunnel uint16) []byte {
	avp := []byte{0x80, 0x08, 0, 0, 0, 0, 0, 6} // M, len 8, vendor 0, type 0 (Message Type) = 6 (HELLO)
	n := 12 + len(avp)
	b := []byte{0xc8, 0x02, byte(n >> 8), byte(n), byte(tunnel >> 8), byte(tunnel), 0, 0, 0, 0, 0, 0}
	return append(b, avp...)
}

// pppPayload returns a PPP frame (address/control, protocol IPv4) of n bytes.
func pppPayload(n int) []byte {
	b := make([]byte, n)
	b[0], b[1], b[2], b[3] = 0xff, 0x03, 0x00, 0x21
	for i := 4; i < n; i++ {
		b[i] = byte(i)
	}
	return b
}

// udpIP returns an IPv4/UDP packet (no Ethernet).
func udpIP(t testing.TB, src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	ip := ipv4(src, dst, layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	_ = udp.SetNetworkLayerForChecksum(ip)
	return serialize(t, ip, udp, gopacket.Payload(payload))
}

// udpFrame returns an Ethernet/IPv4/UDP frame.
func udpFrame(t testing.TB, src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	ip := ipv4(src, dst, layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	_ = udp.SetNetworkLayerForChecksum(ip)
	return serialize(t, ether(layers.EthernetTypeIPv4), ip, udp, gopacket.Payload(payload))
}

// espFrame encrypts the IP packet inner with sa (transport or tunnel, as the
// SA says) and wraps the result in Ethernet.
func espFrame(t testing.TB, sa *ipsec.OutboundSA, inner []byte) []byte {
	t.Helper()
	f, r := tryESPFrame(sa, inner)
	if r != ipsec.OK {
		t.Fatalf("Encap: %v", r)
	}
	return f
}

// tryESPFrame is espFrame for inputs Encap may refuse (fuzzing).
func tryESPFrame(sa *ipsec.OutboundSA, inner []byte) ([]byte, ipsec.Result) {
	head, tail := sa.Overhead()
	buf := make([]byte, head+len(inner)+tail+64)
	copy(buf[head:], inner)
	off, n, r := sa.Encap(buf, head, len(inner), 0)
	if r != ipsec.OK {
		return nil, r
	}
	// gopacket pads a lone Ethernet header to the 60-byte minimum: keep
	// only the 14 header bytes.
	eth := []byte{0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00}
	if buf[off]>>4 == 6 {
		eth[12], eth[13] = 0x86, 0xdd
	}
	return append(eth, buf[off:off+n]...), ipsec.OK
}

type netipAddr = netip.Addr

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func itoa(n int) string { return strconv.Itoa(n) }
