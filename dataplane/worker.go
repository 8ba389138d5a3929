package dataplane

import (
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/cpu"
)

// Idle strategies (config dataplane.idle).
const (
	IdleBusy = "busy" // spin on the rings: lowest latency, burns its core
	IdlePoll = "poll" // after IdleSpins empty polls, sleep in Port.Wait
)

// WorkerOptions configure a Worker. The zero value of every field but Port
// and Tables is usable.
type WorkerOptions struct {
	ID     int                     // worker index, used in counters and punts
	Port   Port                    // the queue this worker drives, alone
	Tables *atomic.Pointer[Tables] // the published snapshot
	Sink   Sink                    // receives delivered L2TP data; nil: count only
	// Punts is the queue to the control plane; nil counts every punt as
	// punt-queue-full. Inject is the queue of frames from the control plane;
	// nil disables injection.
	Punts  *PuntQueue
	Inject *InjectQueue
	// Idle is IdleBusy or IdlePoll (default). IdleSpins is how many empty
	// polls make an idle spell (default 256); IdleWait bounds one sleep
	// (default 10ms, which also bounds how late an injected frame leaves
	// an idle worker).
	Idle      string
	IdleSpins int
	IdleWait  time.Duration
	// BurstSize caps a burst (default and maximum BatchSize). Offline
	// replay uses 1 so that every frame is processed at its own capture
	// time.
	BurstSize int
	// CPU pins the worker's OS thread to that CPU when >= 0; -1 leaves it.
	CPU int
	// Pin is called on the worker's locked OS thread with CPU when CPU >= 0
	// (dataplane/afxdp provides one; kept as a hook so this package needs
	// no syscalls).
	Pin func(cpu int) error
	// Clock returns monotonic nanoseconds; read once per burst. Default:
	// Now, the process-wide clock every worker and the control plane share
	// (an SA's time lifetimes are measured in it, whichever worker sees its
	// packets). Offline replay passes the capture's timestamps so lifetimes
	// are deterministic.
	Clock  func() int64
	Logger *slog.Logger // setup and teardown only, never per packet
}

// processStart anchors Now.
var processStart = time.Now()

// Now returns monotonic nanoseconds since the process started: the clock
// workers pass to ipsec (SA birth and time lifetimes) and the control plane
// uses for ipsec.CheckLifetime. Allocation-free.
func Now() int64 { return int64(time.Since(processStart)) }

// Worker is one poll-mode worker: it drives one Port, alone, in bursts of up
// to BatchSize frames. All its scratch space and counters are its own.
type Worker struct {
	id      int
	port    Port
	ifname  string
	steered bool
	tables  *atomic.Pointer[Tables]
	sink    Sink
	punts   *PuntQueue
	inject  *InjectQueue
	opts    WorkerOptions
	clock   func() int64
	log     *slog.Logger

	rx  [BatchSize]Frame
	rel [BatchSize]Frame
	tx  [BatchSize]Frame

	counts   Counts // private, plain stores
	last     Counts // what was published last
	ruleAcc  accum
	defAcc   accum
	sessAcc  accum
	delivery Delivery
	outer    flow

	cachedGen uint64
	cachedIt  *IfaceTables

	stop atomic.Bool
	pub  publishedCounts
	_    cpu.CacheLinePad
}

