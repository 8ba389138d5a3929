package afxdp

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/dptest"
)

// wakeLatencies runs a real worker on an AF_XDP port with the given idle
// strategy and measures, n times, how long after a frame is sent from the
// client namespace the worker has counted it. Between samples the worker
// is left idle long enough (gap) to be asleep in Port.Wait under IdlePoll.
func wakeLatencies(t *testing.T, idle string, n int, gap time.Duration) []time.Duration {
	lab := dptest.NewVethLab(t, nil)
	o := DefaultOptions(lab.Server.If)
	p := openIn(t, lab.Server.NS, o)
	// IdleWait far above the latencies expected: a worker that only woke
	// on its timeout would show it.
	w := dataplane.NewWorker(dataplane.WorkerOptions{Port: p, Tables: new(atomic.Pointer[dataplane.Tables]), Idle: idle,
		IdleSpins: 64, IdleWait: 250 * time.Millisecond, CPU: -1})
	done := make(chan struct{})
	go func() { w.Run(); close(done) }()
	defer func() { w.Stop(); <-done }()

	sender, err := dptest.OpenPacketSocket(lab.Client.NS, lab.Client.If)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	frame := buildUDP4(t, lab.Client.MAC, lab.Server.MAC, lab.Client.Addr4.Addr().AsSlice(), lab.Server.Addr4.Addr().AsSlice(), 1701, 1701, []byte("wake"))
	var lat []time.Duration
	for i := 0; i < n; i++ {
		time.Sleep(gap)
		before := w.Counts()[dataplane.StatRxPackets]
		t0 := time.Now()
		if err := sender.Send(frame); err != nil {
			t.Fatal(err)
		}
		for w.Counts()[dataplane.StatRxPackets] == before {
			if time.Since(t0) > 2*time.Second {
				t.Fatalf("%s: frame %d not counted within 2s", idle, i)
			}
			// Sleep rather than spin: on a 2-core machine a spinning
			// test would take the CPU the veth's softirq needs.
			time.Sleep(20 * time.Microsecond)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return lat
}

// TestIdlePollWakeLatency measures issue #3's wake-up latency: a worker
// that backed off to poll(2) (idle: poll) must count a frame soon after it
// is sent, not after its 250ms sleep timeout. A spinning worker (idle:
// busy) is measured in the same run for comparison; on a machine with as
// few cores as spinners it can be the slower one, because it competes with
// the veth's softirq for a CPU.
func TestIdlePollWakeLatency(t *testing.T) {
	dptest.RequireRoot(t)
	const n = 60
	busy := wakeLatencies(t, dataplane.IdleBusy, n, 5*time.Millisecond)
	poll := wakeLatencies(t, dataplane.IdlePoll, n, 20*time.Millisecond)
	q := func(l []time.Duration, f float64) time.Duration { return l[int(f*float64(len(l)-1))] }
	t.Logf("wake latency, send → counted, %d samples each:", n)
	t.Logf("  busy: p50 %v  p90 %v  max %v", q(busy, .5), q(busy, .9), busy[len(busy)-1])
	t.Logf("  poll: p50 %v  p90 %v  max %v  (p50 ratio to busy %.2f)", q(poll, .5), q(poll, .9), poll[len(poll)-1],
		float64(q(poll, .5))/float64(q(busy, .5)))
	// Bounded: a worker woken only by its 250ms timeout would show
	// latencies of that order; poll(2) on the socket wakes it at once.
	if p90 := q(poll, .9); p90 > 25*time.Millisecond {
		t.Errorf("idle poll p90 wake latency %v: the worker does not wake on RX", p90)
	}
}
