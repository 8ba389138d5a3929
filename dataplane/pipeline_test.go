package dataplane

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/sluicenet/sluice/ipsec"
)

// testPort is a minimal in-package Port (dataplane/mem imports dataplane,
// so in-package tests cannot use it): frames queued by the test are handed
// out by Recv; released frames are recycled.
type testPort struct {
	queue   [][]byte
	head    int
	bufs    [][]byte
	free    []int
	sent    [][]byte
	steered bool
}

func newTestPort() *testPort {
	p := &testPort{}
	for i := 0; i < 2*BatchSize; i++ {
		p.bufs = append(p.bufs, make([]byte, 2048))
		p.free = append(p.free, i)
	}
	return p
}

func (p *testPort) Name() string  { return "eth0" }
func (p *testPort) Queue() int    { return 0 }
func (p *testPort) Steered() bool { return p.steered }
func (p *testPort) Recv(fs []Frame) int {
	n := 0
	for n < len(fs) && p.head < len(p.queue) && len(p.free) > 0 {
		i := p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		l := copy(p.bufs[i][256:], p.queue[p.head])
		p.head++
		fs[n] = Frame{Buf: p.bufs[i], Off: 256, Len: l, Handle: uint64(i)}
		n++
	}
	return n
}
func (p *testPort) Send(fs []Frame) int {
	for _, f := range fs {
		p.sent = append(p.sent, append([]byte(nil), f.Data()...))
	}
	p.Release(fs)
	return len(fs)
}
func (p *testPort) Release(fs []Frame) {
	for _, f := range fs {
		p.free = append(p.free, int(f.Handle))
	}
}
func (p *testPort) Alloc(fs []Frame) int {
	n := 0
	for n < len(fs) && len(p.free) > 0 {
		i := p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		fs[n] = Frame{Buf: p.bufs[i], Off: 256, Handle: uint64(i)}
		n++
	}
	return n
}
func (p *testPort) Wait(time.Duration) {}
func (p *testPort) Stats() PortStats   { return PortStats{Mode: "test"} }
func (p *testPort) Close() error       { return nil }

// recSink records deliveries (copies).
type recSink struct {
	ip, ppp [][]byte
	sess    []*Session
}

func (s *recSink) Deliver(d *Delivery) {
	s.ip = append(s.ip, append([]byte(nil), d.IP...))
	s.ppp = append(s.ppp, append([]byte(nil), d.Payload...))
	s.sess = append(s.sess, d.Session)
}

type countSink struct{ n int }

func (s *countSink) Deliver(*Delivery) { s.n++ }

var (
	key1 = ipsec.Key{0: 0x11, 19: 0x01} // 16-byte AES key + 4-byte salt
	key2 = ipsec.Key{0: 0x22, 35: 0x02}
)

func saSpec(name string, spi uint32, dir ipsec.Direction, src, dst string, p ipsec.Proposal, key ipsec.Key, window uint32) ipsec.SASpec {
	s := ipsec.SASpec{Name: name, SPI: spi, Direction: dir, Mode: ipsec.Transport, Proposal: p, EncKey: key, ReplayWindow: window}
	s.Source, s.Destination = mustAddr(src), mustAddr(dst)
	return s
}

// rig is a worker wired to a test port, with the seed ruleset, two inbound
// SAs and two static sessions, and the client-side SAs that encrypt for them.
type rig struct {
	port   *testPort
	w      *Worker
	tables atomic.Pointer[Tables]
	sink   *recSink
	in1    *ipsec.InboundSA
	in2    *ipsec.InboundSA
	cli1   *ipsec.OutboundSA // encrypts what in1 accepts
	cli2   *ipsec.OutboundSA
	punts  *PuntQueue
}

