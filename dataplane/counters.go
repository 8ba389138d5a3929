package dataplane

import (
	"sync/atomic"

	"golang.org/x/sys/cpu"
)

// Stat indexes a worker's Counts.
type Stat uint8

// Worker statistics. Drop reasons follow at StatDrops+reason.
const (
	StatRxPackets         Stat = iota
	StatRxBytes                // frame bytes received
	StatTxPackets              // frames transmitted
	StatTxBytes                // frame bytes transmitted
	StatNATKeepalives          // single 0xFF byte on UDP/4500, absorbed (RFC 3948)
	StatPuntedL2TPControl      // L2TP control messages handed to the control plane
	StatPuntedIKE              // UDP/4500 with the non-ESP marker handed to the control plane
	StatPassedToKernel         // what the steering program hands to the kernel
	StatDelivered              // L2TP data messages delivered to a session sink
	StatDeliveredBytes         // their L2TP payload (PPP frame) bytes
	StatAcceptedLocal          // accepted by the rules, but not L2TP: no local consumer in the dataplane
	StatBursts                 // RX bursts that returned at least one frame
	StatInjected               // control-plane packets this worker transmitted
	StatDrops                  // first drop reason; StatDrops+Stat(r) is reason r
	numStats              = StatDrops + Stat(NumDropReasons)
)

// Counts are a worker's counters, indexed by Stat. A worker accumulates them
// in a private copy while it processes a burst and publishes the copy once
// per burst; readers sum the published copies of every worker.
type Counts [numStats]uint64

// Drop returns the count for drop reason r.
func (c *Counts) Drop(r DropReason) uint64 { return c[StatDrops+Stat(r)] }

// Add adds o to c field by field.
func (c *Counts) Add(o *Counts) {
	for i := range c {
		c[i] += o[i]
	}
}

// Sub subtracts o from c field by field (used by clear-counters baselines).
func (c *Counts) Sub(o *Counts) {
	for i := range c {
		c[i] -= o[i]
	}
}

// TotalDrops returns the sum of every drop reason.
func (c *Counts) TotalDrops() uint64 {
	var n uint64
	for r := DropReason(0); r < NumDropReasons; r++ {
		n += c.Drop(r)
	}
	return n
}

// publishedCounts is the copy of a worker's Counts other goroutines read. It
// sits alone on its cache lines so readers never share a line with the
// worker's private state.
type publishedCounts struct {
	_ cpu.CacheLinePad
	w [numStats]atomic.Uint64
	_ cpu.CacheLinePad
}

// publish stores the fields of c that changed since last; last is the
// worker's record of what it published before. Called by the owning worker
// once per burst; stores only the few words that moved.
func (p *publishedCounts) publish(c, last *Counts) {
	for i := range c {
		if c[i] != last[i] {
			p.w[i].Store(c[i])
			last[i] = c[i]
		}
	}
}

// load reads the published counters. Any goroutine.
func (p *publishedCounts) load() Counts {
	var c Counts
	for i := range c {
		c[i] = p.w[i].Load()
	}
	return c
}

// Counter is a packet and byte count shared by several workers (an SA's, a
// rule's, a session's). Its pointer survives Tables swaps, so counts survive
// commits. Workers add to it once per run of packets that hit the same
// object (see accum), not once per packet.
type Counter struct {
	_       cpu.CacheLinePad
	packets atomic.Uint64
	bytes   atomic.Uint64
	_       cpu.CacheLinePad
}

// Add adds packets and bytes. Any goroutine.
func (c *Counter) Add(packets, bytes uint64) {
	c.packets.Add(packets)
	c.bytes.Add(bytes)
}

// Load returns the counts. Any goroutine.
func (c *Counter) Load() (packets, bytes uint64) {
	return c.packets.Load(), c.bytes.Load()
}

// accum batches additions to one shared Counter: consecutive packets of a
// burst usually hit the same rule and session, so a worker adds locally and
// touches the shared atomics only when the target changes or the burst ends.
type accum struct {
	c       *Counter
	packets uint64
	bytes   uint64
}

// add counts one packet of n bytes against c.
func (a *accum) add(c *Counter, n int) {
	if a.c != c {
		a.flush()
		a.c = c
	}
	a.packets++
	a.bytes += uint64(n)
}

// flush publishes what has been accumulated.
func (a *accum) flush() {
	if a.c != nil && a.packets != 0 {
		a.c.Add(a.packets, a.bytes)
	}
	a.c, a.packets, a.bytes = nil, 0, 0
}
