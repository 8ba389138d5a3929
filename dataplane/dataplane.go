// Package dataplane is sluice's packet path: ports (AF_XDP, pcap, in-memory)
// feed poll-mode workers, one per RX queue; each worker parses the outer
// headers, decrypts ESP in place, runs the compiled rule table, classifies
// UDP/1701 into L2TP sessions, delivers data messages to the session sink
// and punts control messages to the control plane.
//
// A frame's life, in files:
//
//	port (mem/, pcap/, afxdp/) ─► worker.go (bursts) ─► steer.go (what is ours)
//	  ─► parse.go (Ethernet, IPv4/IPv6, UDP) ─► pipeline.go (ESP via ipsec,
//	  rules.go, L2TP via l2tp, delivery and punt.go) ─► counters.go
//
// The control plane never calls into a worker: it builds an immutable Tables
// snapshot and publishes it (Dataplane.Publish); workers load the pointer
// once per burst. Nothing here imports control/.
package dataplane

import (
	"sync"
	"sync/atomic"
)

// Default queue depths.
const (
	DefaultPuntDepth   = 1024
	DefaultInjectDepth = 256
)

// Dataplane owns the workers and the published Tables.
type Dataplane struct {
	tables  atomic.Pointer[Tables]
	gen     atomic.Uint64
	mu      sync.Mutex // guards workers and the goroutine bookkeeping; never taken by workers
	workers []*Worker
	kernel  map[string]func() uint64 // per interface: frames the XDP program passed to the kernel
	wg      sync.WaitGroup
}

// New returns a dataplane with no workers and no tables.
func New() *Dataplane { return &Dataplane{} }

// Publish makes t the snapshot every worker uses from its next burst on. t
// must not be modified afterwards. It sets t.Gen. Control plane only.
func (d *Dataplane) Publish(t *Tables) {
	t.Gen = d.gen.Add(1)
	d.tables.Store(t)
}

// Tables returns the published snapshot (nil before the first Publish).
func (d *Dataplane) Tables() *Tables { return d.tables.Load() }

// AddWorker creates a worker bound to d's tables, with its own punt and
// inject queues unless opts provides them. It does not start it.
func (d *Dataplane) AddWorker(opts WorkerOptions) *Worker {
	opts.Tables = &d.tables
	if opts.Punts == nil {
		opts.Punts = NewPuntQueue(DefaultPuntDepth)
	}
	if opts.Inject == nil {
		opts.Inject = NewInjectQueue(DefaultInjectDepth)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	opts.ID = len(d.workers)
	w := NewWorker(opts)
	d.workers = append(d.workers, w)
	return w
}

// Workers returns the workers, in ID order.
func (d *Dataplane) Workers() []*Worker {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*Worker(nil), d.workers...)
}

// Start runs every worker on its own goroutine.
func (d *Dataplane) Start() {
	for _, w := range d.Workers() {
		d.wg.Add(1)
		go d.run(w)
	}
}

func (d *Dataplane) run(w *Worker) {
	defer d.wg.Done()
	w.Run()
}

// Stop asks every worker to stop and waits until all have returned.
func (d *Dataplane) Stop() {
	for _, w := range d.Workers() {
		w.Stop()
	}
	d.wg.Wait()
}

// Counts returns the sum of every worker's published counters.
func (d *Dataplane) Counts() Counts {
	var c Counts
	for _, w := range d.Workers() {
		wc := w.Counts()
		c.Add(&wc)
	}
	return c
}

// SetKernelPassed registers how to read, for interface ifname, how many
// frames its XDP steering program handed to the kernel (XDP_PASS). Ports
// that are steered in software count those frames themselves
// (StatPassedToKernel); steered ports never see them, so the daemon asks
// the program.
func (d *Dataplane) SetKernelPassed(ifname string, fn func() uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.kernel == nil {
		d.kernel = map[string]func() uint64{}
	}
	d.kernel[ifname] = fn
}

// KernelPassed returns, per interface, what SetKernelPassed sources report.
func (d *Dataplane) KernelPassed() map[string]uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]uint64, len(d.kernel))
	for n, fn := range d.kernel {
		out[n] = fn()
	}
	return out
}

// Punts returns worker w's punt queue (the control plane drains it).
func (w *Worker) Punts() *PuntQueue { return w.punts }

// Inject returns worker w's inject queue (the control plane fills it).
func (w *Worker) Inject() *InjectQueue { return w.inject }
