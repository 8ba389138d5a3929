package l2tp

import (
	"container/heap"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var testRel = relConfig{rto: time.Second, rtoCap: 8 * time.Second, maxRetrans: 5, ackDelay: 100 * time.Millisecond, recvWindow: 8}

// numbered builds a control message carrying i in a vendor AVP, so the
// receiver can tell which one it got.
func numbered(i uint32) []byte {
	m := Message{Type: MsgHELLO, Unknown: []AVP{{Vendor: 1, Type: 1, Value: binary.BigEndian.AppendUint32(nil, i)}}}
	b, err := m.Append(nil, nil, nil)
	if err != nil {
		panic(err)
	}
	return b
}

func numberOf(b []byte) uint32 { return binary.BigEndian.Uint32(b[len(b)-4:]) }

// endpoint is one side of the simulated link: an engine and what it got.
type endpoint struct {
	rel       *reliable
	delivered []uint32
}

// accept feeds one datagram to the engine as the tunnel code does.
func (e *endpoint) accept(b []byte, now time.Time) {
	h, err := ParseHeader(b)
	if err != nil {
		panic(err)
	}
	if e.rel.receive(h.Ns, h.Nr, h.End == h.PayloadOff, b, now) != rxDeliver {
		return
	}
	e.delivered = append(e.delivered, numberOf(b))
	for {
		held, ok := e.rel.nextHeld(now)
		if !ok {
			return
		}
		e.delivered = append(e.delivered, numberOf(held))
	}
}

// flight is a datagram on the simulated link.
type flight struct {
	at  time.Time
	seq int // tie-break for a stable order
	to  int
	b   []byte
}

type flights []flight

func (f flights) Len() int { return len(f) }
func (f flights) Less(i, j int) bool {
	return f[i].at.Before(f[j].at) || (f[i].at.Equal(f[j].at) && f[i].seq < f[j].seq)
}
func (f flights) Swap(i, j int) { f[i], f[j] = f[j], f[i] }
func (f *flights) Push(x any)   { *f = append(*f, x.(flight)) }
func (f *flights) Pop() any {
	old := *f
	x := old[len(old)-1]
	*f = old[:len(old)-1]
	return x
}

// TestReliableLossyLink runs two engines against each other over a link
// that loses, duplicates and reorders datagrams (deterministic seeds).
// Every message must arrive exactly once, in order, at both ends.
func TestReliableLossyLink(t *testing.T) {
	for _, tc := range []struct {
		name                string
		seed                uint64
		loss, dup, maxDelay float64 // probabilities; delay in seconds
		n                   int
	}{
		{"clean", 1, 0, 0, 0.01, 300},
		{"lossy", 2, 0.2, 0, 0.05, 300},
		{"duplicating and reordering", 3, 0, 0.3, 0.8, 300},
		{"everything", 4, 0.25, 0.2, 0.6, 500},
		{"everything, other seed", 5, 0.3, 0.3, 1.5, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(tc.seed, 0))
			now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			var inflight flights
			seq := 0
			eps := make([]*endpoint, 2)
			var lost, dups int
			for i := range eps {
				to := 1 - i
				cfg := testRel
				cfg.maxRetrans = 30 // the link may be very unlucky; we test delivery here
				eps[i] = &endpoint{}
				eps[i].rel = newReliable(&cfg, func(b []byte) {
					copies := 1
					if rng.Float64() < tc.dup {
						copies = 2
						dups++
					}
					for range copies {
						if rng.Float64() < tc.loss {
							lost++
							continue
						}
						d := time.Duration(rng.Float64() * tc.maxDelay * float64(time.Second))
						seq++
						heap.Push(&inflight, flight{at: now.Add(d), seq: seq, to: to, b: append([]byte(nil), b...)})
					}
				})
				eps[i].rel.setPeerWindow(8)
			}
			// Each side queues its messages at random moments over 60 s.
			type send struct {
				at   time.Time
				from int
				i    uint32
			}
			var sends []send
			for from := range 2 {
				for i := range tc.n {
					sends = append(sends, send{now.Add(time.Duration(rng.Float64() * 60 * float64(time.Second))), from, uint32(i)})
				}
			}
			slices.SortStableFunc(sends, func(a, b send) int { return a.at.Compare(b.at) })
			next := [2]uint32{}
			for i := range sends { // keep each side's numbers in queue order
				sends[i].i = next[sends[i].from]
				next[sends[i].from]++
			}
			deadline := now.Add(time.Hour)
			for now.Before(deadline) {
				// The next event: a queued send, a datagram, or a timer.
				at := deadline
				if len(sends) > 0 {
					at = sends[0].at
				}
				if len(inflight) > 0 && inflight[0].at.Before(at) {
					at = inflight[0].at
				}
				for _, e := range eps {
					if d := e.rel.deadline(); !d.IsZero() && d.Before(at) {
						at = d
					}
				}
				if at.Equal(deadline) {
					break // nothing left to do
				}
				now = at
				switch {
				case len(sends) > 0 && !sends[0].at.After(now):
					s := sends[0]
					sends = sends[1:]
					eps[s.from].rel.queueMsg(numbered(s.i), now)
				case len(inflight) > 0 && !inflight[0].at.After(now):
					f := heap.Pop(&inflight).(flight)
					eps[f.to].accept(f.b, now)
				default:
					for _, e := range eps {
						if !e.rel.tick(now) {
							t.Fatal("connection declared dead")
						}
					}
				}
			}
			for i, e := range eps {
				want := make([]uint32, tc.n)
				for j := range want {
					want[j] = uint32(j)
				}
				if !slices.Equal(e.delivered, want) {
					t.Fatalf("end %d delivered %d messages, out of order or duplicated: %v", i, len(e.delivered), e.delivered[:min(20, len(e.delivered))])
				}
				if e.rel.outstanding() != 0 {
					t.Errorf("end %d has %d outstanding", i, e.rel.outstanding())
				}
			}
			st := eps[0].rel.stats
			t.Logf("lost %d, duplicated %d; end 0: %+v", lost, dups, st)
			if tc.loss > 0 && st.Retransmits == 0 {
				t.Error("losses but no retransmissions")
			}
			if tc.dup > 0 && st.Duplicates == 0 {
				t.Error("duplicates not seen")
			}
			if tc.maxDelay > 0.5 && st.OutOfOrder == 0 {
				t.Error("no reordering seen")
			}
		})
	}
}

