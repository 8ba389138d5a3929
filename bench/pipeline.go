package bench

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicenet/sluice/bench/gen"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/mem"
)

// PipelineOptions configure one pipeline scenario.
type PipelineOptions struct {
	Scenario gen.Scenario
	// Workers is the number of workers (default: one per CPU). Worker i
	// has its own mem port and generator stream (shard i: its own SAs when
	// there are enough, as RSS would keep them on one queue).
	Workers int
	// Rounds is the number of interleaved dataplane and baseline rounds
	// (default 5). Each round runs Warmup, then is measured for Round
	// (defaults 50ms and 300ms).
	Rounds int
	Round  time.Duration
	Warmup time.Duration
	// Pin pins worker i, and baseline goroutine i, to CPU i mod NumCPU.
	Pin bool
	// Progress, when set, is called after every half round.
	Progress func()
}

func (o *PipelineOptions) defaults() {
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	if o.Rounds <= 0 {
		o.Rounds = 5
	}
	if o.Round <= 0 {
		o.Round = 300 * time.Millisecond
	}
	if o.Warmup <= 0 {
		o.Warmup = 50 * time.Millisecond
	}
}

// window is what one measured window saw.
type window struct {
	frames, payload, mallocs uint64
	elapsed                  time.Duration
}

func (w window) pps() float64 { return float64(w.frames) / w.elapsed.Seconds() }

// Pipeline measures sluice's per-packet path in process: Workers real
// dataplane workers, each on a mem port whose Source writes generated
// frames on the worker's own goroutine (no handoff; the copy stands in for
// a NIC's DMA and is measured), against the baseline of bareWorker on the
// same frames and the same cores. Dataplane and baseline rounds alternate,
// so a neighbour stealing the CPU slows both. The row reports the best
// round of each, the median dataplane round, heap allocations per packet
// over the measured windows, and whether the dataplane counted, over every
// round, exactly what the generator sent.
func Pipeline(o PipelineOptions) (Row, error) {
	o.defaults()
	g, err := gen.New(o.Scenario)
	if err != nil {
		return Row{}, err
	}
	comp, err := Compile(g)
	if err != nil {
		return Row{}, err
	}
	keys, err := newBareKeys(g)
	if err != nil {
		return Row{}, err
	}
	streams := make([]*gen.Stream, o.Workers)
	bstreams := make([]*gen.Stream, o.Workers)
	bws := make([]*bareWorker, o.Workers)
	for i := range streams {
		if streams[i], err = g.NewStream(i, o.Workers); err != nil {
			if errors.Is(err, gen.ErrShardTooSmall) {
				err = fmt.Errorf("%w: with a replay window, use at least as many SAs (%d) as workers (%d)", err, g.TrafficSAs(), o.Workers)
			}
			return Row{}, err
		}
		if bstreams[i], err = g.NewStream(i, o.Workers); err != nil {
			return Row{}, err
		}
		if bws[i], err = keys.worker(bstreams[i].SAs()); err != nil {
			return Row{}, err
		}
	}
	var dpWins, baseWins []window
	var got dataplane.Counts
	for r := 0; r < o.Rounds; r++ {
		w, c := pipelineRound(comp, g, streams, o)
		dpWins = append(dpWins, w)
		got.Add(&c)
		if o.Progress != nil {
			o.Progress()
		}
		baseWins = append(baseWins, baselineRound(bstreams, bws, o))
		if o.Progress != nil {
			o.Progress()
		}
	}
	var sent gen.Counts
	for _, st := range streams {
		c := st.Counts()
		sent.Add(&c)
	}
	row := newRow(g, o.Workers, o.Rounds)
	fillRow(&row, dpWins, baseWins)
	account(&row, sent, &got)
	return row, nil
}

// pipelineRound runs one dataplane round: fresh mem ports and workers on
// the same tables and streams.
func pipelineRound(comp *Compiled, g *gen.Generator, streams []*gen.Stream, o PipelineOptions) (window, dataplane.Counts) {
	var stop atomic.Bool
	workers := make([]*dataplane.Worker, len(streams))
	for i, st := range streams {
		punts := dataplane.NewPuntQueue(dataplane.DefaultPuntDepth)
		port := mem.New(mem.Options{Name: g.Scenario().Interface, Queue: i, Frames: 256, Source: source(st, punts, &stop)})
		workers[i] = dataplane.NewWorker(dataplane.WorkerOptions{
			ID: i, Port: port, Tables: &comp.Tables, Punts: punts, Idle: dataplane.IdleBusy, CPU: -1,
		})
	}
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Add(1)
		go runLocked(&wg, o.Pin, i, w.Run)
	}
	sample := func() (frames, payload uint64) {
		for _, w := range workers {
			c := w.Counts()
			frames += c[dataplane.StatRxPackets]
			payload += c[dataplane.StatDeliveredBytes]
		}
		return
	}
	win := measure(o, sample)
	stop.Store(true)
	for _, w := range workers {
		w.Stop()
	}
	wg.Wait()
	var c dataplane.Counts
	for _, w := range workers {
		wc := w.Counts()
		c.Add(&wc)
	}
	return win, c
}

// source returns the mem port's Source for one worker: the next generated
// frame, until stop. It also drains the worker's punt queue (the L2TP
// HELLOs the worker punted on an earlier burst), on the worker's own
// goroutine, so that no control-plane goroutine competes for the CPU and
// the queue never fills (it holds more than a burst).
func source(st *gen.Stream, punts *dataplane.PuntQueue, stop *atomic.Bool) func([]byte) int {
	return func(buf []byte) int {
		if stop.Load() {
			return 0
		}
		for punts.Peek() != nil {
			punts.Advance()
		}
		n, _ := st.Next(buf)
		return n
	}
}

