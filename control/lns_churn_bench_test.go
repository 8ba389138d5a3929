package control

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/mem"
	"github.com/sluicenet/sluice/ipsec"
	"github.com/sluicenet/sluice/l2tp"
)

// The churn benchmark: a worker delivers L2TP data (client 2's ESP, to
// static tunnel 1 session 1) as fast as it can from a mem port that fills
// its frames in place, while the running LNS (default options) establishes
// 10,000 sessions (100 tunnels × 100 sessions, client 1) and tears them
// all down, fed by a LAC driver through a second, idle worker's punt and
// inject queues. The worker's delivery rate during the churn is compared
// with its rate, measured in the same run, before and after it.

// churnLab is the benchmark's configuration: client 1's SA pair for the
// LNS's tunnels, and client 2's inbound SA, with no anti-replay (one frame
// is sent again and again), bound to static tunnel 1 session 1.
func churnLab() string {
	return lnsLab{clients: []int{1},
		extraSA: fmt.Sprintf("    in-c2: {spi: 0x0000c002, direction: in, source: %s, destination: 10.99.0.1, proposal: aes128gcm16, enc-key: %s, replay-window: 0}\n",
			clientAddr(2), keyHex(2)),
		static: "    tunnel:\n      1: {peer-tunnel: 1, sa: in-c2, session: {1: {peer-session: 1}}}\n",
		lns:    ", receive-window: 1024, max-tunnels-per-peer: 1000, max-sessions-per-tunnel: 1000, max-sessions: 20000, sccrq-rate: 100000",
	}.yaml()
}

// churnTunnel is the driver's state for one tunnel.
type churnTunnel struct {
	tid, serverTID uint16
	ns, nr         uint16
	sessions       map[uint16]uint16 // our session id → the server's
}

// churnDriver is the LAC side of the churn: it pushes punts (as the
// worker would: decrypted inner packets bound to in-c1) and reads the
// LNS's encrypted replies from the idle worker's inject queue.
type churnDriver struct {
	err     error // the first failure; the driver runs off the benchmark's goroutine
	w       *dataplane.Worker
	sa      *ipsec.InboundSA
	cli     *ipsec.InboundSA
	tunnels map[uint16]*churnTunnel // by our tunnel id
	buf     []byte
	l2      []byte
	perTun  int
	lns     *LNS
}

func (d *churnDriver) push(t *churnTunnel, m *l2tp.Message) {
	q := d.w.Punts()
	p := q.Slot()
	for p == nil {
		// The LNS is behind: take its replies meanwhile (which may push
		// too: this message gets its Ns only once it has its slot).
		d.drain()
		p = q.Slot()
	}
	if m.Type != l2tp.MsgSCCRQ {
		m.TunnelID = t.serverTID
	}
	m.Ns, m.Nr = t.ns, t.nr
	b, err := m.Append(d.l2[:0], nil, nil)
	if err != nil {
		d.fail("encode: %v", err)
		return
	}
	d.l2 = b
	if !m.IsZLB() {
		t.ns++
	}
	p.Kind, p.Worker, p.Iface, p.SA = dataplane.PuntL2TPControl, d.w.ID(), "eth0", d.sa
	p.OuterSrc, p.OuterDst = netip.AddrPortFrom(clientAddr(1), 0), netip.AddrPortFrom(boxAddr, 0)
	p.SrcMAC, p.DstMAC = [6]byte{2, 0, 0, 0, 0, 1}, boxMAC
	p.Len = 28 + len(b)
	writeIPUDP(p.Buf[:p.Len], clientAddr(1), boxAddr, 1701, 1701, 1, b)
	q.Commit()
}

