package replay

import (
	"encoding/binary"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestReplayVectors walks numbered cases in order on one window, in the
// style of wireguard-go's replay_test.go. Each case is checked against RFC
// 4303 section 3.4.3: duplicates and numbers left of the window are refused,
// numbers right of it slide it.
func TestReplayVectors(t *testing.T) {
	const W = 64
	w := New(W)
	cases := []struct {
		n    int
		seq  uint64
		want bool
	}{
		{1, 0, false},            // zero is never sent
		{2, 1, true},             // first packet
		{3, 1, false},            // duplicate of newest
		{4, 2, true},             //
		{5, 4, true},             // gap
		{6, 3, true},             // fills the gap
		{7, 3, false},            // duplicate inside the window
		{8, W, true},             // top = 64
		{9, 1, false},            // 1 = top-W+1 but already seen
		{10, W + 1, true},        // top = 65: window is [2, 65]
		{11, 1, false},           // 1 = top-W: left of the window
		{12, 5, true},            // inside, unseen
		{13, 2, false},           // bottom edge, seen
		{14, 200, true},          // far right: slides over many words
		{15, 200 - W, false},     // top-W: left edge, refused
		{16, 200 - W + 1, true},  // top-W+1: bottom edge, unseen
		{17, 200 - W + 1, false}, // and now seen
		{18, 199, true},          //
		{19, 199, false},         //
		{20, 1 << 40, true},      // far future (ESN)
		{21, 1<<40 - W, false},   // left edge
		{22, 1<<40 - 1, true},    // inside
		{23, 1 << 40, false},     // newest again
		{24, 1<<40 + 1, true},    //
	}
	for _, c := range cases {
		got := w.Check(c.seq) && w.Update(c.seq)
		if got != c.want {
			t.Fatalf("case %d: seq %d: got %v, want %v", c.n, c.seq, got, c.want)
		}
	}
}

// TestEndOfESNSpace: the window arithmetic must not wrap near 2^64 (a
// draft-mcgrew-gcm-test-01 vector uses sequence number 2^64-1).
func TestEndOfESNSpace(t *testing.T) {
	const W = 64
	w := New(W)
	cases := []struct {
		n    int
		seq  uint64
		want bool
	}{
		{1, 1<<64 - 2*W, true},
		{2, 1<<64 - 2, true},
		{3, 1<<64 - 1, true},
		{4, 1<<64 - 2, false},
		{5, 1<<64 - W, true}, // top-W+1
		{6, 1<<64 - W - 1, false},
		{7, 1<<64 - 2*W, false},
	}
	for _, c := range cases {
		if got := w.Check(c.seq) && w.Update(c.seq); got != c.want {
			t.Fatalf("case %d: seq %#x: got %v, want %v", c.n, c.seq, got, c.want)
		}
	}
}

// TestCheckDoesNotRecord makes sure a packet whose ICV fails (Check without
// Update) leaves no trace, as RFC 4303 3.4.3 requires.
func TestCheckDoesNotRecord(t *testing.T) {
	w := New(1024)
	for i := 0; i < 3; i++ {
		if !w.Check(7) {
			t.Fatalf("check %d of unrecorded 7 refused", i)
		}
	}
	if w.Top() != 0 {
		t.Fatalf("top moved to %d by Check", w.Top())
	}
	if !w.Update(7) || w.Check(7) {
		t.Fatalf("7 not recorded by Update")
	}
}

// TestWindowEdgesAllSizes checks, for many sizes, the four edges the RFC
// defines: newest (refused), newest-size+1 (accepted), newest-size (refused)
// and far future (accepted).
func TestWindowEdgesAllSizes(t *testing.T) {
	for _, size := range []uint32{1, 2, 31, 32, 33, 63, 64, 65, 100, 1000, 1024, 2047, 4095, 4096} {
		w := New(size)
		top := uint64(10 * MaxSize)
		if !w.Check(top) || !w.Update(top) {
			t.Fatalf("size %d: first packet refused", size)
		}
		if w.Check(top) {
			t.Errorf("size %d: newest accepted twice", size)
		}
		if w.Check(top - uint64(size)) {
			t.Errorf("size %d: newest-size accepted", size)
		}
		if size > 1 {
			in := top - uint64(size) + 1
			if !w.Check(in) || !w.Update(in) {
				t.Errorf("size %d: newest-size+1 refused", size)
			}
		}
		if !w.Check(top+1<<20) || !w.Update(top+1<<20) {
			t.Errorf("size %d: far future refused", size)
		}
	}
}

func TestDisabled(t *testing.T) {
	w := New(0)
	for i := 0; i < 3; i++ {
		if !w.Check(5) || !w.Update(5) {
			t.Fatalf("disabled window refused a duplicate")
		}
	}
	if w.Top() != 5 {
		t.Fatalf("disabled window top = %d, want 5 (ESN needs it)", w.Top())
	}
}

// TestInferESN checks RFC 4303 Appendix A2.2 cases A and B on a window of 64.
func TestInferESN(t *testing.T) {
	cases := []struct {
		name string
		top  uint64
		lo   uint32
		want uint64
	}{
		{"A same epoch", 1<<32 | 1000, 990, 1<<32 | 990},
		{"A bottom edge", 1<<32 | 1000, 1000 - 63, 1<<32 | 937},
		{"A left of bottom is next epoch", 1<<32 | 1000, 936, 2<<32 | 936},
		{"A right of top", 1<<32 | 1000, 5000, 1<<32 | 5000},
		{"A crossing", 0xfffffff0, 3, 1<<32 | 3},
		{"B new epoch", 1<<32 | 10, 11, 1<<32 | 11},
		{"B tail of old epoch", 1<<32 | 10, 0xfffffff0, 0xfffffff0},
		{"B just outside tail", 1<<32 | 10, 0xffffffff - 53, 1<<32 | (0xffffffff - 53)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := New(64)
			w.SetTop(c.top)
			if got := w.InferESN(c.lo); got != c.want {
				t.Errorf("InferESN(%#x) with top %#x = %#x, want %#x", c.lo, c.top, got, c.want)
			}
		})
	}
}