func newRig(t testing.TB, addrs ...string) *rig {
	t.Helper()
	r := &rig{port: newTestPort(), sink: &recSink{}, punts: NewPuntQueue(8)}
	var err error
	if r.in1, err = ipsec.NewInboundSA(saSpec("in-client1", 0xc001, ipsec.In, "10.99.0.2", "10.99.0.1", ipsec.AES128GCM16, key1, 64)); err != nil {
		t.Fatal(err)
	}
	if r.in2, err = ipsec.NewInboundSA(saSpec("in-client2", 0xc003, ipsec.In, "10.99.0.3", "10.99.0.1", ipsec.AES256GCM16, key2, 64)); err != nil {
		t.Fatal(err)
	}
	if r.cli1, err = ipsec.NewOutboundSA(saSpec("cli1", 0xc001, ipsec.Out, "10.99.0.2", "10.99.0.1", ipsec.AES128GCM16, key1, 0)); err != nil {
		t.Fatal(err)
	}
	if r.cli2, err = ipsec.NewOutboundSA(saSpec("cli2", 0xc003, ipsec.Out, "10.99.0.3", "10.99.0.1", ipsec.AES256GCM16, key2, 0)); err != nil {
		t.Fatal(err)
	}
	db := ipsec.NewSADB()
	for _, sa := range []*ipsec.InboundSA{r.in1, r.in2} {
		if err := db.Insert(sa); err != nil {
			t.Fatal(err)
		}
	}
	var as []netipAddr
	for _, a := range addrs {
		as = append(as, mustAddr(a))
	}
	tb := &Tables{
		Gen:    1,
		SAs:    db,
		Ifaces: map[string]*IfaceTables{"eth0": NewIfaceTables("eth0", as, seedRules(t))},
		Sessions: map[uint32]*Session{
			SessionKey(1, 1): {TunnelID: 1, SessionID: 1, PeerTunnel: 7, PeerSession: 9, SA: r.in1, Counter: new(Counter)},
			SessionKey(2, 1): {TunnelID: 2, SessionID: 1, PeerTunnel: 8, PeerSession: 3, SA: r.in2, Counter: new(Counter)},
		},
	}
	r.tables.Store(tb)
	r.w = NewWorker(WorkerOptions{Port: r.port, Tables: &r.tables, Sink: r.sink, Punts: r.punts, Clock: func() int64 { return 0 }})
	return r
}

// run queues frames and processes them all.
func (r *rig) run(frames ...[]byte) {
	r.port.queue = append(r.port.queue, frames...)
	for r.port.head < len(r.port.queue) {
		r.w.Burst()
	}
}

func (r *rig) l2tpESP(t testing.TB, cli *ipsec.OutboundSA, src string, l2tp []byte) []byte {
	return espFrame(t, cli, udpIP(t, mustAddr(src), ipServer, 1701, 1701, l2tp))
}

// wantCounts compares a worker's counts with the expected non-zero stats;
// every stat not listed must be zero.
func wantCounts(t *testing.T, got Counts, want map[Stat]uint64) {
	t.Helper()
	for s := Stat(0); s < numStats; s++ {
		if s == StatRxBytes || s == StatBursts || s == StatDeliveredBytes {
			continue
		}
		if got[s] != want[s] {
			name := statName(s)
			t.Errorf("%s = %d, want %d", name, got[s], want[s])
		}
	}
}

func statName(s Stat) string {
	if s >= StatDrops {
		return DropReason(s - StatDrops).String()
	}
	return [...]string{"rx-packets", "rx-bytes", "tx-packets", "tx-bytes", "nat-keepalives", "punted.l2tp-control",
		"punted.ike", "passed-to-kernel", "delivered", "delivered-bytes", "accepted-local", "bursts", "injected"}[s]
}

func drop(r DropReason) Stat { return StatDrops + Stat(r) }

