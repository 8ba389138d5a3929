// Package ring is a bounded single-producer single-consumer queue, the one
// lock-free handoff the dataplane uses between a worker and one other
// goroutine (in-memory port rings, the punt queue, the TX inject queue).
//
// One goroutine may call the producer methods (Push, PushN, Free) and one
// other goroutine the consumer methods (Pop, PopN, Len). Indices are cached
// on each side so a burst touches each shared atomic once.
package ring

// Hot path: no allocation, no locks, no logging.

import (
	"sync/atomic"

	"golang.org/x/sys/cpu"
)

// Ring is a bounded SPSC queue of T. The zero value is unusable; use New.
type Ring[T any] struct {
	buf  []T
	mask uint64

	_    cpu.CacheLinePad
	head atomic.Uint64 // next slot the consumer reads; written by the consumer
	// tailCache is the producer's view of head, refreshed only when full.
	tailCache uint64
	_         cpu.CacheLinePad
	tail      atomic.Uint64 // next slot the producer writes; written by the producer
	headCache uint64        // the consumer's view of tail, refreshed only when empty
	_         cpu.CacheLinePad
}

// New returns a ring holding up to size items; size is rounded up to a power
// of two (minimum 2).
func New[T any](size int) *Ring[T] {
	n := 2
	for n < size {
		n <<= 1
	}
	return &Ring[T]{buf: make([]T, n), mask: uint64(n - 1)}
}

// Cap returns the ring's capacity.
func (r *Ring[T]) Cap() int { return len(r.buf) }

// Free returns how many items the producer can push now. Producer only.
func (r *Ring[T]) Free() int {
	t := r.tail.Load()
	if used := t - r.tailCache; used < uint64(len(r.buf)) {
		return len(r.buf) - int(used)
	}
	r.tailCache = r.head.Load()
	return len(r.buf) - int(t-r.tailCache)
}

// Push appends v; it returns false when the ring is full. Producer only.
func (r *Ring[T]) Push(v T) bool {
	t := r.tail.Load()
	if t-r.tailCache >= uint64(len(r.buf)) {
		r.tailCache = r.head.Load()
		if t-r.tailCache >= uint64(len(r.buf)) {
			return false
		}
	}
	r.buf[t&r.mask] = v
	r.tail.Store(t + 1)
	return true
}

// PushN appends as many of vs as fit, in order, and returns how many.
// Producer only.
func (r *Ring[T]) PushN(vs []T) int {
	n := r.Free()
	if n > len(vs) {
		n = len(vs)
	}
	t := r.tail.Load()
	for i := 0; i < n; i++ {
		r.buf[(t+uint64(i))&r.mask] = vs[i]
	}
	r.tail.Store(t + uint64(n))
	return n
}

// Len returns how many items the consumer can pop now. Consumer only.
func (r *Ring[T]) Len() int {
	h := r.head.Load()
	if r.headCache == h {
		r.headCache = r.tail.Load()
	}
	return int(r.headCache - h)
}

// Pop removes the oldest item; ok is false when the ring is empty.
// Consumer only.
func (r *Ring[T]) Pop() (v T, ok bool) {
	h := r.head.Load()
	if h == r.headCache {
		r.headCache = r.tail.Load()
		if h == r.headCache {
			return v, false
		}
	}
	v = r.buf[h&r.mask]
	var zero T
	r.buf[h&r.mask] = zero // drop references early so the GC can collect them
	r.head.Store(h + 1)
	return v, true
}

// PopN moves up to len(out) items into out and returns how many. Consumer only.
func (r *Ring[T]) PopN(out []T) int {
	n := r.Len()
	if n > len(out) {
		n = len(out)
	}
	h := r.head.Load()
	var zero T
	for i := 0; i < n; i++ {
		j := (h + uint64(i)) & r.mask
		out[i] = r.buf[j]
		r.buf[j] = zero
	}
	r.head.Store(h + uint64(n))
	return n
}

// Peek returns a pointer to the oldest item without removing it, or nil when
// the ring is empty. The pointer is valid until Advance. Consumer only.
func (r *Ring[T]) Peek() *T {
	h := r.head.Load()
	if h == r.headCache {
		r.headCache = r.tail.Load()
		if h == r.headCache {
			return nil
		}
	}
	return &r.buf[h&r.mask]
}

// Advance drops the item Peek returned. Consumer only.
func (r *Ring[T]) Advance() { r.head.Store(r.head.Load() + 1) }

// Slot returns a pointer to the slot the next Push would fill, or nil when the
// ring is full, so a producer can fill a large item in place and then Commit.
// Producer only.
func (r *Ring[T]) Slot() *T {
	t := r.tail.Load()
	if t-r.tailCache >= uint64(len(r.buf)) {
		r.tailCache = r.head.Load()
		if t-r.tailCache >= uint64(len(r.buf)) {
			return nil
		}
	}
	return &r.buf[t&r.mask]
}

// Commit publishes the slot Slot returned. Producer only.
func (r *Ring[T]) Commit() { r.tail.Store(r.tail.Load() + 1) }
