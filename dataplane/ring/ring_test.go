package ring

import (
	"sync"
	"testing"
)

func TestRingOrderAndBounds(t *testing.T) {
	r := New[int](5) // rounds up to 8
	if got, want := r.Cap(), 8; got != want {
		t.Fatalf("Cap() = %d, want %d", got, want)
	}
	for i := 0; i < 8; i++ {
		if !r.Push(i) {
			t.Fatalf("Push(%d) refused with %d queued", i, i)
		}
	}
	if r.Push(99) {
		t.Fatal("Push into a full ring succeeded")
	}
	for i := 0; i < 8; i++ {
		v, ok := r.Pop()
		if !ok || v != i {
			t.Fatalf("Pop() = %d, %v; want %d, true", v, ok, i)
		}
	}
	if _, ok := r.Pop(); ok {
		t.Fatal("Pop from an empty ring succeeded")
	}
}

func TestRingBatches(t *testing.T) {
	r := New[int](4)
	if n := r.PushN([]int{1, 2, 3, 4, 5, 6}); n != 4 {
		t.Fatalf("PushN accepted %d, want 4", n)
	}
	out := make([]int, 3)
	if n := r.PopN(out); n != 3 || out[0] != 1 || out[2] != 3 {
		t.Fatalf("PopN = %d %v, want 3 [1 2 3]", n, out)
	}
	if p := r.Slot(); p == nil {
		t.Fatal("Slot() nil with room left")
	} else {
		*p = 7
		r.Commit()
	}
	if p := r.Peek(); p == nil || *p != 4 {
		t.Fatalf("Peek() = %v, want 4", p)
	}
	r.Advance()
	if v, _ := r.Pop(); v != 7 {
		t.Fatalf("Pop() = %d, want 7", v)
	}
}

// TestRingConcurrent moves a million items between two goroutines and checks
// that every item arrives once, in order (run with -race).
func TestRingConcurrent(t *testing.T) {
	const n = 1 << 20
	r := New[uint64](256)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := uint64(0); i < n; {
			if r.Push(i) {
				i++
			}
		}
	}()
	var next uint64
	buf := make([]uint64, 32)
	for next < n {
		k := r.PopN(buf)
		for _, v := range buf[:k] {
			if v != next {
				t.Fatalf("got %d, want %d", v, next)
			}
			next++
		}
	}
	wg.Wait()
}

func TestRingNoAllocs(t *testing.T) {
	r := New[int](64)
	buf := make([]int, 16)
	if a := testing.AllocsPerRun(1000, func() {
		r.Push(1)
		r.PushN(buf)
		r.PopN(buf)
		r.Pop()
	}); a != 0 {
		t.Fatalf("allocs per run = %v, want 0", a)
	}
}

func BenchmarkRingPushPop(b *testing.B) {
	r := New[uint64](1024)
	b.ReportAllocs()
	for b.Loop() {
		r.Push(1)
		r.Pop()
	}
}