func TestPipelineCases(t *testing.T) {
	tests := []struct {
		name  string
		build func(t *testing.T, r *rig) [][]byte
		want  map[Stat]uint64
		deliv int
	}{
		{"esp l2tp data delivered", func(t *testing.T, r *rig) [][]byte {
			return [][]byte{r.l2tpESP(t, r.cli1, "10.99.0.2", l2tpData(1, 1, pppPayload(64))), r.l2tpESP(t, r.cli1, "10.99.0.2", l2tpData(1, 1, pppPayload(1400)))}
		}, map[Stat]uint64{StatRxPackets: 2, StatDelivered: 2}, 2},
		{"exact duplicate is a replay", func(t *testing.T, r *rig) [][]byte {
			f := r.l2tpESP(t, r.cli1, "10.99.0.2", l2tpData(1, 1, pppPayload(64)))
			return [][]byte{f, f}
		}, map[Stat]uint64{StatRxPackets: 2, StatDelivered: 1, drop(DropESPReplay): 1}, 1},
		{"flipped ICV bit", func(t *testing.T, r *rig) [][]byte {
			f := r.l2tpESP(t, r.cli1, "10.99.0.2", l2tpData(1, 1, pppPayload(64)))
			f[len(f)-1] ^= 0x01
			return [][]byte{f}
		}, map[Stat]uint64{StatRxPackets: 1, drop(DropESPAuthFailed): 1}, 0},
		{"unknown spi", func(t *testing.T, r *rig) [][]byte {
			f := r.l2tpESP(t, r.cli1, "10.99.0.2", l2tpData(1, 1, pppPayload(64)))
			f[14+20] = 0xde // first SPI byte
			return [][]byte{f}
		}, map[Stat]uint64{StatRxPackets: 1, drop(DropESPUnknownSPI): 1}, 0},
		{"truncated esp", func(t *testing.T, r *rig) [][]byte {
			f := r.l2tpESP(t, r.cli1, "10.99.0.2", l2tpData(1, 1, pppPayload(64)))
			f = f[:14+20+20]
			f[14+2], f[14+3] = 0, 40 // IPv4 total length: 20 + 20 bytes of ESP
			fixIPv4Checksum(f[14:34])
			return [][]byte{f}
		}, map[Stat]uint64{StatRxPackets: 1, drop(DropESPMalformed): 1}, 0},
		{"cleartext l2tp data and control", func(t *testing.T, r *rig) [][]byte {
			return [][]byte{
				udpFrame(t, ipClient, ipServer, 1701, 1701, l2tpData(1, 1, pppPayload(64))),
				udpFrame(t, ipClient, ipServer, 1701, 1701, l2tpHello(1)),
			}
		}, map[Stat]uint64{StatRxPackets: 2, drop(DropL2TPCleartext): 2}, 0},
		{"l2tp control in esp is punted", func(t *testing.T, r *rig) [][]byte {
			return [][]byte{r.l2tpESP(t, r.cli1, "10.99.0.2", l2tpHello(1))}
		}, map[Stat]uint64{StatRxPackets: 1, StatPuntedL2TPControl: 1}, 0},
		{"inner udp to another port hits the default drop", func(t *testing.T, r *rig) [][]byte {
			return [][]byte{espFrame(t, r.cli1, udpIP(t, ipClient, ipServer, 5353, 53, []byte("query")))}
		}, map[Stat]uint64{StatRxPackets: 1, drop(DropFirewall): 1}, 0},
		{"unknown session", func(t *testing.T, r *rig) [][]byte {
			return [][]byte{r.l2tpESP(t, r.cli1, "10.99.0.2", l2tpData(1, 99, pppPayload(64)))}
		}, map[Stat]uint64{StatRxPackets: 1, drop(DropL2TPUnknownSession): 1}, 0},
		{"session bound to another SA", func(t *testing.T, r *rig) [][]byte {
			return [][]byte{
				r.l2tpESP(t, r.cli2, "10.99.0.3", l2tpData(1, 1, pppPayload(64))),
				r.l2tpESP(t, r.cli2, "10.99.0.3", l2tpData(2, 1, pppPayload(64))),
			}
		}, map[Stat]uint64{StatRxPackets: 2, drop(DropL2TPWrongSA): 1, StatDelivered: 1}, 1},
		{"l2tp version 3 inside esp", func(t *testing.T, r *rig) [][]byte {
			m := l2tpData(1, 1, pppPayload(64))
			m[1] = 0x03
			return [][]byte{r.l2tpESP(t, r.cli1, "10.99.0.2", m)}
		}, map[Stat]uint64{StatRxPackets: 1, drop(DropL2TPMalformed): 1}, 0},
		{"malformed outer headers", func(t *testing.T, r *rig) [][]byte {
			badSum := r.l2tpESP(t, r.cli1, "10.99.0.2", l2tpData(1, 1, pppPayload(64)))
			badSum[14+10] ^= 0xff
			badUDPLen := udpFrame(t, ipClient, ipServer, 1701, 1701, l2tpData(1, 1, pppPayload(64)))
			badUDPLen[14+20+4], badUDPLen[14+20+5] = 0x7f, 0xff
			badVersion := r.l2tpESP(t, r.cli1, "10.99.0.2", l2tpData(1, 1, pppPayload(64)))
			badVersion[14] = 0x55
			fixIPv4Checksum(badVersion[14:34])
			cutVLAN := append(serialize(t, ether(layers.EthernetTypeDot1Q))[:14:14], 0x00)
			return [][]byte{badSum, badUDPLen, badVersion, cutVLAN}
		}, map[Stat]uint64{StatRxPackets: 4, drop(DropMalformed): 3, StatPassedToKernel: 1}, 0},
		{"kernel traffic passes", func(t *testing.T, r *rig) [][]byte {
			arp := serialize(t, ether(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
				HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: macClient, SourceProtAddress: ipClient.AsSlice(),
				DstHwAddress: make([]byte, 6), DstProtAddress: ipServer.AsSlice()})
			ike := udpFrame(t, ipClient, ipServer, 500, 500, []byte("ike sa init"))
			tip := ipv4(ipClient, ipServer, layers.IPProtocolTCP)
			syn := &layers.TCP{SrcPort: 40000, DstPort: 22, SYN: true}
			_ = syn.SetNetworkLayerForChecksum(tip)
			tcp := serialize(t, ether(layers.EthernetTypeIPv4), tip, syn)
			return [][]byte{arp, ike, tcp}
		}, map[Stat]uint64{StatRxPackets: 3, StatPassedToKernel: 3}, 0},
		{"nat-t keepalive and ike marker", func(t *testing.T, r *rig) [][]byte {
			return [][]byte{
				udpFrame(t, ipClient, ipServer, 4500, 4500, []byte{0xff}),
				udpFrame(t, ipClient, ipServer, 4500, 4500, []byte{0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}),
			}
		}, map[Stat]uint64{StatRxPackets: 2, StatNATKeepalives: 1, StatPuntedIKE: 1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.run(tt.build(t, r)...)
			wantCounts(t, r.w.Counts(), tt.want)
			if len(r.sink.ip) != tt.deliv {
				t.Errorf("delivered %d messages, want %d", len(r.sink.ip), tt.deliv)
			}
		})
	}
}

