package afxdp

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/dptest"
)

// steerHarness runs the steering program with BPF_PROG_TEST_RUN. The
// program is loaded but not attached anywhere, so only test runs move its
// counters; a real socket, bound to lo in a private namespace, is
// registered for queue 0 (the queue test runs report), so a steered frame
// returns XDP_REDIRECT instead of the XDP_PASS fallback. The private
// namespace dies with the process, so a fuzzing worker killed without its
// cleanups leaves nothing behind.
type steerHarness struct {
	tb        testing.TB
	prog      *Program
	redirects uint64
	passes    uint64
}

func newSteerHarness(tb testing.TB) *steerHarness {
	dptest.RequireRoot(tb)
	ns, err := dptest.NewPrivateNetns()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ns.Delete() })
	prog := loadIn(tb, ns, "lo", ProgramOptions{}, false, ModeAuto)
	o := DefaultOptions("lo")
	o.Program = prog
	o.NumFrames, o.FillRingSize, o.RxRingSize, o.TxRingSize, o.CompletionRingSize = 128, 32, 32, 32, 32
	openIn(tb, ns, o)
	return &steerHarness{tb: tb, prog: prog}
}

// verdict returns the program's decision for frame: true for
// XDP_REDIRECT, false for XDP_PASS; any other verdict fails the test.
func (h *steerHarness) verdict(frame []byte) bool {
	ret, err := h.prog.BPF().Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		h.tb.Fatalf("BPF_PROG_TEST_RUN on %d bytes: %v", len(frame), err)
	}
	switch ret {
	case xdpRedirect:
		h.redirects++
		return true
	case xdpPass:
		h.passes++
		return false
	}
	h.tb.Fatalf("verdict %d on %x", ret, frame)
	return false
}

// minTestRun is the shortest input BPF_PROG_TEST_RUN accepts for XDP (an
// Ethernet header); shorter frames are checked against Steer alone.
const minTestRun = 14

// compare requires the program and dataplane.Steer to agree on frame.
func (h *steerHarness) compare(name string, frame []byte) bool {
	h.tb.Helper()
	want := dataplane.Steer(frame)
	if len(frame) < minTestRun {
		if want {
			h.tb.Errorf("%s: Steer redirects a %d-byte frame", name, len(frame))
		}
		return true
	}
	if got := h.verdict(frame); got != want {
		h.tb.Errorf("%s: program says steer=%v, Steer says %v; frame %s", name, got, want, hex.EncodeToString(frame))
		return false
	}
	return true
}

