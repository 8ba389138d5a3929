package tx

import (
	"testing"
	"time"

	"github.com/sluicenet/sluice/bench/gen"
)

// sink is a Transmitter that takes every frame at once.
type sink struct {
	buf    []byte
	queued uint64
	times  []time.Duration
	sizes  []int
	start  time.Time
}

func (s *sink) Transmit(st *gen.Stream, max int) (int, error) {
	for i := 0; i < max; i++ {
		st.Next(s.buf)
	}
	s.queued += uint64(max)
	s.times = append(s.times, time.Since(s.start))
	s.sizes = append(s.sizes, max)
	return max, nil
}
func (s *sink) Finish(*gen.Stream, time.Duration) error { return nil }
func (s *sink) Stats() Stats                            { return Stats{Queued: s.queued, Completed: s.queued} }
func (s *sink) Close() error                            { return nil }

func newSink(t *testing.T) (*sink, *gen.Stream) {
	g, err := gen.New(gen.Scenario{})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := g.NewStream(0, 1)
	return &sink{buf: make([]byte, g.MaxFrameLen()), start: time.Now()}, st
}

// TestRunPaces: at a target rate the pacer never runs ahead of the
// schedule by more than one batch, and the count is exact.
func TestRunPaces(t *testing.T) {
	s, st := newSink(t)
	const pps, n = 50000, 5000
	res, err := Run(s, st, Options{PPS: pps, Count: n})
	if err != nil {
		t.Fatal(err)
	}
	if c := st.Counts(); res.Sent != n || c.Total() != n {
		t.Fatalf("sent %d (stream %d), want %d", res.Sent, c.Total(), n)
	}
	if min := time.Duration(float64(n-Batch) / pps * float64(time.Second)); res.Elapsed < min {
		t.Fatalf("%d frames at %d/s took %v, less than %v: the pacer ran ahead", n, pps, res.Elapsed, min)
	}
	// No batch leaves before its last frame is due.
	sent := 0
	for i, at := range s.times {
		sent += s.sizes[i]
		if due := time.Duration(float64(sent-1) / pps * float64(time.Second)); at < due {
			t.Fatalf("batch %d (frames up to %d) left at %v, its last frame was due at %v", i, sent, at, due)
		}
		if s.sizes[i] > Batch {
			t.Fatalf("batch %d of %d frames, more than %d", i, s.sizes[i], Batch)
		}
	}
}

func TestRunBounds(t *testing.T) {
	s, st := newSink(t)
	if _, err := Run(s, st, Options{}); err == nil {
		t.Fatal("an unbounded run was accepted")
	}
	res, err := Run(s, st, Options{Count: 1000})
	if err != nil || res.Sent != 1000 {
		t.Fatalf("count 1000: sent %d, %v", res.Sent, err)
	}
	res, err = Run(s, st, Options{Duration: 20 * time.Millisecond, PPS: 1000})
	if err != nil || res.Elapsed < 20*time.Millisecond || res.Sent > 64+20 {
		t.Fatalf("20ms at 1000/s: sent %d in %v, %v", res.Sent, res.Elapsed, err)
	}
}
