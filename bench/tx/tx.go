// Package tx puts generated traffic on a wire: transmitters for the lab's
// client end (AF_XDP through dataplane/afxdp's port, and AF_PACKET with a
// PACKET_TX_RING and PACKET_QDISC_BYPASS), and Run, the loop that feeds a
// transmitter from a gen.Stream at a target rate or as fast as possible,
// for a bounded count or duration.
//
// Data flow: Run ─► pacer (how many frames are due) ─► Transmitter.Transmit:
// free TX buffers ─► gen.Stream.Next writes a frame into each, in place ─►
// the kernel ring ─► sendto(2) kick. Frames a transmitter could not hand
// to the kernel are taken back out of the stream's counts (Stream.Unsend),
// so the stream's Counts are exactly what reached the kernel's TX path.
package tx

import (
	"errors"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/sluicenet/sluice/bench/gen"
)

// Batch is the most frames one Transmit call writes.
const Batch = 64

// ErrNotSupported is returned on platforms without AF_PACKET or AF_XDP.
var ErrNotSupported = errors.New("tx: not supported on this platform")

// Transmitter is one TX queue a stream's frames go out on. Its methods
// are called from one goroutine (Run's).
type Transmitter interface {
	// Transmit writes up to max new frames from st into free TX buffers
	// and hands them, after any left from earlier calls, to the kernel. It
	// returns how many frames it wrote (0 when no buffer is free yet).
	// Frames it wrote but could not hand over stay queued inside for the
	// next call or Finish.
	Transmit(st *gen.Stream, max int) (written int, err error)
	// Finish hands over what is still queued, waits up to timeout for the
	// kernel to complete every frame, and Unsends from st what could not be
	// sent.
	Finish(st *gen.Stream, timeout time.Duration) error
	// Stats returns the transmitter's counters.
	Stats() Stats
	// Close releases the socket and its ring.
	Close() error
}

// Stats are a transmitter's counters.
type Stats struct {
	Queued    uint64 // frames handed to the kernel's TX ring
	Completed uint64 // frames the kernel reported transmitted
	Failed    uint64 // frames the kernel refused (taken back out of the stream's counts)
}

// Options bound a Run.
type Options struct {
	// PPS is the target rate in frames per second; 0 sends as fast as the
	// transmitter takes them.
	PPS float64
	// Count stops after this many frames (0: no bound).
	Count uint64
	// Duration stops after this long (0: no bound).
	Duration time.Duration
	// Stop, when set, stops the run at the next batch.
	Stop *atomic.Bool
	// Sent, when set, is kept equal to the frames handed to the kernel, once
	// per batch, for progress reports from other goroutines.
	Sent *atomic.Uint64
	// FinishTimeout bounds the wait for completions at the end (default 1s).
	FinishTimeout time.Duration
}

// Result is what a Run did.
type Result struct {
	Sent    uint64        // frames handed to the kernel
	Elapsed time.Duration // from the first Transmit to the end of the loop
	Stats   Stats
}

// PPS returns the achieved rate.
func (r Result) PPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Sent) / r.Elapsed.Seconds()
}

// Run feeds t from st until one of o's bounds is reached (at least one
// must be set). The pacer releases frames as they fall due at o.PPS, in
// batches of up to Batch: bursts are at most one batch long, and a sender
// that falls behind catches up at full speed rather than dropping the
// deficit. Run locks its goroutine to an OS thread for the duration.
func Run(t Transmitter, st *gen.Stream, o Options) (Result, error) {
	if o.Count == 0 && o.Duration == 0 && o.Stop == nil {
		return Result{}, errors.New("tx: unbounded run (set Count, Duration or Stop)")
	}
	if o.FinishTimeout <= 0 {
		o.FinishTimeout = time.Second
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	base := t.Stats()
	var sent uint64 // frames written (handed over now or by Finish)
	start := time.Now()
	idle := 0
	for {
		if o.Stop != nil && o.Stop.Load() || o.Count > 0 && sent >= o.Count {
			break
		}
		now := time.Now()
		el := now.Sub(start)
		if o.Duration > 0 && el >= o.Duration {
			break
		}
		want := uint64(Batch)
		if o.Count > 0 {
			want = min(want, o.Count-sent)
		}
		if o.PPS > 0 {
			due := uint64(o.PPS * el.Seconds())
			if due <= sent {
				// Next frame due in (sent+1)/PPS: sleep when that is far
				// enough for the scheduler to be worth it, else yield.
				wait := time.Duration(float64(sent+1)/o.PPS*1e9) - el
				if wait > 200*time.Microsecond {
					time.Sleep(wait - 100*time.Microsecond)
				} else {
					runtime.Gosched()
				}
				continue
			}
			want = min(want, due-sent)
		}
		n, err := t.Transmit(st, int(want))
		if err != nil {
			_ = t.Finish(st, o.FinishTimeout)
			return Result{Sent: sent, Elapsed: time.Since(start), Stats: t.Stats()}, err
		}
		sent += uint64(n)
		if o.Sent != nil && n > 0 {
			o.Sent.Store(sent)
		}
		if n == 0 {
			// TX ring full: let the kernel (and, on a shared core, the
			// receiver) run.
			if idle++; idle > 16 {
				runtime.Gosched()
			}
		} else {
			idle = 0
		}
	}
	el := time.Since(start)
	err := t.Finish(st, o.FinishTimeout)
	stats := t.Stats()
	sent = stats.Queued - base.Queued - (stats.Failed - base.Failed)
	if o.Sent != nil {
		o.Sent.Store(sent)
	}
	return Result{Sent: sent, Elapsed: el, Stats: stats}, err
}
