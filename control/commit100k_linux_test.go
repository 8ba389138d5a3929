package control

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/trace"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicenet/sluice/control/config"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/afxdp"
	"github.com/sluicenet/sluice/dataplane/mem"
	"github.com/sluicenet/sluice/ipsec"
)

// gapMeter records, on a worker's goroutine, the time between two bursts:
// within a burst the port hands out frames nanoseconds apart, so a gap of
// more than gapBoundary is a burst boundary, and its length is how long
// the worker went without starting a burst. Gaps are kept in a slice
// allocated beforehand (no allocation on the worker's goroutine), in the
// window chosen by the controlling goroutine.
type gapMeter struct {
	frame  []byte
	last   int64
	window atomic.Int32 // 0: normal period; 1: during commits; 2: quiet window; 3: stop recording
	gaps   [4][]int64   // the three windows and, in 3, the bare spin's (spinGaps)
	tid    atomic.Int64 // the worker's OS thread (it is locked to one)
}

const gapBoundary = 2000 // ns

// spinWindow is gapMeter's slot for the bare spin's gaps (and the window
// value that stops the worker's recording).
const spinWindow = 3

func newGapMeter(frame []byte) *gapMeter {
	g := &gapMeter{frame: frame}
	for i := range g.gaps {
		g.gaps[i] = make([]int64, 0, 4<<20)
	}
	return g
}

func (g *gapMeter) source(buf []byte) int {
	if g.tid.Load() == 0 {
		g.tid.Store(int64(syscall.Gettid()))
	}
	now := time.Now().UnixNano()
	if g.last != 0 && now-g.last > gapBoundary {
		if w := g.window.Load(); w < spinWindow && len(g.gaps[w]) < cap(g.gaps[w]) {
			g.gaps[w] = append(g.gaps[w], now-g.last)
		}
	}
	g.last = now
	return copy(buf, g.frame)
}

// stats returns the median and the largest gap of window w, and how many
// gaps exceeded limit.
func (g *gapMeter) stats(w int, limit int64) (median, max int64, over int) {
	gs := slices.Clone(g.gaps[w])
	if len(gs) == 0 {
		return 0, 0, 0
	}
	slices.Sort(gs)
	for _, x := range gs {
		if x > limit {
			over++
		}
	}
	return gs[len(gs)/2], gs[len(gs)-1], over
}

// spinGaps is the platform's floor for the same measurement: one thread,
// locked and (when pin is set) pinned to the worker's CPU, that does nothing
// but read the clock for d, with no Go scheduler work, no allocation and no
// commit. The gaps it records (over gapBoundary) are what the OS and the
// hypervisor take from any busy thread on that CPU: a worker can do no
// better there. Run it while the worker is stopped, so the two never share
// the CPU; its thread ends with it (it stays locked), pin and all.
func spinGaps(b *testing.B, d time.Duration, cpu int, pin func(int) error, gaps []int64) []int64 {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the pinned thread exits with the goroutine
		if pin != nil {
			if err := pin(cpu); err != nil {
				b.Error(err)
				return
			}
		}
		start := time.Now().UnixNano()
		last := start
		for last-start < int64(d) {
			now := time.Now().UnixNano()
			if gap := now - last; gap > gapBoundary && len(gaps) < cap(gaps) {
				gaps = append(gaps, gap)
			}
			last = now
		}
	}()
	<-done
	return gaps
}

// schedstat reads how long the worker's thread ran on a CPU and how long
// it waited, runnable, for one (Linux /proc/PID/task/TID/schedstat, in
// nanoseconds). What is left of a window's wall time is time the thread
// was not runnable: parked by the Go scheduler (its goroutine preempted to
// run another one) or blocked.
func (g *gapMeter) schedstat(b *testing.B) (run, wait int64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/schedstat", g.tid.Load()))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := fmt.Sscan(string(data), &run, &wait); err != nil {
		b.Fatal(err)
	}
	return run, wait
}