// runLocked runs fn on a goroutine locked to its OS thread, pinned to CPU
// i mod NumCPU when pin is set. The goroutine exits locked, so the runtime
// destroys the (possibly pinned) thread instead of reusing it.
func runLocked(wg *sync.WaitGroup, pin bool, i int, fn func()) {
	defer wg.Done()
	runtime.LockOSThread()
	if pin {
		_ = pinCPU(i % runtime.NumCPU()) // best effort: a refused pin still measures
	}
	fn()
}

// measure waits out the warm-up and measures one window of o.Round with
// sample, counting heap allocations made meanwhile by anyone in the
// process: the workers or the baseline, and the runtime itself, which
// now and then allocates an M when it preempts a goroutine locked to its
// thread (a few per window, whatever the packet count).
func measure(o PipelineOptions, sample func() (frames, payload uint64)) window {
	time.Sleep(o.Warmup)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f0, p0 := sample()
	m0, t0 := ms.Mallocs, time.Now()
	time.Sleep(o.Round)
	f1, p1 := sample()
	t1 := time.Now()
	runtime.ReadMemStats(&ms)
	return window{frames: f1 - f0, payload: p1 - p0, mallocs: ms.Mallocs - m0, elapsed: t1.Sub(t0)}
}

// baselineRound runs the baseline on every stream's shard at once.
func baselineRound(streams []*gen.Stream, bws []*bareWorker, o PipelineOptions) window {
	var stop atomic.Bool
	type padded struct {
		n atomic.Uint64
		_ [56]byte
	}
	counts := make([]padded, len(streams))
	var wg sync.WaitGroup
	for i := range streams {
		wg.Add(1)
		st, bw, cnt := streams[i], bws[i], &counts[i].n
		go runLocked(&wg, o.Pin, i, func() {
			buf := make([]byte, 2048)
			for !stop.Load() {
				for range dataplane.BatchSize {
					n, _ := st.Next(buf)
					bw.frame(buf[:n], st.Last())
				}
				cnt.Add(dataplane.BatchSize)
			}
		})
	}
	win := measure(o, func() (uint64, uint64) {
		var n uint64
		for i := range counts {
			n += counts[i].n.Load()
		}
		return n, 0
	})
	stop.Store(true)
	wg.Wait()
	return win
}

// newRow describes g's scenario.
func newRow(g *gen.Generator, workers, rounds int) Row {
	sc := g.Scenario()
	fam := "ipv4"
	if sc.IPv6 {
		fam = "ipv6"
	}
	if sc.NATT {
		fam += "+natt"
	}
	return Row{
		Proposal: sc.Proposal.String(), Size: sc.Sizes.Name, MeanPayload: sc.Sizes.Mean(), Family: fam,
		SAs: sc.SAs, Sessions: sc.Sessions, Workers: workers, Mix: sc.Mix.String(), ReplayWindow: sc.ReplayWindow,
		Rounds: rounds,
	}
}

// fillRow turns the windows into rates.
func fillRow(row *Row, dp, base []window) {
	var pps []float64
	var frames, mallocs uint64
	best := -1
	for i, w := range dp {
		pps = append(pps, w.pps())
		frames += w.frames
		mallocs += w.mallocs
		if best < 0 || w.pps() > dp[best].pps() {
			best = i
		}
	}
	for _, w := range base {
		row.BasePPS = max(row.BasePPS, w.pps())
	}
	if best >= 0 {
		b := dp[best]
		row.PPS = b.pps()
		row.Gbps = float64(b.payload) * 8 / b.elapsed.Seconds() / 1e9
	}
	row.PPSMedian = median(pps)
	if row.PPS > 0 {
		row.NsPerPacket = float64(row.Workers) * 1e9 / row.PPS
	}
	if row.BasePPS > 0 {
		row.RatioBest = row.PPS / row.BasePPS
	}
	// Round i of the dataplane and round i of the baseline ran back to
	// back: their ratio saw the same neighbours. The median over the pairs
	// is the reported ratio; it survives rounds a neighbour spoiled on
	// either side, which the ratio of the two best rounds does not.
	var pairs []float64
	for i := range min(len(dp), len(base)) {
		if b := base[i].pps(); b > 0 {
			pairs = append(pairs, dp[i].pps()/b)
		}
	}
	row.Ratio = median(pairs)
	if frames > 0 {
		row.AllocsPerPkt = float64(mallocs) / float64(frames)
	}
}

// account fills the row's accounting and checks it.
func account(row *Row, sent gen.Counts, got *dataplane.Counts) {
	row.Sent = map[string]uint64{}
	for k := gen.Kind(0); k < gen.NumKinds; k++ {
		if sent.Frames[k] > 0 {
			row.Sent[k.String()] = sent.Frames[k]
		}
	}
	row.Delivered = got[dataplane.StatDelivered]
	row.Punted = got[dataplane.StatPuntedL2TPControl]
	row.Drops = map[string]uint64{}
	for r := dataplane.DropReason(0); r < dataplane.NumDropReasons; r++ {
		row.Drops[r.String()] = got.Drop(r)
	}
	if err := gen.Expect(sent).Check(got); err != nil {
		row.Mismatch = err.Error()
		return
	}
	row.Exact = true
}