// drain handles every reply waiting: SCCRP → SCCCN and the tunnel's
// ICRQs; ICRP → ICCN. It returns how many it handled.
func (d *churnDriver) drain() int {
	in := d.w.Inject()
	n := 0
	for f := in.Peek(); f != nil; f = in.Peek() {
		k := copy(d.buf, f.Buf[:f.Len])
		in.Advance()
		n++
		off, m, r := d.cli.Decap(d.buf, 14, 34, k, 1)
		if r != ipsec.OK {
			d.fail("LAC decrypt: %v", r)
			continue
		}
		u, ok := parseUDP(d.buf[off : off+m])
		if !ok {
			d.fail("reply is not UDP")
			continue
		}
		msg, err := l2tp.ParseControl(u.payload, nil)
		if err != nil {
			d.fail("reply: %v", err)
			continue
		}
		t := d.tunnels[msg.TunnelID]
		if t == nil {
			d.fail("reply to unknown tunnel %d", msg.TunnelID)
			continue
		}
		if msg.IsZLB() || msg.Ns != t.nr {
			continue // an ack, or a retransmission of what was handled
		}
		t.nr++
		switch msg.Type {
		case l2tp.MsgSCCRP:
			t.serverTID = msg.AssignedTunnelID
			d.push(t, &l2tp.Message{Type: l2tp.MsgSCCCN})
			for s := 1; s <= d.perTun; s++ {
				d.push(t, icrqMsg(uint16(s), uint32(s)))
			}
		case l2tp.MsgICRP:
			t.sessions[msg.SessionID] = msg.AssignedSessionID
			d.push(t, iccnMsg(msg.AssignedSessionID))
		}
	}
	return n
}

// fail records the driver's first failure.
func (d *churnDriver) fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, a...)
	}
}

// until drains replies until cond holds (false on a failure or timeout).
func (d *churnDriver) until(what string, cond func() bool) bool {
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if d.drain() == 0 {
			time.Sleep(100 * time.Microsecond)
		}
		if time.Now().After(deadline) {
			states := map[string]int{}
			for _, t := range d.lns.L2TPTunnels() {
				states[t.State+"/"+t.Reason]++
			}
			d.fail("churn: timed out waiting for %s (LNS %+v; tunnels by state/reason %v)", what, d.lns.Stats(), states)
		}
		if d.err != nil {
			return false
		}
	}
	return true
}

// churn establishes tunnels×perTun sessions and tears them all down,
// sessions first (CDN), then tunnels (StopCCN).
func (d *churnDriver) churn(lns *LNS, base uint16, tunnels int) {
	st0 := lns.Stats()
	// Earlier churns' tunnels stay known: their late acks are expected.
	if d.tunnels == nil {
		d.tunnels = map[uint16]*churnTunnel{}
	}
	var these []*churnTunnel
	for i := range tunnels {
		t := &churnTunnel{tid: base + uint16(i), sessions: map[uint16]uint16{}}
		d.tunnels[t.tid] = t
		these = append(these, t)
		m := sccrqMsg(t.tid, "churn")
		m.ReceiveWindowSize = 1024
		d.push(t, m)
	}
	want := uint64(tunnels * d.perTun)
	if !d.until("sessions up", func() bool { return lns.Stats().SessionsUp-st0.SessionsUp == want }) {
		return
	}
	for _, t := range these {
		for ours, theirs := range t.sessions {
			cdn := &l2tp.Message{Type: l2tp.MsgCDN, SessionID: theirs, AssignedSessionID: ours, Result: l2tp.ResultCode{Result: l2tp.CDNAdmin}}
			cdn.Add(l2tp.AVPResultCode, l2tp.AVPAssignedSessionID)
			d.push(t, cdn)
		}
	}
	if !d.until("sessions down", func() bool { return lns.Stats().SessionsDown-st0.SessionsDown == want }) {
		return
	}
	for _, t := range these {
		stop := &l2tp.Message{Type: l2tp.MsgStopCCN, AssignedTunnelID: t.tid, Result: l2tp.ResultCode{Result: l2tp.StopClear}}
		stop.Add(l2tp.AVPAssignedTunnelID, l2tp.AVPResultCode)
		d.push(t, stop)
	}
	if d.until("tunnels down", func() bool { return lns.Stats().TunnelsDown-st0.TunnelsDown == uint64(tunnels) }) {
		d.until("nothing published", func() bool { return lns.Stats().PublishedSessions == 0 })
	}
}