// scriptedPeer records what an engine sends.
type scriptedPeer struct {
	got [][]byte
}

func (p *scriptedPeer) send(b []byte) { p.got = append(p.got, append([]byte(nil), b...)) }

func (p *scriptedPeer) take() []Header {
	var hs []Header
	for _, b := range p.got {
		h, _ := ParseHeader(b)
		hs = append(hs, h)
	}
	p.got = nil
	return hs
}

// TestReliableWindow: the congestion window starts at 1 and grows per ack
// (Appendix A), never past the peer's Receive Window Size.
func TestReliableWindow(t *testing.T) {
	now := time.Unix(0, 0)
	p := &scriptedPeer{}
	r := newReliable(&testRel, p.send)
	r.setPeerWindow(3)
	for i := range 10 {
		r.queueMsg(numbered(uint32(i)), now)
	}
	var bursts []int
	acked := uint16(0)
	for r.outstanding() > 0 {
		hs := p.take()
		bursts = append(bursts, len(hs))
		if r.sent > 3 {
			t.Fatalf("%d outstanding with a window of 3", r.sent)
		}
		acked += uint16(len(hs))
		r.receive(0, acked, true, nil, now)
	}
	// cwnd 1, then 2, then 3 (= RWS) for the rest.
	if want := []int{1, 2, 3, 3, 1}; !slices.Equal(bursts, want) {
		t.Errorf("bursts %v, want %v", bursts, want)
	}
}