func TestNotForUs(t *testing.T) {
	r := newRig(t, "10.99.0.1")
	r.run(
		r.l2tpESP(t, r.cli1, "10.99.0.2", l2tpData(1, 1, pppPayload(64))),
		udpFrame(t, ipClient, mustAddr("10.99.0.77"), 1701, 1701, l2tpData(1, 1, pppPayload(64))),
	)
	wantCounts(t, r.w.Counts(), map[Stat]uint64{StatRxPackets: 2, StatDelivered: 1, drop(DropNotForUs): 1})
}

// TestDeliveredInnerPacket checks the inner packet handed to the sink against
// the packet the client encrypted: transport mode restores it byte for byte
// (RFC 4303 3.1.1: the outer header becomes the inner one again).
func TestDeliveredInnerPacket(t *testing.T) {
	r := newRig(t)
	ppp := pppPayload(200)
	inner := udpIP(t, ipClient, ipServer, 1701, 1701, l2tpData(1, 1, ppp))
	r.run(espFrame(t, r.cli1, inner))
	if len(r.sink.ip) != 1 {
		t.Fatalf("delivered %d, want 1", len(r.sink.ip))
	}
	got := r.sink.ip[0]
	// TTL and IP ID may differ only if Encap changes them; compare all but
	// the checksum-covered fields that the RFC lets change (none here).
	if !bytes.Equal(got[20:], inner[20:]) {
		t.Errorf("inner transport segment differs:\n got %x\nwant %x", got[20:], inner[20:])
	}
	if got[9] != 17 || int(be16(got[2:])) != len(inner) || ipChecksum(got[:20]) != 0 {
		t.Errorf("inner IPv4 header not fixed up: proto %d len %d checksum ok %v", got[9], be16(got[2:]), ipChecksum(got[:20]) == 0)
	}
	if !bytes.Equal(r.sink.ppp[0], ppp) {
		t.Error("PPP payload differs")
	}
	if p, b := r.sink.sess[0].Counter.Load(); p != 1 || b != uint64(len(ppp)) {
		t.Errorf("session counter = %d packets %d bytes, want 1, %d", p, b, len(ppp))
	}
}

