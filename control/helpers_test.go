package control

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/sluicenet/sluice/control/config"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/mem"
	"github.com/sluicenet/sluice/ipsec"
)

// Lab addresses: the box is 10.99.0.1 on eth0; client i is 10.99.1.i.
var boxAddr = netip.MustParseAddr("10.99.0.1")

func clientAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 99, byte(1 + i/250), byte(1 + i%250)})
}

// keyHex returns a distinct 20-byte AES-128-GCM key+salt for SA i, as
// 0x-hex (what an operator writes).
func keyHex(i int) string {
	var b strings.Builder
	b.WriteString("0x")
	for j := 0; j < 20; j++ {
		fmt.Fprintf(&b, "%02x", byte(i*31+j*7+1))
	}
	return b.String()
}

func mustKey(t testing.TB, s string) ipsec.Key {
	t.Helper()
	k, err := ipsec.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// labYAML is a configuration with one interface, the seed's ruleset and,
// for each client i in clients, an inbound SA in-cI (SPI 0xc000+I) bound
// to static tunnel I session 1.
func labYAML(clients ...int) string {
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
			i, 0xc000+i, clientAddr(i), keyHex(i))
	}
	b.WriteString("l2tp:\n  static:\n    tunnel:\n")
	for _, i := range clients {
		fmt.Fprintf(&b, "      %d: {peer-tunnel: %d, sa: in-c%d, session: {1: {peer-session: 1}}}\n", i, i, i)
	}
	return b.String()
}

func mustTree(t testing.TB, text string) *config.Tree {
	t.Helper()
	tr, err := config.Parse([]byte(text), config.FormatAuto)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	return tr
}

// clientSA returns the client side of SA in-cI: what encrypts packets the
// box's inbound SA accepts.
func clientSA(t testing.TB, i int) *ipsec.OutboundSA {
	t.Helper()
	sa, err := ipsec.NewOutboundSA(ipsec.SASpec{Name: fmt.Sprintf("cli%d", i), SPI: uint32(0xc000 + i), Direction: ipsec.Out,
		Mode: ipsec.Transport, Source: clientAddr(i), Destination: boxAddr, Proposal: ipsec.AES128GCM16, EncKey: mustKey(t, keyHex(i))})
	if err != nil {
		t.Fatal(err)
	}
	return sa
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

var ethHdr = []byte{0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00}

// l2tpData returns an L2TPv2 data message (RFC 2661 section 3.1, L bit
// set) for (tunnel, session 1) carrying an n-byte PPP frame.
func l2tpData(tunnel uint16, n int) []byte {
	ppp := make([]byte, n)
	ppp[0], ppp[1], ppp[2], ppp[3] = 0xff, 0x03, 0x00, 0x21
	l := 8 + n
	b := []byte{0x40, 0x02, byte(l >> 8), byte(l), byte(tunnel >> 8), byte(tunnel), 0, 1}
	return append(b, ppp...)
}

// udpPacket returns an IPv4/UDP packet built by gopacket.
func udpPacket(t testing.TB, src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	_ = udp.SetNetworkLayerForChecksum(ip)
	return serialize(t, ip, udp, gopacket.Payload(payload))
}

// espFrame encrypts inner with sa (ipsec's Encap, checked against scapy in
// ipsec's tests) and puts it in an Ethernet frame.
func espFrame(t testing.TB, sa *ipsec.OutboundSA, inner []byte) []byte {
	t.Helper()
	head, tail := sa.Overhead()
	buf := make([]byte, head+len(inner)+tail)
	copy(buf[head:], inner)
	off, n, r := sa.Encap(buf, head, len(inner), 0)
	if r != ipsec.OK {
		t.Fatalf("Encap: %v", r)
	}
	return append(append([]byte(nil), ethHdr...), buf[off:off+n]...)
}

// l2tpOverESP returns a frame from client i: L2TP data for tunnel i inside
// ESP under sa.
func l2tpOverESP(t testing.TB, sa *ipsec.OutboundSA, i, n int) []byte {
	return espFrame(t, sa, udpPacket(t, clientAddr(i), boxAddr, 1701, 1701, l2tpData(uint16(i), n)))
}

// cleartextL2TP is what the seed forbids: L2TP to UDP/1701 outside IPsec.
func cleartextL2TP(t testing.TB, i int) []byte {
	return append(append([]byte(nil), ethHdr...), udpPacket(t, clientAddr(i), boxAddr, 1701, 1701, l2tpData(uint16(i), 40))...)
}

// rigWorkers returns a dataplane with one worker per mem port.
func rigWorkers(n int) (*dataplane.Dataplane, []*mem.Port) {
	dp := dataplane.New()
	ports := make([]*mem.Port, n)
	for i := range ports {
		ports[i] = mem.New(mem.Options{Name: "eth0", Queue: i, Frames: 4096})
		dp.AddWorker(dataplane.WorkerOptions{Port: ports[i], CPU: -1, IdleWait: time.Millisecond})
	}
	return dp, ports
}

// inject queues frame on p, waiting while the port's ring is full: every
// frame must reach the worker, so a refusal is retried, never counted.
func inject(p *mem.Port, frame []byte) {
	for !p.Inject(frame) {
		time.Sleep(20 * time.Microsecond)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// fakeTimers is an Options.AfterFunc whose timers fire only when the test
// says so.
type fakeTimers struct {
	mu     sync.Mutex
	timers []*fakeTimer
}

type fakeTimer struct {
	d       time.Duration
	f       func()
	stopped bool
}

func (ft *fakeTimers) AfterFunc(d time.Duration, f func()) Stopper {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	t := &fakeTimer{d: d, f: f}
	ft.timers = append(ft.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool { was := !t.stopped; t.stopped = true; return was }

// fire runs timer i's function as the runtime would (even if stopped: a
// real timer may fire just as it is stopped, and the controller must
// ignore a stale one).
func (ft *fakeTimers) fire(i int) {
	ft.mu.Lock()
	f := ft.timers[i].f
	ft.mu.Unlock()
	f()
}

// logBuffer is a slog JSON handler writing to a buffer, for checking what
// is logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