// NewWorker returns a worker for opts.Port. It does not start it.
func NewWorker(opts WorkerOptions) *Worker {
	if opts.Idle == "" {
		opts.Idle = IdlePoll
	}
	if opts.IdleSpins <= 0 {
		opts.IdleSpins = 256
	}
	if opts.IdleWait <= 0 {
		opts.IdleWait = 10 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BurstSize <= 0 || opts.BurstSize > BatchSize {
		opts.BurstSize = BatchSize
	}
	w := &Worker{
		id: opts.ID, port: opts.Port, ifname: opts.Port.Name(), steered: opts.Port.Steered(),
		tables: opts.Tables, sink: opts.Sink, punts: opts.Punts, inject: opts.Inject,
		opts: opts, clock: opts.Clock, log: opts.Logger,
	}
	if w.clock == nil {
		w.clock = Now
	}
	return w
}

// ID returns the worker's index.
func (w *Worker) ID() int { return w.id }

// Port returns the port the worker drives.
func (w *Worker) Port() Port { return w.port }

// Counts returns the worker's counters as last published. Any goroutine.
func (w *Worker) Counts() Counts { return w.pub.load() }

// Wake cuts short the worker's idle sleep, if its port can (Waker), so
// that it drains its inject queue now. Call it after queueing frames on
// Inject. Any goroutine; never blocks.
func (w *Worker) Wake() {
	if wk, ok := w.port.(Waker); ok {
		wk.Wake()
	}
}

// Stop asks Run to return after its current burst. Any goroutine.
func (w *Worker) Stop() { w.stop.Store(true) }

// Run is the poll loop. It locks its goroutine to an OS thread, pins it when
// configured, and processes bursts until Stop. Call it on its own goroutine,
// one that ends when Run returns: a pinned thread stays locked to it, so the
// runtime ends the thread with the goroutine.
func (w *Worker) Run() {
	runtime.LockOSThread()
	pinned := false
	if w.opts.CPU >= 0 && w.opts.Pin != nil {
		if err := w.opts.Pin(w.opts.CPU); err != nil {
			w.log.Warn("worker not pinned", "worker", w.id, "cpu", w.opts.CPU, "err", err)
		} else {
			pinned = true
			w.log.Debug("worker pinned", "worker", w.id, "cpu", w.opts.CPU)
		}
	}
	if !pinned {
		defer runtime.UnlockOSThread()
	}
	// A pinned thread is never handed back: the runtime would run other
	// goroutines on it, on the worker's CPU, next to whatever worker runs
	// there next (a commit on it at nice 19 ran 70x slower, starved by the
	// busy worker beside it).
	idle := 0
	poll := w.opts.Idle != IdleBusy
	for !w.stop.Load() {
		if w.Burst() > 0 {
			idle = 0
			continue
		}
		idle++
		if poll && idle >= w.opts.IdleSpins {
			w.port.Wait(w.opts.IdleWait)
		}
	}
	w.flush()
}

// Burst processes at most one RX burst and drains the inject queue. It
// returns how many frames it received. Run calls it in a loop; offline
// replay and tests call it directly, on one goroutine.
func (w *Worker) Burst() int {
	t := w.tables.Load()
	n := w.port.Recv(w.rx[:w.opts.BurstSize])
	if n > 0 && t != nil {
		it := w.iface(t)
		now := w.clock()
		nrel, ntx := 0, 0
		for i := 0; i < n; i++ {
			f := &w.rx[i]
			if w.process(f, t, it, now) == vTransmit {
				w.tx[ntx] = *f
				ntx++
			} else {
				w.rel[nrel] = *f
				nrel++
			}
		}
		w.port.Release(w.rel[:nrel])
		if ntx > 0 {
			w.transmit(w.tx[:ntx])
		}
		w.counts[StatBursts]++
		w.ruleAcc.flush()
		w.defAcc.flush()
		w.sessAcc.flush()
	} else if n > 0 {
		// No snapshot published yet: nothing is configured, nothing is ours.
		w.counts[StatRxPackets] += uint64(n)
		for i := 0; i < n; i++ {
			w.counts[StatRxBytes] += uint64(w.rx[i].Len)
		}
		w.counts[StatDrops+Stat(DropFirewall)] += uint64(n)
		w.port.Release(w.rx[:n])
	}
	w.drainInject()
	w.pub.publish(&w.counts, &w.last)
	return n
}

// iface returns the interface tables for w's port in t, cached per snapshot.
func (w *Worker) iface(t *Tables) *IfaceTables {
	if w.cachedIt != nil && w.cachedGen == t.Gen {
		return w.cachedIt
	}
	it := t.Ifaces[w.ifname]
	if it == nil {
		it = t.Default
	}
	w.cachedGen, w.cachedIt = t.Gen, it
	return it
}

// transmit sends fs, counting what the TX ring refused.
func (w *Worker) transmit(fs []Frame) {
	for _, f := range fs {
		w.counts[StatTxPackets]++
		w.counts[StatTxBytes] += uint64(f.Len)
	}
	sent := w.port.Send(fs)
	if rest := fs[sent:]; len(rest) > 0 {
		for _, f := range rest {
			w.counts[StatTxPackets]--
			w.counts[StatTxBytes] -= uint64(f.Len)
		}
		w.counts[StatDrops+Stat(DropTxRingFull)] += uint64(len(rest))
		w.port.Release(rest)
	}
}

// drainInject moves frames queued by the control plane onto the TX ring.
func (w *Worker) drainInject() {
	if w.inject == nil {
		return
	}
	for {
		k := w.inject.Len()
		if k == 0 {
			return
		}
		if k > BatchSize {
			k = BatchSize
		}
		got := w.port.Alloc(w.tx[:k])
		if got == 0 {
			// No free frame: count what we could not send, drop it, and
			// let RX recycle frames.
			w.inject.Advance()
			w.counts[StatDrops+Stat(DropTxRingFull)]++
			return
		}
		for i := 0; i < got; i++ {
			in := w.inject.Peek()
			f := &w.tx[i]
			f.Len = copy(f.Buf[f.Off:], in.Buf[:in.Len])
			w.inject.Advance()
		}
		w.counts[StatInjected] += uint64(got)
		w.transmit(w.tx[:got])
	}
}

// flush publishes pending shared counters and the worker's counts.
func (w *Worker) flush() {
	w.ruleAcc.flush()
	w.defAcc.flush()
	w.sessAcc.flush()
	w.pub.publish(&w.counts, &w.last)
}