func TestPuntCarriesPeer(t *testing.T) {
	r := newRig(t)
	hello := l2tpHello(1)
	r.run(r.l2tpESP(t, r.cli1, "10.99.0.2", hello))
	p, ok := r.punts.Pop()
	if !ok {
		t.Fatal("nothing punted")
	}
	if p.Kind != PuntL2TPControl || p.SA != r.in1 || p.OuterSrc.Addr() != ipClient || p.Iface != "eth0" {
		t.Errorf("punt = kind %v sa %v src %v iface %q", p.Kind, p.SA.Name(), p.OuterSrc, p.Iface)
	}
	pkt := p.Packet()
	if !bytes.Equal(pkt[28:], hello) {
		t.Errorf("punted L2TP message differs: %x", pkt[28:])
	}
	if !bytes.Equal(p.SrcMAC[:], macClient) {
		t.Errorf("punt source MAC = %x", p.SrcMAC)
	}
}

func TestPuntQueueFull(t *testing.T) {
	r := newRig(t)
	var fs [][]byte
	for i := 0; i < r.punts.Cap()+3; i++ {
		fs = append(fs, r.l2tpESP(t, r.cli1, "10.99.0.2", l2tpHello(1)))
	}
	r.run(fs...)
	c := r.w.Counts()
	if c[StatPuntedL2TPControl] != uint64(r.punts.Cap()) || c.Drop(DropPuntQueueFull) != 3 {
		t.Errorf("punted %d, punt-queue-full %d; want %d, 3", c[StatPuntedL2TPControl], c.Drop(DropPuntQueueFull), r.punts.Cap())
	}
}

func TestInjectTransmits(t *testing.T) {
	r := newRig(t)
	inj := NewInjectQueue(4)
	r.w.inject = inj
	s := inj.Slot()
	s.Len = copy(s.Buf[:], []byte("frame-from-control"))
	inj.Commit()
	r.w.Burst()
	if len(r.port.sent) != 1 || string(r.port.sent[0]) != "frame-from-control" {
		t.Fatalf("sent %q", r.port.sent)
	}
	if c := r.w.Counts(); c[StatTxPackets] != 1 || c[StatInjected] != 1 {
		t.Errorf("tx %d injected %d, want 1 1", c[StatTxPackets], c[StatInjected])
	}
}

