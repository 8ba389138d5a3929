// Package controltest holds helpers for tests of the control plane and its
// operator surface (API, metrics, shell): a lab configuration, the client
// side of its SAs, and frames built independently of the parsers under
// test (gopacket for the headers, ipsec's Encap, which ipsec's own tests
// check against scapy, for ESP). Like dataplane/dptest, it is imported by
// tests only.
package controltest

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/sluicenet/sluice/dataplane/mem"
	"github.com/sluicenet/sluice/ipsec"
)

// BoxAddr is the box's address on eth0 in the lab.
var BoxAddr = netip.MustParseAddr("10.99.0.1")

// ClientAddr is client i's address.
func ClientAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 99, byte(1 + i/250), byte(1 + i%250)})
}

// KeyHex returns a distinct 20-byte AES-128-GCM key and salt for SA i, as
// 0x-hex (what an operator writes).
func KeyHex(i int) string {
	var b strings.Builder
	b.WriteString("0x")
	for j := 0; j < 20; j++ {
		fmt.Fprintf(&b, "%02x", byte(i*31+j*7+1))
	}
	return b.String()
}

// MustKey parses a key or fails the test.
func MustKey(tb testing.TB, s string) ipsec.Key {
	tb.Helper()
	k, err := ipsec.ParseKey(s)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// LabYAML is a configuration with interface eth0 (driver mem, address
// 10.99.0.1), the seed's ruleset WAN_LOCAL on it and, for each client i,
// an inbound SA in-cI (SPI 0xc000+i, key KeyHex(i)) bound to static tunnel
// i session 1.
func LabYAML(clients ...int) string {
	var b strings.Builder
	b.WriteString(`interfaces:
  eth0: {driver: mem, address: [10.99.0.1]}
firewall:
  name:
    WAN_LOCAL:
      default-action: drop
      rule:
        10: {action: accept, protocol: udp, destination: {port: 1701}, ipsec: match-ipsec}
  interface:
    eth0: {local: WAN_LOCAL}
`)
	if len(clients) == 0 {
		return b.String()
	}
	b.WriteString("ipsec:\n  sa:\n")
	for _, i := range clients {
		fmt.Fprintf(&b, "    in-c%d: {spi: 0x%08x, direction: in, source: %s, destination: 10.99.0.1, proposal: aes128gcm16, enc-key: %s}\n",
			i, 0xc000+i, ClientAddr(i), KeyHex(i))
	}
	b.WriteString("l2tp:\n  static:\n    tunnel:\n")
	for _, i := range clients {
		fmt.Fprintf(&b, "      %d: {peer-tunnel: %d, sa: in-c%d, session: {1: {peer-session: 1}}}\n", i, i, i)
	}
	return b.String()
}

// ClientSA returns the client side of SA in-cI: what encrypts packets the
// box's inbound SA accepts.
func ClientSA(tb testing.TB, i int) *ipsec.OutboundSA {
	tb.Helper()
	sa, err := ipsec.NewOutboundSA(ipsec.SASpec{Name: fmt.Sprintf("cli%d", i), SPI: uint32(0xc000 + i), Direction: ipsec.Out,
		Mode: ipsec.Transport, Source: ClientAddr(i), Destination: BoxAddr, Proposal: ipsec.AES128GCM16, EncKey: MustKey(tb, KeyHex(i))})
	if err != nil {
		tb.Fatal(err)
	}
	return sa
}

func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// EthHdr is the Ethernet header of lab frames (IPv4).
var EthHdr = []byte{0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00}

// L2TPData returns an L2TPv2 data message (RFC 2661 section 3.1, L bit
// set) for (tunnel, session 1) carrying an n-byte PPP frame.
func L2TPData(tunnel uint16, n int) []byte {
	ppp := make([]byte, n)
	ppp[0], ppp[1], ppp[2], ppp[3] = 0xff, 0x03, 0x00, 0x21
	l := 8 + n
	b := []byte{0x40, 0x02, byte(l >> 8), byte(l), byte(tunnel >> 8), byte(tunnel), 0, 1}
	return append(b, ppp...)
}

// UDPPacket returns an IPv4/UDP packet built by gopacket.
func UDPPacket(tb testing.TB, src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	_ = udp.SetNetworkLayerForChecksum(ip)
	return serialize(tb, ip, udp, gopacket.Payload(payload))
}

// ESPFrame encrypts inner with sa and puts it in an Ethernet frame.
func ESPFrame(tb testing.TB, sa *ipsec.OutboundSA, inner []byte) []byte {
	tb.Helper()
	head, tail := sa.Overhead()
	buf := make([]byte, head+len(inner)+tail)
	copy(buf[head:], inner)
	off, n, r := sa.Encap(buf, head, len(inner), 0)
	if r != ipsec.OK {
		tb.Fatalf("Encap: %v", r)
	}
	return append(append([]byte(nil), EthHdr...), buf[off:off+n]...)
}

// L2TPOverESP returns a frame from client i: an L2TP data message with an
// n-byte PPP frame for tunnel i, inside ESP under sa.
func L2TPOverESP(tb testing.TB, sa *ipsec.OutboundSA, i, n int) []byte {
	return ESPFrame(tb, sa, UDPPacket(tb, ClientAddr(i), BoxAddr, 1701, 1701, L2TPData(uint16(i), n)))
}

// CleartextL2TP is what the seed forbids: L2TP to UDP/1701 outside IPsec.
func CleartextL2TP(tb testing.TB, i int) []byte {
	return append(append([]byte(nil), EthHdr...), UDPPacket(tb, ClientAddr(i), BoxAddr, 1701, 1701, L2TPData(uint16(i), 40))...)
}

// Inject queues frame on p, waiting while the port's ring is full: every
// frame must reach the worker, so a refusal is retried, never counted.
func Inject(p *mem.Port, frame []byte) {
	for !p.Inject(frame) {
		time.Sleep(20 * time.Microsecond)
	}
}

// WaitFor polls cond until it holds, failing the test after 30 seconds.
func WaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