// TestReliableReceive: in-order delivery, holding within the window,
// dropping past it, re-acking duplicates at once.
func TestReliableReceive(t *testing.T) {
	now := time.Unix(0, 0)
	p := &scriptedPeer{}
	cfg := testRel
	cfg.recvWindow = 4
	r := newReliable(&cfg, p.send)
	r.peerTunnel = 77
	for _, tc := range []struct {
		ns   uint16
		want rxVerdict
	}{
		{2, rxHeld}, {4, rxDropped}, {3, rxHeld}, {2, rxHeld}, {1, rxHeld}, {0, rxDeliver},
	} {
		if got := r.receive(tc.ns, 0, false, numbered(uint32(tc.ns)), now); got != tc.want {
			t.Errorf("Ns %d: got %v, want %v", tc.ns, got, tc.want)
		}
	}
	var order []uint32
	for {
		b, ok := r.nextHeld(now)
		if !ok {
			break
		}
		order = append(order, numberOf(b))
	}
	if !slices.Equal(order, []uint32{1, 2, 3}) || r.nr != 4 {
		t.Errorf("held delivered %v, Nr %d", order, r.nr)
	}
	if len(p.got) != 0 {
		t.Fatalf("acked before the delay: %d", len(p.got))
	}
	// The ack is delayed, then goes as a ZLB.
	if d := r.deadline(); !d.Equal(now.Add(cfg.ackDelay)) {
		t.Errorf("ack deadline %v", d)
	}
	r.tick(now.Add(cfg.ackDelay))
	hs := p.take()
	if len(hs) != 1 || hs[0].Nr != 4 || hs[0].TunnelID != 77 || hs[0].End != ctrlHeaderLen {
		t.Errorf("ZLB %+v", hs)
	}
	// A duplicate is re-acked at once.
	if got := r.receive(1, 0, false, numbered(1), now); got != rxDuplicate {
		t.Errorf("got %v", got)
	}
	if hs := p.take(); len(hs) != 1 || hs[0].Nr != 4 {
		t.Errorf("re-ack %+v", hs)
	}
	// A message queued while an ack is owed carries it; no ZLB follows.
	r.receive(4, 0, false, numbered(4), now)
	r.queueMsg(numbered(100), now)
	hs = p.take()
	if len(hs) != 1 || hs[0].Nr != 5 || hs[0].End == ctrlHeaderLen {
		t.Errorf("piggy-back %+v", hs)
	}
	r.tick(now.Add(time.Hour / 2))
	for _, h := range p.take() {
		if h.End == ctrlHeaderLen {
			t.Error("ZLB sent although the ack rode on a message")
		}
	}
}

// TestReliableWrap: sequence numbers wrap modulo 2^16 (RFC 2661 5.8).
func TestReliableWrap(t *testing.T) {
	now := time.Unix(0, 0)
	p := &scriptedPeer{}
	r := newReliable(&testRel, p.send)
	r.setPeerWindow(8)
	r.nextNs, r.nr = 65534, 65535
	for _, ns := range []uint16{65535, 0, 1} {
		if got := r.receive(ns, 65534, false, numbered(0), now); got != rxDeliver {
			t.Errorf("Ns %d: %v", ns, got)
		}
	}
	if got := r.receive(65534, 65534, false, numbered(0), now); got != rxDuplicate {
		t.Errorf("old Ns: %v", got)
	}
	r.cwnd = 8
	for i := range 4 {
		r.queueMsg(numbered(uint32(i)), now)
	}
	var ns []uint16
	for _, h := range p.take() {
		if h.End != ctrlHeaderLen {
			ns = append(ns, h.Ns)
		}
	}
	if !slices.Equal(ns, []uint16{65534, 65535, 0, 1}) {
		t.Errorf("Ns %v", ns)
	}
	// Bogus acks (past what was sent) are ignored; a wrapped one works.
	r.receive(0, 5, true, nil, now)
	if r.outstanding() != 4 {
		t.Error("bogus Nr accepted")
	}
	r.receive(0, 1, true, nil, now)
	if r.outstanding() != 1 {
		t.Errorf("%d outstanding after Nr 1", r.outstanding())
	}
}

// TestReliableGivesUp: after maxRetrans retransmissions without progress
// the engine reports the connection dead; backoff doubles up to the cap.
func TestReliableGivesUp(t *testing.T) {
	now := time.Unix(0, 0)
	p := &scriptedPeer{}
	r := newReliable(&testRel, p.send)
	r.queueMsg(numbered(1), now)
	var times []time.Duration
	start := now
	for {
		d := r.deadline()
		if d.IsZero() {
			break
		}
		now = d
		alive := r.tick(now)
		if len(p.take()) > 0 {
			times = append(times, now.Sub(start))
		}
		if !alive {
			break
		}
	}
	s := time.Second
	if want := []time.Duration{s, 3 * s, 7 * s, 15 * s, 23 * s}; !slices.Equal(times, want) {
		t.Errorf("retransmitted at %v, want %v", times, want)
	}
	if !r.dead || now.Sub(start) != 31*s || testRel.cycle() != 31*s {
		t.Errorf("dead %v at %v, cycle %v", r.dead, now.Sub(start), testRel.cycle())
	}
}