// TestConcurrentNoDuplicates lets several goroutines race every sequence
// number through Check+Update several times; each must be accepted exactly
// once, and nothing inside the final window may be lost. Run with -race.
func TestConcurrentNoDuplicates(t *testing.T) {
	const (
		size    = 256
		n       = 20000
		workers = 4
	)
	w := New(size)
	var accepted [n + 1]atomic.Int32
	var wg sync.WaitGroup
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every worker walks the same numbers with a small local
			// reordering, as RSS-split flows would.
			for base := uint64(1); base+8 <= n; base += 8 {
				for j := uint64(0); j < 8; j++ {
					s := base + (j*5+uint64(g))%8
					if w.Check(s) && w.Update(s) {
						accepted[s].Add(1)
					}
				}
				if base%512 == 1 {
					runtime.Gosched()
				}
			}
		}()
	}
	wg.Wait()
	for s := 1; s <= n; s++ {
		if c := accepted[s].Load(); c > 1 {
			t.Fatalf("seq %d accepted %d times", s, c)
		}
	}
	// Numbers in the last window were all offered by every worker while in
	// the window, so each must have been accepted exactly once.
	for s := n - size/2; s < n-8; s++ {
		if accepted[s].Load() != 1 {
			t.Fatalf("seq %d near the top accepted %d times, want 1", s, accepted[s].Load())
		}
	}
}

func TestAllocs(t *testing.T) {
	w := New(1024)
	s := uint64(1)
	if a := testing.AllocsPerRun(1000, func() {
		s++
		_ = w.Check(s) && w.Update(s)
		_ = w.InferESN(uint32(s))
	}); a != 0 {
		t.Fatalf("got %v allocs per packet, want 0", a)
	}
}

// model is the reference the fuzzer compares with: a set of seen numbers and
// the highest one, exactly RFC 4303 3.4.3's rule.
type model struct {
	seen    map[uint64]bool
	highest uint64
	size    uint64
}

func (m *model) accept(s uint64) bool {
	if m.size == 0 {
		if s > m.highest {
			m.highest = s
		}
		return true
	}
	if s == 0 || m.seen[s] || s <= m.highest && m.highest-s >= m.size {
		return false
	}
	m.seen[s] = true
	if s > m.highest {
		m.highest = s
	}
	return true
}

// FuzzReplay drives a Window and the map model with the same sequence
// numbers (each a signed 16-bit step from the last, so that both in-window
// reordering and big jumps occur) and requires identical answers.
func FuzzReplay(f *testing.F) {
	f.Add(uint16(64), []byte{0, 1, 0, 1, 0, 2, 0xff, 0xff, 0, 100})
	f.Add(uint16(0), []byte{0, 5, 0, 5})
	f.Add(uint16(4096), []byte{0x7f, 0xff, 0x80, 0x00, 0, 1})
	f.Fuzz(func(t *testing.T, size uint16, steps []byte) {
		sz := uint32(size) % (MaxSize + 1)
		w := New(sz)
		m := &model{seen: map[uint64]bool{}, size: uint64(sz)}
		var s uint64 = 1 << 20
		for i := 0; i+2 <= len(steps); i += 2 {
			d := int16(binary.BigEndian.Uint16(steps[i:]))
			s += uint64(int64(d) * int64(1+i%3*40))
			got := w.Check(s) && w.Update(s)
			if want := m.accept(s); got != want {
				t.Fatalf("step %d: seq %d (size %d, highest %d): got %v, want %v", i/2, s, sz, m.highest, got, want)
			}
			if w.Top() != m.highest {
				t.Fatalf("step %d: top %d, model highest %d", i/2, w.Top(), m.highest)
			}
		}
	})
}

func BenchmarkReplay(b *testing.B) {
	b.Run("in-order", func(b *testing.B) {
		w := New(1024)
		s := uint64(0)
		b.ReportAllocs()
		for b.Loop() {
			s++
			if !w.Check(s) || !w.Update(s) {
				b.Fatal("refused")
			}
		}
	})
}