// reserveLastCPU sets the process up as sluiced does for workers pinned by
// dataplane.cpus (cmd/sluiced, reserveCPUs): the last CPU for the one
// worker, every other thread confined to the other CPUs, GOMAXPROCS from
// dataplane.Procs. It undoes that when b ends (the worker's pinned thread
// ends with the worker) and returns the worker's CPU and pin function.
func reserveLastCPU(b *testing.B) (int, func(int) error) {
	all, err := afxdp.CPUs()
	if err != nil {
		b.Fatal(err)
	}
	if len(all) < 2 {
		b.Skip("one CPU: none to reserve for the worker")
	}
	last, rest := all[len(all)-1], all[:len(all)-1]
	if err := afxdp.ConfineThreads(rest); err != nil {
		b.Fatal(err)
	}
	prev := runtime.GOMAXPROCS(dataplane.Procs(1, len(rest)))
	b.Cleanup(func() {
		runtime.GOMAXPROCS(prev)
		if err := afxdp.ConfineThreads(all); err != nil {
			b.Error(err)
		}
	})
	return last, afxdp.PinCPU
}

// heapAllocated returns the bytes the process allocated on the heap so far
// (runtime/metrics; unlike runtime.ReadMemStats it stops no goroutine).
func heapAllocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// processCPU returns the CPU time the whole process used so far (user and
// system, every thread).
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCommit100kSAs commits 100,000 SAs in one transaction while a
// worker runs traffic through an SA every configuration keeps, then commits
// them away again, as an operator's session commits (Session.Commit: the
// new revision keeps the candidate's tree, no copy), with commits at normal priority (nice=0) and at nice 19
// (Options.Nice). It reports the end-to-end time of each commit (validate,
// build every SA, install, publish), the same-run baseline of building the
// 100,000 runtime SAs alone (ipsec.NewInboundSA: the irreducible cipher
// setup; "x-bare"), the CPU time the control plane spent on the commit
// (the process's CPU time minus the worker thread's: GC included, other
// processes' load excluded; "commit-100k-cpu-s"), the worker's longest gap between bursts during the
// commits in units of its normal burst period ("stall-bursts") and against
// the longest gap of an equally long window without a commit
// ("x-quiet-stall") and of the platform's floor: a bare thread spinning on
// the worker's CPU for as long, worker stopped ("max-gap-spin-us",
// spinGaps), and where the worker's thread spent the commit
// window: on a CPU, runnable but waiting for one (the OS gave the CPU to
// someone else), or parked (the Go scheduler ran something else on its P).
//
// One worker on this 2-core machine leaves a core to the commit: with as
// many busy workers as cores, Go's scheduler would time-slice a worker
// (10ms) to run the committing goroutine at all.
//
// The "reserved" runs set the process up as sluiced does when
// dataplane.cpus pins the workers (cmd/sluiced, reserveCPUs): the worker
// pinned to the last CPU, every other thread confined to the others,
// GOMAXPROCS from dataplane.Procs. The others run as an unconfigured
// daemon does: the worker unpinned, GOMAXPROCS the number of CPUs. There,
// with 2 Ps, the collection a commit triggers runs fractional mark workers
// on the worker's P whenever sysmon preempts the worker (every 10-20ms),
// and the committing goroutine can be ahead of the worker in the run
// queue: most of the "parked" share. What the reserved runs still show on
// 2 CPUs: once per collection the GC stops the worker to scan its stack
// and readies it on the scanning P, behind a dedicated mark worker that
// runs until sysmon preempts it (up to 20-30ms); the one housekeeping CPU
// is shared by the mark workers and the thread that must hand the worker
// its P back; the kernel's kdamond preempts the worker on its own CPU (up
// to 14ms). The trace.Log marks ("bench100k") delimit the windows in a
// `-trace` run.
func BenchmarkCommit100kSAs(b *testing.B) {
	const nSA = 100_000
	var y strings.Builder
	y.WriteString(labYAML())
	y.WriteString("ipsec:\n  sa:\n")
	y.WriteString("    in-c1: {spi: 0x0000c001, direction: in, source: 10.99.1.2, destination: 10.99.0.1, proposal: aes128gcm16, enc-key: " + keyHex(1) + ", replay-window: 0}\n")
	tunnels := "l2tp:\n  static:\n    tunnel:\n      1: {peer-tunnel: 1, sa: in-c1, session: {1: {peer-session: 1}}}\n"
	baseText := y.String() + tunnels
	for i := 0; i < nSA; i++ {
		fmt.Fprintf(&y, "    s%d: {spi: 0x%08x, direction: in, source: %s, destination: 10.99.0.1, proposal: aes128gcm16, enc-key: %s}\n",
			i, 0x10000+i, clientAddr(i), keyHex(i))
	}
	bigText := y.String() + tunnels
	tLoad := time.Now()
	big := mustTree(b, bigText)
	loadT := time.Since(tLoad)
	base := mustTree(b, baseText)
	// Baseline: the runtime SAs alone, specs prepared beforehand.
	specs := make([]ipsec.SASpec, nSA)
	for i := range specs {
		specs[i] = ipsec.SASpec{Name: fmt.Sprintf("s%d", i), SPI: uint32(0x10000 + i), Direction: ipsec.In, Source: clientAddr(i),
			Destination: boxAddr, Proposal: ipsec.AES128GCM16, EncKey: mustKey(b, keyHex(i)), ReplayWindow: 1024}
	}
	run := func(b *testing.B, reserved bool) {
		for _, nice := range []int{0, 19} {
			b.Run(fmt.Sprintf("nice=%d", nice), func(b *testing.B) {
				b.ReportMetric(loadT.Seconds(), "parse-text-s")
				b.SetBytes(int64(len(bigText))) // configuration committed per iteration
				bench100k(b, nice, reserved, base, big, specs)
			})
		}
	}
	run(b, false)
	b.Run("reserved", func(b *testing.B) { run(b, true) })
}

