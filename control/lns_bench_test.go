package control

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sluicenet/sluice/control/config"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/ipsec"
	"github.com/sluicenet/sluice/l2tp"
)

// Benchmarks of the LNS (issue #7): tunnels and sessions established per
// second through the control plane, and the dataplane's packet rate while
// 10,000 sessions come and go. Each reports a ratio against a baseline
// measured in the same run, interleaved so that the noise of a shared
// machine hits both.

// benchLAC plays the LAC's side of one tunnel at a time, sequentially,
// against either a bare l2tp.Server (the baseline) or the LNS glue.
type benchLAC struct {
	tid, serverTID uint16
	ns, nr         uint16
	buf            []byte
}

// msg encodes m with the LAC's sequence numbers.
func (c *benchLAC) msg(tb testing.TB, m *l2tp.Message) []byte {
	if m.TunnelID == 0 && m.Type != l2tp.MsgSCCRQ {
		m.TunnelID = c.serverTID
	}
	m.Ns, m.Nr = c.ns, c.nr
	b, err := m.Append(c.buf[:0], nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	c.buf = b
	if !m.IsZLB() {
		c.ns++
	}
	return b
}

// lifetime runs one tunnel and one session from SCCRQ to the LAC's
// StopCCN. send delivers a message to the server side and returns what it
// answered (parsed).
func (c *benchLAC) lifetime(tb testing.TB, tid uint16, send func([]byte) []*l2tp.Message) {
	c.tid, c.ns, c.nr = tid, 0, 0
	want := func(got []*l2tp.Message, t l2tp.MessageType) *l2tp.Message {
		for _, m := range got {
			if m.TunnelID != c.tid {
				tb.Fatalf("reply to tunnel %d, want %d", m.TunnelID, c.tid)
			}
			if !m.IsZLB() && m.Ns == c.nr {
				c.nr++
			}
			if m.Type == t {
				return m
			}
		}
		tb.Fatalf("got %d messages, no %v", len(got), t)
		return nil
	}
	rp := want(send(c.msg(tb, sccrqMsg(tid, "bench"))), l2tp.MsgSCCRP)
	c.serverTID = rp.AssignedTunnelID
	send(c.msg(tb, &l2tp.Message{Type: l2tp.MsgSCCCN}))
	icrp := want(send(c.msg(tb, icrqMsg(7, 7))), l2tp.MsgICRP)
	send(c.msg(tb, iccnMsg(icrp.AssignedSessionID)))
	stop := &l2tp.Message{Type: l2tp.MsgStopCCN, AssignedTunnelID: tid, Result: l2tp.ResultCode{Result: l2tp.StopClear}}
	stop.Add(l2tp.AVPAssignedTunnelID, l2tp.AVPResultCode)
	want(send(c.msg(tb, stop)), l2tp.MsgZLB)
}

// benchServer is the baseline: l2tp.Server alone, with the LNS's settings,
// messages handed over as they are, replies kept as Send hands them.
type benchServer struct {
	srv  *l2tp.Server
	now  time.Time
	out  [][]byte
	peer l2tp.Peer
	took time.Duration
}

func newBenchServer(tb testing.TB, spec config.LNSSpec, now time.Time) *benchServer {
	s := &benchServer{now: now, peer: l2tp.Peer{Addr: netip.AddrPortFrom(clientAddr(1), 1701), Binding: "in-c1"}}
	cfg := serverConfig(spec)
	cfg.Send = func(_ l2tp.Peer, b []byte) { s.out = append(s.out, append([]byte(nil), b...)) }
	var err error
	if s.srv, err = l2tp.NewServer(cfg); err != nil {
		tb.Fatal(err)
	}
	return s
}

// send times Input (and the timers due), not the LAC's parsing.
func (s *benchServer) send(tb testing.TB) func([]byte) []*l2tp.Message {
	return func(b []byte) []*l2tp.Message {
		s.out = s.out[:0]
		start := time.Now()
		s.srv.Input(s.peer, b, s.now)
		s.srv.Tick(s.now)
		s.took += time.Since(start)
		return parseAll(tb, s.out)
	}
}

// release moves the clock past the closed tunnel's hold and lets it go.
func (s *benchServer) release() {
	s.now = s.now.Add(40 * time.Second)
	start := time.Now()
	s.srv.Tick(s.now)
	s.took += time.Since(start)
}

func parseAll(tb testing.TB, bs [][]byte) []*l2tp.Message {
	var got []*l2tp.Message
	for _, b := range bs {
		m, err := l2tp.ParseControl(b, nil)
		if err != nil {
			tb.Fatal(err)
		}
		got = append(got, m)
	}
	return got
}

// benchGlue is the subject: the same messages as a worker punts them
// (decrypted inner IPv4/UDP packets, bound to in-c1), one LNS pass each,
// replies taken from the worker's inject queue and decrypted with the
// LAC's SA. Only the LNS pass is timed: route, server, reply built and
// encrypted, injected, sessions published.
type benchGlue struct {
	r    *lnsRig
	sa   *ipsec.InboundSA // the box's in-c1, as the worker would set it
	cli  *ipsec.InboundSA // the LAC's side of out-c1
	buf  []byte
	out  [][]byte
	took time.Duration
	wire int64 // bytes punted and injected
}

func newBenchGlue(tb testing.TB, r *lnsRig) *benchGlue {
	return &benchGlue{r: r, sa: r.ctrl.live.Load().inbound["in-c1"], cli: newTestLAC(tb, 1, false, 0).in, buf: make([]byte, dataplane.MaxPacket)}
}

func (g *benchGlue) pass() {
	start := time.Now()
	g.r.lns.mu.Lock()
	g.r.lns.passLocked(g.r.clock())
	g.r.lns.mu.Unlock()
	g.took += time.Since(start)
}

func (g *benchGlue) send(tb testing.TB) func([]byte) []*l2tp.Message {
	return func(b []byte) []*l2tp.Message {
		q := g.r.w.Punts()
		p := q.Slot()
		p.Kind, p.Worker, p.Iface, p.SA = dataplane.PuntL2TPControl, 0, "eth0", g.sa
		p.OuterSrc, p.OuterDst = netip.AddrPortFrom(clientAddr(1), 0), netip.AddrPortFrom(boxAddr, 0)
		p.SrcMAC, p.DstMAC, p.Tagged, p.VLAN = [6]byte{2, 0, 0, 0, 0, 1}, boxMAC, false, 0
		p.Len = 28 + len(b)
		writeIPUDP(p.Buf[:p.Len], clientAddr(1), boxAddr, 1701, 1701, 1, b)
		g.wire += int64(p.Len)
		q.Commit()
		g.pass()
		return parseAll(tb, g.replies(tb))
	}
}

// replies decrypts what the LNS injected, as the LAC's stack would.
func (g *benchGlue) replies(tb testing.TB) [][]byte {
	g.out = g.out[:0]
	in := g.r.w.Inject()
	for f := in.Peek(); f != nil; f = in.Peek() {
		n := copy(g.buf, f.Buf[:f.Len])
		g.wire += int64(n)
		in.Advance()
		off, m, r := g.cli.Decap(g.buf, 14, 34, n, 1)
		if r != ipsec.OK {
			tb.Fatalf("LAC decrypt: %v", r)
		}
		u, ok := parseUDP(g.buf[off : off+m])
		if !ok {
			tb.Fatal("reply is not UDP")
		}
		g.out = append(g.out, append([]byte(nil), u.payload...))
	}
	return g.out
}

func (g *benchGlue) release() {
	g.r.mu.Lock()
	g.r.now = g.r.now.Add(40 * time.Second)
	g.r.mu.Unlock()
	g.pass()
}

// BenchmarkLNSEstablish/tunnel+session: one iteration is a whole tunnel
// and session lifetime (SCCRQ/SCCRP/SCCCN, ICRQ/ICRP/ICCN, the LAC's
// StopCCN, the hold released) run twice, interleaved: through the LNS
// glue (punt → route → server → reply built, ESP-encrypted with out-c1 →
// inject queue; session published and unpublished) and against the bare
// l2tp.Server (the baseline: codec and state machines only). Reported:
// establishments per second of each, and their ratio.
func BenchmarkLNSEstablish(b *testing.B) {
	b.Run("tunnel+session", func(b *testing.B) {
		r := newLNSRig(b, lnsLab{clients: []int{1}}, LNSOptions{})
		glue := newBenchGlue(b, r)
		base := newBenchServer(b, r.ctrl.live.Load().cfg.L2TP.LNS, r.clock())
		var lacG, lacB benchLAC
		tid := uint16(0)
		b.ReportAllocs()
		for b.Loop() {
			tid = tid%60000 + 1
			lacB.lifetime(b, tid, base.send(b))
			base.release()
			lacG.lifetime(b, tid, glue.send(b))
			glue.release()
		}
		st := r.lns.Stats()
		if st.SessionsUp != st.SessionsDown || st.SessionsUp == 0 || sumDrops(st.ReplyDrops) != 0 {
			b.Fatalf("LNS stats %+v", st)
		}
		n := float64(b.N)
		b.SetBytes(glue.wire / int64(b.N)) // control traffic per lifetime: punted packets and injected frames
		b.ReportMetric(n/glue.took.Seconds(), "lns-estab/s")
		b.ReportMetric(n/base.took.Seconds(), "server-estab/s")
		b.ReportMetric(base.took.Seconds()/glue.took.Seconds(), "lns/server")
	})
}