func TestRuleCountersAndBytes(t *testing.T) {
	r := newRig(t)
	inner := udpIP(t, ipClient, ipServer, 1701, 1701, l2tpData(1, 1, pppPayload(100)))
	dns := udpIP(t, ipClient, ipServer, 5353, 53, []byte("q"))
	clear := udpFrame(t, ipClient, ipServer, 1701, 1701, l2tpData(1, 1, pppPayload(10)))
	r.run(espFrame(t, r.cli1, inner), espFrame(t, r.cli1, dns), clear)
	rs := r.tables.Load().Ifaces["eth0"].Local
	_, c := rs.RuleCounter(0)
	if p, b := c.Load(); p != 1 || b != uint64(len(inner)) {
		t.Errorf("rule 10 = %d packets %d bytes, want 1, %d", p, b, len(inner))
	}
	if p, b := rs.Default.Load(); p != 2 || b != uint64(len(dns)+len(clear)-14) {
		t.Errorf("default = %d packets %d bytes, want 2, %d", p, b, len(dns)+len(clear)-14)
	}
}

// TestPipelineNoAllocs proves the steady-state burst allocates nothing, for
// delivered data, refused packets and punts alike.
func TestPipelineNoAllocs(t *testing.T) {
	r := newRig(t)
	r.w.sink = &countSink{}
	var frames [][]byte
	for i := 0; i < 1000; i++ {
		frames = append(frames, r.l2tpESP(t, r.cli1, "10.99.0.2", l2tpData(1, 1, pppPayload(64))))
	}
	bad := udpFrame(t, ipClient, ipServer, 1701, 1701, l2tpData(1, 1, pppPayload(64)))
	hello := r.l2tpESP(t, r.cli1, "10.99.0.2", l2tpHello(1))
	i := 0
	allocs := testing.AllocsPerRun(200, func() {
		r.port.queue, r.port.head = r.port.queue[:0], 0
		r.port.queue = append(r.port.queue, frames[i%len(frames)], bad, hello)
		i++
		r.w.Burst()
		r.punts.Pop()
	})
	if allocs != 0 {
		t.Fatalf("allocs per burst = %v, want 0", allocs)
	}
}

// BenchmarkPipeline measures one L2TP data message through the whole path
// (steering, parse, ESP decrypt, rules, L2TP, delivery) against a bare
// AEAD Open of the same payload in the same run.
func BenchmarkPipeline(b *testing.B) {
	for _, size := range []int{64, 1400} {
		b.Run("aes128gcm16/"+itoa(size)+"B", func(b *testing.B) {
			r := newRig(b)
			r.in1, _ = ipsec.NewInboundSA(saSpec("in-client1", 0xc001, ipsec.In, "10.99.0.2", "10.99.0.1", ipsec.AES128GCM16, key1, 0))
			db := ipsec.NewSADB()
			_ = db.Insert(r.in1)
			tb := *r.tables.Load()
			tb.SAs = db
			tb.Sessions = map[uint32]*Session{SessionKey(1, 1): {TunnelID: 1, SessionID: 1, SA: r.in1, Counter: new(Counter)}}
			r.tables.Store(&tb)
			r.w.sink = &countSink{}
			frame := r.l2tpESP(b, r.cli1, "10.99.0.2", l2tpData(1, 1, pppPayload(size)))
			fp := &fixedPort{frame: frame}
			for i := range fp.bufs {
				fp.bufs[i] = make([]byte, 2048)
			}
			r.w.port = fp
			// One iteration is one full burst of BatchSize packets, the
			// dataplane's steady state under load. The baseline (bare AEAD
			// Open of the same payload) runs interleaved with the pipeline,
			// so a noisy neighbour on this shared CPU slows both alike.
			b.SetBytes(int64(size * BatchSize))
			b.ReportAllocs()
			bare := newBareOpen(b, frame)
			var pipeT, bareT time.Duration
			var bareN int
			i := 0
			start := time.Now()
			for b.Loop() {
				r.w.Burst()
				if i++; i%64 == 0 {
					b.StopTimer()
					pipeT += time.Since(start)
					t0 := time.Now()
					bare.run(64 * BatchSize)
					bareT += time.Since(t0)
					bareN += 64 * BatchSize
					b.StartTimer()
					start = time.Now()
				}
			}
			if got := r.w.Counts()[StatDelivered]; got != uint64(b.N*BatchSize) {
				b.Fatalf("delivered %d of %d", got, b.N*BatchSize)
			}
			pipeT += time.Since(start)
			if bareN == 0 { // too few iterations to interleave (-benchtime 1x)
				t0 := time.Now()
				bare.run(b.N * BatchSize)
				bareT, bareN = time.Since(t0), b.N*BatchSize
			}
			pipe := pipeT.Seconds() / float64(b.N*BatchSize)
			b.ReportMetric(pipe*1e9, "ns/pkt")
			b.ReportMetric(pipe/(bareT.Seconds()/float64(bareN)), "x-bare-open")
			b.ReportMetric(1/pipe, "pkt/s")
		})
	}
}