func bench100k(b *testing.B, nice int, reserved bool, base, big *config.Tree, specs []ipsec.SASpec) {
	dp := dataplane.New()
	cli, err := ipsec.NewOutboundSA(ipsec.SASpec{Name: "cli1", SPI: 0xc001, Direction: ipsec.Out, Source: clientAddr(1),
		Destination: boxAddr, Proposal: ipsec.AES128GCM16, EncKey: mustKey(b, keyHex(1))})
	if err != nil {
		b.Fatal(err)
	}
	g := newGapMeter(l2tpOverESP(b, cli, 1, 64))
	port := mem.New(mem.Options{Name: "eth0", Source: g.source})
	wo := dataplane.WorkerOptions{Port: port, CPU: -1, Idle: dataplane.IdleBusy}
	if reserved {
		wo.CPU, wo.Pin = reserveLastCPU(b)
	}
	w := dp.AddWorker(wo)
	c := NewController(dp, Options{Nice: nice})
	if _, err := c.Commit(base, "bench", ""); err != nil {
		b.Fatal(err)
	}
	dp.Start()
	defer dp.Stop()
	time.Sleep(200 * time.Millisecond) // let the worker settle and record its normal period

	var addT, delT, bareT, commitWall, quietWall, addCPU time.Duration
	var commitRun, commitWait, quietRun, quietWait int64
	var addAlloc uint64
	iters := 0
	b.ReportAllocs()
	for b.Loop() {
		iters++
		runtime.GC()
		t0 := time.Now()
		for i := range specs {
			if _, err := ipsec.NewInboundSA(specs[i]); err != nil {
				b.Fatal(err)
			}
		}
		bareT += time.Since(t0)
		bigT := big.Clone() // the commit keeps it, as it keeps a session's candidate
		runtime.GC()
		g.window.Store(1)
		trace.Log(context.Background(), "bench100k", "commit-window")
		r0, w0 := g.schedstat(b)
		cpu0 := processCPU(b)
		alloc0 := heapAllocated()
		t1 := time.Now()
		if _, err := c.commitIf(-1, bigT, true, "bench", "100k SAs"); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		trace.Log(context.Background(), "bench100k", "remove-commit")
		rMid, _ := g.schedstat(b)
		cpuMid := processCPU(b)
		addAlloc += heapAllocated() - alloc0
		addCPU += cpuMid - cpu0 - time.Duration(rMid-r0)
		if got := dp.Tables().SAs.Len(); got != len(specs)+1 {
			b.Fatalf("%d SAs installed, want %d", got, len(specs)+1)
		}
		if _, err := c.commitIf(-1, base.Clone(), true, "bench", "back to one SA"); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		r1, w1 := g.schedstat(b)
		delT += t3.Sub(t2)
		addT += t2.Sub(t1)
		commitWall, commitRun, commitWait = t3.Sub(t1), r1-r0, w1-w0
		// The same-run baseline for stalls: a window as long, with no
		// commit, on the same shared machine.
		g.window.Store(2)
		trace.Log(context.Background(), "bench100k", "quiet-window")
		time.Sleep(commitWall)
		r2, w2 := g.schedstat(b)
		quietWall, quietRun, quietWait = time.Since(t3), r2-r1, w2-w1
		g.window.Store(spinWindow)
		trace.Log(context.Background(), "bench100k", "end")
	}
	// The platform's floor, on the same CPU, as long as the last commit
	// window, with the worker stopped.
	dp.Stop()
	g.gaps[spinWindow] = spinGaps(b, commitWall, wo.CPU, wo.Pin, g.gaps[spinWindow])
	median, _, _ := g.stats(0, 0)
	_, maxCommit, overCommit := g.stats(1, 4*median)
	_, maxQuiet, overQuiet := g.stats(2, 4*median)
	_, maxSpin, overSpin := g.stats(spinWindow, 4*median)
	delivered, _ := c.live.Load().sessions[dataplane.SessionKey(1, 1)].Counter.Load()
	if delivered == 0 || w.Counts()[dataplane.StatDelivered] == 0 {
		b.Fatal("the worker delivered nothing")
	}
	b.ReportMetric(addT.Seconds()/float64(iters), "commit-100k-s")
	b.ReportMetric(addCPU.Seconds()/float64(iters), "commit-100k-cpu-s")
	b.ReportMetric(float64(addAlloc)/1e6/float64(iters), "commit-100k-alloc-MB")
	b.ReportMetric(delT.Seconds()/float64(iters), "remove-100k-s")
	b.ReportMetric(bareT.Seconds()/float64(iters), "bare-sa-build-s")
	b.ReportMetric(float64(addT)/float64(bareT), "x-bare")
	b.ReportMetric(float64(median)/1e3, "burst-period-us")
	b.ReportMetric(float64(maxCommit)/1e3, "max-gap-commit-us")
	b.ReportMetric(float64(maxQuiet)/1e3, "max-gap-quiet-us")
	b.ReportMetric(float64(maxCommit)/float64(median), "stall-bursts")
	b.ReportMetric(float64(maxCommit)/float64(maxQuiet), "x-quiet-stall")
	b.ReportMetric(float64(overCommit), "gaps>4bursts-commit")
	b.ReportMetric(float64(overQuiet), "gaps>4bursts-quiet")
	b.ReportMetric(float64(maxSpin)/1e3, "max-gap-spin-us")
	b.ReportMetric(float64(maxSpin)/float64(median), "spin-stall-bursts")
	b.ReportMetric(float64(overSpin), "gaps>4bursts-spin")
	pct := func(x int64, wall time.Duration) float64 { return 100 * float64(x) / float64(wall) }
	b.ReportMetric(pct(commitRun, commitWall), "worker-oncpu-%-commit")
	b.ReportMetric(pct(commitWait, commitWall), "worker-runqueue-%-commit")
	b.ReportMetric(100-pct(commitRun+commitWait, commitWall), "worker-parked-%-commit")
	b.ReportMetric(pct(quietRun, quietWall), "worker-oncpu-%-quiet")
	b.ReportMetric(pct(quietWait, quietWall), "worker-runqueue-%-quiet")
	b.ReportMetric(100-pct(quietRun+quietWait, quietWall), "worker-parked-%-quiet")
}
