package control

import (
	"sync"
	"time"
)

// CommitBuckets are the upper bounds, in seconds, of the commit latency
// histogram: from a one-rule change (about a millisecond) to 100,000 SAs
// in one transaction (seconds).
var CommitBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Histogram is a snapshot of a latency distribution in seconds, shaped for
// Prometheus: Cumulative[i] counts observations <= Bounds[i]; Count counts
// all of them (the +Inf bucket).
type Histogram struct {
	Bounds     []float64
	Cumulative []uint64
	Count      uint64
	Sum        float64
}

// latencyHistogram records commit durations. Commits are rare: a mutex is
// fine here (nothing on the packet path).
type latencyHistogram struct {
	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; +Inf is Count minus the rest
	count  uint64
	sum    float64
}

func (h *latencyHistogram) init() { h.counts = make([]uint64, len(CommitBuckets)) }

func (h *latencyHistogram) observe(d time.Duration) {
	s := d.Seconds()
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, b := range CommitBuckets {
		if s <= b {
			h.counts[i]++
			break
		}
	}
	h.count++
	h.sum += s
}

func (h *latencyHistogram) snapshot() Histogram {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := Histogram{Bounds: CommitBuckets, Cumulative: make([]uint64, len(h.counts)), Count: h.count, Sum: h.sum}
	var acc uint64
	for i, n := range h.counts {
		acc += n
		out.Cumulative[i] = acc
	}
	return out
}