// bareOpener is the baseline: cipher.AEAD.Open over the same ESP payload
// (what the crypto alone costs), on a fresh copy each time as the pipeline
// decrypts a fresh copy of the frame.
type bareOpener struct {
	aead       cipher.AEAD
	nonce      [12]byte
	aad, ct, w []byte
}

func newBareOpen(b *testing.B, frame []byte) *bareOpener {
	esp := frame[14+20:]
	blk, _ := aes.NewCipher(key1[:16])
	aead, _ := cipher.NewGCM(blk)
	o := &bareOpener{aead: aead, aad: esp[:8], ct: esp[16:], w: make([]byte, len(esp)-16)}
	copy(o.nonce[:4], key1[16:20])
	copy(o.nonce[4:], esp[8:16])
	copy(o.w, o.ct)
	if _, err := aead.Open(o.w[:0], o.nonce[:], o.w, o.aad); err != nil {
		b.Fatalf("bare open: %v", err)
	}
	return o
}

func (o *bareOpener) run(n int) {
	for i := 0; i < n; i++ {
		copy(o.w, o.ct)
		_, _ = o.aead.Open(o.w[:0], o.nonce[:], o.w, o.aad)
	}
}

// fixedPort hands out full bursts of copies of one frame, as a NIC would
// DMA them: the copy is part of the measured cost.
type fixedPort struct {
	testPort
	frame []byte
	bufs  [BatchSize][]byte
}

func (p *fixedPort) Recv(fs []Frame) int {
	for i := range fs {
		n := copy(p.bufs[i][256:], p.frame)
		fs[i] = Frame{Buf: p.bufs[i], Off: 256, Len: n}
	}
	return len(fs)
}
func (p *fixedPort) Release([]Frame) {}

func fixIPv4Checksum(h []byte) {
	h[10], h[11] = 0, 0
	s := ipChecksum(h)
	h[10], h[11] = byte(s>>8), byte(s)
}

// TestSessionBindingSurvivesSAReplacement: a commit that replaces an SA by
// one of the same name (new settings) must not refuse the session's data
// while the session still points at the old object.
func TestSessionBindingSurvivesSAReplacement(t *testing.T) {
	r := newRig(t)
	repl, err := ipsec.NewInboundSA(saSpec("in-client1", 0xc001, ipsec.In, "10.99.0.2", "10.99.0.1", ipsec.AES128GCM16, key1, 128))
	if err != nil {
		t.Fatal(err)
	}
	r.tables.Load().SAs.Replace(repl) // the session still holds r.in1
	r.run(r.l2tpESP(t, r.cli1, "10.99.0.2", l2tpData(1, 1, pppPayload(64))))
	wantCounts(t, r.w.Counts(), map[Stat]uint64{StatRxPackets: 1, StatDelivered: 1})
	// A different SA (other name) is still refused.
	r.run(r.l2tpESP(t, r.cli2, "10.99.0.3", l2tpData(1, 1, pppPayload(64))))
	if c := r.w.Counts(); c.Drop(DropL2TPWrongSA) != 1 {
		got := c.Drop(DropL2TPWrongSA)
		t.Errorf("l2tp-wrong-sa = %d, want 1", got)
	}
}
