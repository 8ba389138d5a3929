package control

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/mem"
	"github.com/sluicenet/sluice/l2tp"
)

// runRig is a controller, one running mem-port worker and a running LNS,
// as the daemon runs them.
type runRig struct {
	ctrl   *Controller
	dp     *dataplane.Dataplane
	port   *mem.Port
	lns    *LNS
	cancel context.CancelFunc
	done   chan error
}

func startRunRig(t *testing.T, lab lnsLab, opts LNSOptions, idleWait time.Duration) *runRig {
	t.Helper()
	r := &runRig{dp: dataplane.New(), done: make(chan error, 1)}
	r.port = mem.New(mem.Options{Name: "eth0", Frames: 1024})
	r.dp.AddWorker(dataplane.WorkerOptions{Port: r.port, CPU: -1, IdleWait: idleWait})
	r.ctrl = NewController(r.dp, Options{})
	if _, err := r.ctrl.Commit(mustTree(t, lab.yaml()), "test", ""); err != nil {
		t.Fatal(err)
	}
	r.dp.Start()
	r.lns = NewLNS(r.ctrl, opts)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.lns.Run(ctx) }()
	t.Cleanup(func() {
		r.stop(t)
		r.dp.Stop()
	})
	return r
}

// stop cancels Run and waits for it to return (once).
func (r *runRig) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// await drains the port until a frame for c arrives, or timeout.
func (r *runRig) await(t *testing.T, c *testLAC, timeout time.Duration) (reply, bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var got []reply
		r.port.Drain(func(p []byte) {
			if rp, ok := c.decode(append([]byte(nil), p...)); ok && rp.msg.TunnelID == c.tid {
				got = append(got, rp)
			}
		})
		if len(got) > 0 {
			return got[0], true
		}
		time.Sleep(50 * time.Microsecond)
	}
	return reply{}, false
}

// TestLNSRunLatency measures punt-to-reply latency: SCCRQ injected into
// the port to SCCRP out of it, for SCCRQs that arrive while the LNS is
// busy (back to back) and after idle spells, with the worker's default
// idle wait (10 ms, the bound on how late an injected frame leaves an idle
// worker) and with 1 ms, which leaves the LNS's own share. Then Run's
// shutdown: StopCCN (Result Code 6) to every tunnel, and Run returns.
func TestLNSRunLatency(t *testing.T) {
	for _, idleWait := range []time.Duration{0, time.Millisecond} {
		name := "worker-idle-wait-default"
		if idleWait > 0 {
			name = "worker-idle-wait-" + idleWait.String()
		}
		t.Run(name, func(t *testing.T) { testLNSRunLatency(t, idleWait) })
	}
}

func testLNSRunLatency(t *testing.T, idleWait time.Duration) {
	r := startRunRig(t, lnsLab{clients: []int{1}, lns: ", sccrq-rate: 10000, max-tunnels-per-peer: 1000"},
		LNSOptions{ShutdownGrace: 500 * time.Millisecond}, idleWait)
	base := newTestLAC(t, 1, false, 0)
	next := uint16(1000)
	var lacs []*testLAC
	measure := func(n int, gap time.Duration) []time.Duration {
		var lat []time.Duration
		for i := range n {
			c := *base
			next++
			c.tid, c.ns, c.nr = next, 0, 0
			f := c.send(sccrqMsg(c.tid, "lat"))
			time.Sleep(gap)
			start := time.Now()
			for !r.port.Inject(f) {
				time.Sleep(10 * time.Microsecond)
			}
			rp, ok := r.await(t, &c, 2*time.Second)
			if !ok || rp.msg.Type != l2tp.MsgSCCRP {
				t.Fatalf("SCCRQ %d not answered", i)
			}
			lat = append(lat, time.Since(start))
			c.serverTID, c.nr = rp.msg.AssignedTunnelID, 1
			lacs = append(lacs, &c)
		}
		slices.Sort(lat)
		return lat
	}
	busy := measure(30, 0)
	idle := measure(8, 300*time.Millisecond)
	pct := func(l []time.Duration, p int) time.Duration { return l[(len(l)-1)*p/100] }
	t.Logf("punt-to-reply latency, busy: p50 %v p99 %v max %v; after 300 ms idle: p50 %v p99 %v max %v",
		pct(busy, 50), pct(busy, 99), busy[len(busy)-1], pct(idle, 50), pct(idle, 99), idle[len(idle)-1])
	// Bounds from the design: the LNS's longest sleep (10 ms) plus the
	// worker's (10 ms) plus scheduling noise on a shared 2-core box.
	if m := idle[len(idle)-1]; m > 200*time.Millisecond {
		t.Errorf("idle latency up to %v", m)
	}

	// Shutdown: every tunnel, established by its SCCCN, gets StopCCN 6.
	for _, c := range lacs {
		for !r.port.Inject(c.send(&l2tp.Message{Type: l2tp.MsgSCCCN})) {
			time.Sleep(10 * time.Microsecond)
		}
	}
	waitFor(t, "tunnels established", func() bool {
		n := 0
		for _, tt := range r.ctrl.L2TPTunnels() {
			if tt.State == "established" {
				n++
			}
		}
		return n == len(lacs)
	})
	r.port.Drain(func([]byte) {})
	r.stop(t)
	stops := map[uint16]bool{}
	deadline := time.Now().Add(2 * time.Second)
	probe := &testLAC{tb: t, addr: base.addr, mac: base.mac, in: base.in, port: 1701}
	for len(stops) < len(lacs) && time.Now().Before(deadline) {
		r.port.Drain(func(p []byte) {
			rp, ok := probe.decode(append([]byte(nil), p...))
			if ok && rp.msg.Type == l2tp.MsgStopCCN && rp.msg.Result.Result == l2tp.StopShuttingDown {
				stops[rp.msg.TunnelID] = true
			}
		})
		time.Sleep(time.Millisecond)
	}
	if len(stops) != len(lacs) {
		t.Errorf("%d tunnels got StopCCN (result 6) at shutdown, want %d", len(stops), len(lacs))
	}
	if n := len(r.dp.Tables().Sessions); n != 0 {
		t.Errorf("%d sessions published after shutdown", n)
	}
}
