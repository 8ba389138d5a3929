// Package replay is the ESP anti-replay window (RFC 4303 section 3.4.3) and
// the extended-sequence-number inference that depends on it (RFC 4303
// Appendix A2).
//
// Data flow: a worker calls Check with the (64-bit) sequence number of a
// packet before it decrypts it, and Update only after the packet's ICV has
// verified. Several workers may do so on one Window at once.
//
// Layout: like RFC 6479, the window is a ring of words that is never shifted.
// Each 64-bit word holds 32 bits of bitmap and, in its upper half, the low 32
// bits of the number of the 32-sequence-number block it currently describes
// (its tag). Because a word carries its own tag, an old word is recycled
// lazily by the first Update that needs it, with one compare-and-swap, and a
// reader can always tell a stale word from a current one: no word is ever
// cleared in bulk and no lock is taken.
//
// Why it is safe under concurrency: a word's tag only ever grows (a word is
// only replaced by one with a newer tag, or the same tag and more bits). Once
// sequence number s is recorded, its word holds s's tag with s's bit set, or
// a newer tag; either way a later Check or Update of s is refused. The
// highest recorded number (Top) is advanced before the word is written, so a
// worker that sees a recycled word also sees the Top that pushed s out of the
// window.
//
// Limit: tags keep 32 bits of the block number. A word left untouched while
// the window moves 2^37 numbers ahead (only possible with ESN and a sender
// that skips whole blocks 2^32 numbers at a time) can be mistaken for a
// current one; its stale bits then refuse a fresh number. The error is only
// ever a refusal, never an acceptance of a replay: a recorded number's word
// never goes back to an older tag.
package replay

// Hot path: no allocation, no locks, no logging.

import "sync/atomic"

// MaxSize is the largest window size in packets.
const MaxSize = 4096

const (
	blockShift = 5 // 32 sequence numbers per word
	blockBits  = 1 << blockShift
	tagShift   = 32
)

// Window is an anti-replay window. The zero value is not usable; use Init or
// New. A Window must not be copied after first use.
type Window struct {
	top   atomic.Uint64   // highest sequence number recorded (0: none)
	size  uint64          // window size in packets; 0 disables the checks
	mask  uint64          // len(words)-1
	esnW  uint32          // window used to infer ESN high halves (RFC 4303 A2.2)
	words []atomic.Uint64 // tag<<32 | bitmap
}

// New returns a window of size packets (0 disables anti-replay, at most
// MaxSize). It panics on a size above MaxSize: callers validate first.
func New(size uint32) *Window {
	w := new(Window)
	w.Init(size)
	return w
}

// Init prepares w for a window of size packets (0 disables anti-replay, at
// most MaxSize). It allocates the ring once; it panics on a size above
// MaxSize, a programmer error (SASpec.Validate refuses such sizes).
func (w *Window) Init(size uint32) {
	if size > MaxSize {
		panic("replay: window larger than MaxSize")
	}
	w.size = uint64(size)
	w.esnW = size
	if size == 0 {
		// RFC 4303 A2.2 infers the high half relative to the window; with
		// anti-replay off, infer the nearest epoch instead.
		w.esnW = 1 << 31
		w.words = nil
		w.mask = 0
		return
	}
	// The ring must span the window plus one partial block, so that the word
	// of any in-window number is never the word of a newer block.
	n := uint64(1)
	for n*blockBits < uint64(size)+blockBits {
		n <<= 1
	}
	w.words = make([]atomic.Uint64, n)
	w.mask = n - 1
}

// Size returns the window size in packets (0: disabled).
func (w *Window) Size() uint32 { return uint32(w.size) }

// Top returns the highest sequence number recorded so far (0 if none).
func (w *Window) Top() uint64 { return w.top.Load() }

// SetTop sets the highest recorded sequence number, as if it had been
// received, clearing nothing else. Only for tests and for the control plane
// before the window is shared with workers.
func (w *Window) SetTop(seq uint64) { w.top.Store(seq) }

// Reset forgets every recorded number, as if the window were new. Only for
// tests and benchmarks, or before the window is shared with workers: a Reset
// under traffic would let replays in.
func (w *Window) Reset() {
	w.top.Store(0)
	for i := range w.words {
		w.words[i].Store(0)
	}
}

// Check reports whether seq may be accepted: it is not zero, not left of the
// window and not recorded yet. It changes nothing; call it before decrypting.
// Safe for concurrent use; allocates nothing.
func (w *Window) Check(seq uint64) bool {
	if w.size == 0 {
		return true
	}
	if seq == 0 {
		return false // RFC 4303 3.3.3: the first packet carries 1; 0 is never sent
	}
	if w.leftOf(seq, w.top.Load()) {
		return false
	}
	v := w.words[(seq>>blockShift)&w.mask].Load()
	if uint32(v>>tagShift) == uint32(seq>>blockShift) && v&(1<<(seq&(blockBits-1))) != 0 {
		return false
	}
	return true
}

// Update records seq, which must have passed Check and whose ICV verified.
// It returns false when seq must be refused after all: another worker
// recorded it in the meantime, or the window moved past it. Safe for
// concurrent use; allocates nothing.
func (w *Window) Update(seq uint64) bool {
	w.advance(seq)
	if w.size == 0 {
		return true
	}
	if seq == 0 {
		return false
	}
	tag := uint32(seq >> blockShift)
	bit := uint64(1) << (seq & (blockBits - 1))
	word := &w.words[(seq>>blockShift)&w.mask]
	for {
		old := word.Load()
		var nw uint64
		if uint32(old>>tagShift) == tag {
			if old&bit != 0 {
				return false
			}
			nw = old | bit
		} else {
			// The word describes another block. If seq is still inside the
			// window that block is older (see the package comment), so the
			// word is recycled; otherwise the window moved past seq.
			if w.leftOf(seq, w.top.Load()) {
				return false
			}
			nw = uint64(tag)<<tagShift | bit
		}
		if word.CompareAndSwap(old, nw) {
			return true
		}
	}
}

// leftOf reports whether seq is left of the window whose top is t: at
// least size below it. Written without seq+size, which would wrap for
// sequence numbers near 2^64 (ESN).
func (w *Window) leftOf(seq, t uint64) bool {
	return seq <= t && t-seq >= w.size
}

// advance raises top to seq. One load when seq is not new (the common case
// for a reordered packet), one CAS when it is.
func (w *Window) advance(seq uint64) {
	for {
		t := w.top.Load()
		if seq <= t || w.top.CompareAndSwap(t, seq) {
			return
		}
	}
}

// InferESN returns the full 64-bit sequence number of a packet that carries
// the low half lo, inferring the high half from the window as RFC 4303
// Appendix A2.2 describes: a low half right of the window's bottom belongs to
// the top's epoch, one left of it to the next epoch (case A), and near the
// start of an epoch a low half inside the window's wrapped tail belongs to
// the previous epoch (case B). A wrong guess fails the ICV, so an attacker
// gains nothing by steering it. Allocates nothing.
func (w *Window) InferESN(lo uint32) uint64 {
	t := w.top.Load()
	th, tl := uint32(t>>32), uint32(t)
	win := w.esnW
	bottom := tl - win + 1 // wraps in case B, as the RFC's arithmetic does
	hi := th
	if tl >= win-1 {
		// Case A: the window lies within one epoch.
		if lo < bottom {
			hi = th + 1
		}
	} else if lo >= bottom {
		// Case B: the window spans two epochs and lo is in the older one.
		hi = th - 1
	}
	return uint64(hi)<<32 | uint64(lo)
}
