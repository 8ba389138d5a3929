package ipsec

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLifetimes(t *testing.T) {
	type event struct {
		sa   string
		hard bool
	}
	var mu sync.Mutex
	var events []event
	hook := WithExpiryHook(func(sa string, hard bool) {
		mu.Lock()
		events = append(events, event{sa, hard})
		mu.Unlock()
	})
	pkt := udpPacket(100) // 108-byte UDP segment

	t.Run("packets", func(t *testing.T) {
		events = nil
		c := tcase{name: "life-pkts", proposal: AES128GCM16, mode: Transport}
		is := c.spec(In)
		is.Life = Lifetime{RekeyPackets: 2, LifePackets: 3}
		in, err := NewInboundSA(is, hook)
		if err != nil {
			t.Fatal(err)
		}
		_, out := newPair(t, c, 64)
		want := []Result{OK, OK, OK, ResultExpired, ResultExpired}
		for i, w := range want {
			if _, r := decapWire(in, encapAt(t, out, uint64(i+1), pkt), 0); r != w {
				t.Fatalf("packet %d: got %v, want %v", i+1, r, w)
			}
		}
		st := in.Stats()
		if !st.SoftExpired || !st.HardExpired || st.Packets != 3 || st.ExpiredDrops != 2 {
			t.Fatalf("stats %+v", st)
		}
		if len(events) != 2 || events[0] != (event{is.Name, false}) || events[1] != (event{is.Name, true}) {
			t.Fatalf("hook events %v, want one soft then one hard", events)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		events = nil
		c := tcase{name: "life-bytes", proposal: AES256SHA1, mode: Transport}
		os := c.spec(Out)
		os.Life = Lifetime{RekeyBytes: 200, LifeBytes: 300}
		out, err := NewOutboundSA(os, hook)
		if err != nil {
			t.Fatal(err)
		}
		// 108 bytes each: 108, 216 (soft), 324 (hard, still sent), refused.
		want := []Result{OK, OK, OK, ResultExpired}
		for i, w := range want {
			if _, r := encapPacket(out, pkt, 0); r != w {
				t.Fatalf("packet %d: got %v, want %v", i+1, r, w)
			}
		}
		if st := out.Stats(); st.Bytes != 324 || !st.HardExpired {
			t.Fatalf("stats %+v", st)
		}
		if len(events) != 2 {
			t.Fatalf("hook events %v, want soft and hard once each", events)
		}
	})
	t.Run("time", func(t *testing.T) {
		events = nil
		c := tcase{name: "life-time", proposal: ChaCha20Poly1305, mode: Tunnel}
		is := c.spec(In)
		is.Life = Lifetime{RekeyTime: 8 * time.Second, LifeTime: 10 * time.Second}
		in, err := NewInboundSA(is, hook, WithBirth(int64(time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		_, out := newPair(t, c, 64)
		sec := func(s int) int64 { return int64(time.Hour) + int64(s)*int64(time.Second) }
		for i, step := range []struct {
			now  int64
			want Result
			nev  int
		}{{sec(1), OK, 0}, {sec(7), OK, 0}, {sec(8), OK, 1}, {sec(9), OK, 1}, {sec(10), ResultExpired, 2}, {sec(11), ResultExpired, 2}} {
			if _, r := decapWire(in, encapAt(t, out, uint64(i+1), pkt), step.now); r != step.want {
				t.Fatalf("step %d: got %v, want %v", i, r, step.want)
			}
			if len(events) != step.nev {
				t.Fatalf("step %d: %d hook events, want %d", i, len(events), step.nev)
			}
		}
	})
	t.Run("idle SA checked by the control plane", func(t *testing.T) {
		events = nil
		c := tcase{name: "life-idle", proposal: AES128GCM16, mode: Transport}
		is := c.spec(In)
		is.Life = Lifetime{RekeyTime: time.Second, LifeTime: 2 * time.Second}
		in, err := NewInboundSA(is, hook, WithBirth(0))
		if err != nil {
			t.Fatal(err)
		}
		if in.CheckLifetime(int64(500*time.Millisecond)) || len(events) != 0 {
			t.Fatalf("expired early: %v", events)
		}
		if in.CheckLifetime(int64(1500*time.Millisecond)) || len(events) != 1 || events[0].hard {
			t.Fatalf("want one soft event, got %v", events)
		}
		if !in.CheckLifetime(int64(2*time.Second)) || len(events) != 2 || !events[1].hard {
			t.Fatalf("want a hard event, got %v", events)
		}
		in.CheckLifetime(int64(3 * time.Second))
		if len(events) != 2 {
			t.Fatalf("hook called again: %v", events)
		}
	})
	t.Run("born at first packet", func(t *testing.T) {
		c := tcase{name: "life-first", proposal: AES128GCM16, mode: Transport}
		os := c.spec(Out)
		os.Life = Lifetime{LifeTime: time.Second}
		out, err := NewOutboundSA(os)
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range []struct {
			now  int64
			want Result
		}{{5e9, OK}, {5e9 + 999e6, OK}, {6e9, ResultExpired}} {
			if _, r := encapPacket(out, pkt, step.now); r != step.want {
				t.Fatalf("now %d: got %v, want %v", step.now, r, step.want)
			}
		}
	})
	t.Run("seq exhaustion without ESN", func(t *testing.T) {
		events = nil
		c := tcase{name: "life-seq", proposal: AES128GCM16, mode: Transport}
		out, err := NewOutboundSA(c.spec(Out), hook)
		if err != nil {
			t.Fatal(err)
		}
		out.seq.Store(math.MaxUint32 - 1)
		if _, r := encapPacket(out, pkt, 0); r != OK {
			t.Fatalf("seq 2^32-1: got %v, want ok", r)
		}
		for range 2 {
			if _, r := encapPacket(out, pkt, 0); r != ResultExpired {
				t.Fatalf("past 2^32-1: got %v, want esp-sa-expired", r)
			}
		}
		if !out.Stats().HardExpired || len(events) != 2 {
			t.Fatalf("stats %+v, events %v", out.Stats(), events)
		}
		// With ESN the counter goes on.
		c.esn = true
		out, _ = NewOutboundSA(c.spec(Out))
		out.seq.Store(math.MaxUint32 - 1)
		for range 3 {
			if _, r := encapPacket(out, pkt, 0); r != OK {
				t.Fatalf("ESN past 2^32: got %v", r)
			}
		}
		// ...until 2^64-1, the last number.
		out.seq.Store(math.MaxUint64 - 1)
		if _, r := encapPacket(out, pkt, 0); r != OK {
			t.Fatalf("ESN seq 2^64-1: got %v", r)
		}
		if _, r := encapPacket(out, pkt, 0); r != ResultExpired {
			t.Fatalf("ESN past 2^64-1: got %v, want esp-sa-expired", r)
		}
	})
}

// TestCountersMove drives the packed per-packet counter across its move into
// the totals while other goroutines add and a reader samples: no packet or
// byte may be lost or counted twice, and no sample may go backwards.
func TestCountersMove(t *testing.T) {
	var sa saCommon
	sa.life = newLimits(Lifetime{})
	var c counters
	const workers, each = 4, 20000
	// Start just below the packet threshold so moves happen during the run.
	pre := uint64(flushPackets>>recentShift) - 10
	c.recent.Store(pre<<recentShift | 1000)
	var wg sync.WaitGroup
	var stop atomic.Bool
	var backwards atomic.Bool
	go func() {
		var lp, lb uint64
		for !stop.Load() {
			p, b := c.totals()
			if p < lp || b < lb {
				backwards.Store(true)
			}
			lp, lb = p, b
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				sa.account(&c, 3)
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	p, b := c.totals()
	if p != pre+workers*each || b != 1000+3*workers*each {
		t.Fatalf("totals %d packets %d bytes, want %d and %d", p, b, pre+workers*each, 1000+3*workers*each)
	}
	if c.packets.Load() == 0 {
		t.Fatal("no move happened")
	}
	if backwards.Load() {
		t.Fatal("a reader saw the counters go backwards")
	}
}