// BenchmarkLNSChurn/10000-sessions/1400B/lns-nice-N: one iteration is a
// quiet window, a churn of 10,000 sessions, and another quiet window.
// Reported: the worker's delivery rate quiet and during the churn, their
// ratio (churn/quiet), and the churn's sessions per second (up and down).
// The driver stands in for 100 remote LACs (it encodes their messages and
// decrypts the replies): it runs at niceness 19 so that its CPU, which a
// real LNS does not spend, competes as little as possible with the
// worker; the LNS runs at normal priority (lns-nice-0) and at LNSOptions
// Nice 10. On a machine with fewer cores than worker + LNS + driver, the
// ratio measures CPU sharing as much as anything: workers never wait for
// the LNS (they load one pointer per burst).
func BenchmarkLNSChurn(b *testing.B) {
	const tunnels, perTun, size = 100, 100, 1400
	for _, nice := range []int{0, 10} {
		b.Run(fmt.Sprintf("%d-sessions/%dB/lns-nice-%d", tunnels*perTun, size, nice), func(b *testing.B) {
			benchChurn(b, tunnels, perTun, size, nice)
		})
	}
}

func benchChurn(b *testing.B, tunnels, perTun, size, nice int) {
	dp := dataplane.New()
	cli2 := clientSA(b, 2)
	frame := espFrame(b, cli2, udpPacket(b, clientAddr(2), boxAddr, 1701, 1701, l2tpData(1, size)))
	data := mem.New(mem.Options{Name: "eth0", Source: func(buf []byte) int { return copy(buf, frame) }})
	w0 := dp.AddWorker(dataplane.WorkerOptions{Port: data, CPU: -1})
	idle := mem.New(mem.Options{Name: "eth0", Queue: 1})
	w1 := dp.AddWorker(dataplane.WorkerOptions{Port: idle, CPU: -1,
		Punts: dataplane.NewPuntQueue(4096), Inject: dataplane.NewInjectQueue(4096)})
	ctrl := NewController(dp, Options{})
	if _, err := ctrl.Commit(mustTree(b, churnLab()), "bench", ""); err != nil {
		b.Fatal(err)
	}
	lns := NewLNS(ctrl, LNSOptions{Nice: nice})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lns.Run(ctx) }()
	go w0.Run() // w1 stays idle: the driver owns its queues
	defer func() {
		cancel()
		<-done
		w0.Stop()
		dp.Stop()
	}()
	d := &churnDriver{w: w1, sa: ctrl.live.Load().inbound["in-c1"], cli: newTestLAC(b, 1, false, 0).in,
		buf: make([]byte, dataplane.MaxPacket), perTun: perTun, lns: lns}
	delivered := func() uint64 { return w0.Counts()[dataplane.StatDelivered] }
	quiet := func(dur time.Duration) (pkts uint64, took time.Duration) {
		p0, t0 := delivered(), time.Now()
		time.Sleep(dur)
		return delivered() - p0, time.Since(t0)
	}
	var quietPkts, churnPkts uint64
	var quietTook, churnTook time.Duration
	base := uint16(1)
	b.ReportAllocs()
	for b.Loop() {
		p, t := quiet(300 * time.Millisecond)
		quietPkts, quietTook = quietPkts+p, quietTook+t
		p0, t0 := delivered(), time.Now()
		if err := withNice(19, func() { d.churn(lns, base, tunnels) }); err != nil {
			b.Logf("driver at normal priority: %v", err)
		}
		if d.err != nil {
			b.Fatal(d.err)
		}
		churnPkts, churnTook = churnPkts+delivered()-p0, churnTook+time.Since(t0)
		base += uint16(tunnels)
		p, t = quiet(300 * time.Millisecond)
		quietPkts, quietTook = quietPkts+p, quietTook+t
	}
	if c := w0.Counts(); delivered() == 0 || c.TotalDrops() != 0 {
		b.Fatalf("data worker: %d delivered, counts %v", delivered(), c)
	}
	st := lns.Stats()
	if sumDrops(st.ReplyDrops) != 0 {
		b.Fatalf("LNS reply drops %v", st.ReplyDrops)
	}
	b.SetBytes(int64(quietPkts+churnPkts) * int64(size) / int64(b.N)) // PPP bytes delivered per op, quiet windows and churn
	qRate := float64(quietPkts) / quietTook.Seconds()
	cRate := float64(churnPkts) / churnTook.Seconds()
	b.ReportMetric(qRate, "quiet-pkt/s")
	b.ReportMetric(cRate, "churn-pkt/s")
	b.ReportMetric(cRate/qRate, "churn/quiet")
	b.ReportMetric(float64(b.N*tunnels*perTun)/churnTook.Seconds(), "sessions-up+down/s")
	b.ReportMetric(float64(st.Publishes)/float64(b.N), "publishes/op")
}