func TestSteerEquivalence(t *testing.T) {
	h := newSteerHarness(t)
	before, err := h.prog.Counters()
	if err != nil {
		t.Fatal(err)
	}
	total := 0

	// 1. scapy-built frames with hand-written labels: both implementations
	// must match the label, not just each other.
	labelled := readLabelledFrames(t)
	for _, lf := range labelled {
		if got := dataplane.Steer(lf.data); got != lf.steer {
			t.Errorf("%s: Steer says %v, label says %v", lf.name, got, lf.steer)
		}
		if got := h.verdict(lf.data); got != lf.steer {
			t.Errorf("%s: program says %v, label says %v", lf.name, got, lf.steer)
		}
		total++
	}

	stage := func(name string) {
		t.Logf("%-28s %7d program runs so far", name, h.redirects+h.passes)
	}
	stage("labelled")

	// 2. every truncation of every labelled frame: runts, cut tags, cut IP
	// and UDP headers at each byte.
	for _, lf := range labelled {
		for n := 0; n < len(lf.data); n++ {
			h.compare(lf.name+"/cut", lf.data[:n])
		}
	}

	stage("truncations")

	// 3. IHL and fragment-offset sweeps over IPv4 UDP frames.
	for _, lf := range labelled {
		l3 := 14
		switch binary.BigEndian.Uint16(lf.data[12:]) {
		case 0x8100, 0x88a8:
			l3 = 18
		}
		if len(lf.data) < l3+20 || lf.data[l3]>>4 != 4 {
			continue
		}
		for ihl := byte(0); ihl < 16; ihl++ {
			for _, frag := range []uint16{0, 0x2000, 0x4000, 0x0001, 0x1fff, 0x2001, 0x8000} {
				f := append([]byte(nil), lf.data...)
				f[l3] = 0x40 | ihl
				binary.BigEndian.PutUint16(f[l3+6:], frag)
				h.compare(lf.name+"/ihl-frag", f)
			}
		}
	}

	stage("ihl/fragment sweeps")

	// 4. structured random frames from a seeded PRNG, biased towards the
	// branches that matter, and plain random bytes.
	n := 200000
	if testing.Short() {
		n = 20000
	}
	rng := rand.New(rand.NewPCG(0x5111ce, 3))
	for i := 0; i < n; i++ {
		h.compare("random", randomFrame(rng))
	}

	stage("random")

	// 5. fuzz corpora, ours and dataplane's, if present.
	for _, glob := range []string{
		filepath.Join("testdata", "fuzz", "FuzzSteerProgram", "*"),
		filepath.Join("..", "testdata", "fuzz", "*Steer*", "*"),
	} {
		for _, f := range readFuzzCorpus(t, glob) {
			h.compare("corpus", f)
		}
	}

	stage("fuzz corpora")

	// The program's own counters saw exactly the verdicts it returned.
	after, err := h.prog.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if got := after.Redirected - before.Redirected; got != h.redirects {
		t.Errorf("redirected counter moved by %d, want %d", got, h.redirects)
	}
	if got := after.Passed - before.Passed; got != h.passes {
		t.Errorf("passed counter moved by %d, want %d", got, h.passes)
	}
	if h.redirects == 0 || h.passes == 0 {
		t.Errorf("degenerate run: %d redirected, %d passed", h.redirects, h.passes)
	}
	t.Logf("%d labelled frames, %d program runs: %d redirected, %d passed", total, h.redirects+h.passes, h.redirects, h.passes)
}

// randomFrame returns a frame of random bytes and length, with the fields
// the decision reads set, most of the time, to values that lead deeper.
func randomFrame(rng *rand.Rand) []byte {
	b := make([]byte, rng.IntN(140))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	if rng.IntN(8) == 0 {
		return b // plain random
	}
	pick := func(vs ...uint16) uint16 {
		if i := rng.IntN(len(vs) + 1); i < len(vs) {
			return vs[i]
		}
		return uint16(rng.Uint32())
	}
	put := func(off int, v uint16) {
		if off+2 <= len(b) {
			binary.BigEndian.PutUint16(b[off:], v)
		}
	}
	putb := func(off int, v byte) {
		if off < len(b) {
			b[off] = v
		}
	}
	l3 := 14
	et := pick(0x0800, 0x86dd, 0x8100, 0x88a8)
	put(12, et)
	if et == 0x8100 || et == 0x88a8 {
		l3 = 18
		put(16, pick(0x0800, 0x86dd, 0x8100))
	}
	proto := byte(pick(17, 50, 6, 1))
	dport := pick(4500, 1701, 500, 4501, 1700)
	if rng.IntN(2) == 0 { // IPv4
		ihl := byte(5)
		if rng.IntN(3) == 0 {
			ihl = byte(rng.IntN(16))
		}
		putb(l3, 0x40|ihl)
		putb(l3+9, proto)
		if rng.IntN(2) == 0 {
			put(l3+6, uint16(rng.Uint32())&0xe000) // flags only, offset 0
		}
		put(l3+int(ihl)*4+2, dport)
	} else { // IPv6
		putb(l3+6, proto)
		put(l3+42, dport)
	}
	return b
}

// FuzzSteerProgram feeds arbitrary frames to the steering program and to
// dataplane.Steer and requires the same decision. Seeds are in
// testdata/fuzz/FuzzSteerProgram. Needs root (BPF_PROG_TEST_RUN).
func FuzzSteerProgram(f *testing.F) {
	for _, lf := range readLabelledFrames(f) {
		f.Add(lf.data)
	}
	h := newSteerHarness(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) > 3000 {
			return // beyond what BPF_PROG_TEST_RUN takes in one page
		}
		h.tb = t
		h.compare("fuzz", frame)
	})
}
