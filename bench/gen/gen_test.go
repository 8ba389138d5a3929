package gen

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/sluicenet/sluice/control"
	"github.com/sluicenet/sluice/control/config"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/mem"
	"github.com/sluicenet/sluice/ipsec"
)

func mustGen(tb testing.TB, sc Scenario) *Generator {
	tb.Helper()
	g, err := New(sc)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return g
}

func mustStream(tb testing.TB, g *Generator, shard, shards int) *Stream {
	tb.Helper()
	s, err := g.NewStream(shard, shards)
	if err != nil {
		tb.Fatalf("NewStream: %v", err)
	}
	return s
}

// fullMix has every kind.
var fullMix = Mix{
	KindESPData: 6000, KindESPHello: 500, KindClearData: 1000, KindClearHello: 500,
	KindBadICV: 1000, KindUnknownSPI: 500, KindJunk: 500,
}

// runDataplane compiles the generator's config with the control plane, runs
// n frames of one stream through a real worker on a mem port, and returns
// the stream's counts and the worker's counters.
func runDataplane(t *testing.T, g *Generator, n int) (Counts, dataplane.Counts) {
	t.Helper()
	tree, err := config.Parse(g.Config(), config.FormatYAML)
	if err != nil {
		t.Fatalf("config does not parse: %v", err)
	}
	cfg, err := tree.Config()
	if err != nil {
		t.Fatalf("config does not validate: %v", err)
	}
	dp := dataplane.New()
	b := control.NewBuilder()
	plan, err := b.Prepare(cfg)
	if err != nil {
		t.Fatalf("config does not compile: %v", err)
	}
	b.Apply(plan, dp)
	st := mustStream(t, g, 0, 1)
	left := n
	port := mem.New(mem.Options{Name: g.Scenario().Interface, Source: func(buf []byte) int {
		if left == 0 {
			return 0
		}
		left--
		l, _ := st.Next(buf)
		return l
	}})
	w := dp.AddWorker(dataplane.WorkerOptions{Port: port, CPU: -1})
	for left > 0 {
		w.Burst()
		w.Punts().PopN(make([]dataplane.Punt, 64))
	}
	w.Burst()
	return st.Counts(), w.Counts()
}

// TestDataplaneAgrees: for every proposal, family and encapsulation, the
// dataplane (compiled from the generator's own config by the control
// plane) counts exactly what the generator says it sent. This checks that
// config and frames agree; the frames themselves are checked by scapy and
// tshark (scapy_test.go, tshark_test.go).
func TestDataplaneAgrees(t *testing.T) {
	for _, p := range ipsec.Proposals() {
		for _, v6 := range []bool{false, true} {
			for _, natt := range []bool{false, true} {
				sc := Scenario{Proposal: p, SAs: 3, Sessions: 2, Sizes: IMIX, IPv6: v6, NATT: natt, Mix: fullMix, Seed: 7}
				name := p.String()
				if v6 {
					name += "/v6"
				}
				if natt {
					name += "/natt"
				}
				t.Run(name, func(t *testing.T) {
					g := mustGen(t, sc)
					sent, got := runDataplane(t, g, 1000)
					if sent.Total() != 1000 {
						t.Fatalf("sent %d frames, want 1000", sent.Total())
					}
					for k := Kind(0); k < NumKinds; k++ {
						if sent.Frames[k] == 0 {
							t.Errorf("no %v frames in 1000", k)
						}
					}
					if err := Expect(sent).Check(&got); err != nil {
						t.Fatalf("dataplane disagrees with the generator:\n%v", err)
					}
				})
			}
		}
	}
}

// TestFreshSeqReplay: with a replay window, fresh sequence numbers keep
// every data frame deliverable through many passes over the templates.
func TestFreshSeqReplay(t *testing.T) {
	for _, p := range []ipsec.Proposal{ipsec.AES128GCM16, ipsec.AES256GCM16} {
		t.Run(p.String(), func(t *testing.T) {
			sc := Scenario{Proposal: p, SAs: 2, Sizes: IMIX, Mix: fullMix, ReplayWindow: 64, FreshSeq: true, Seed: 3}
			g := mustGen(t, sc)
			sent, got := runDataplane(t, g, 5000)
			if err := Expect(sent).Check(&got); err != nil {
				t.Fatalf("dataplane disagrees with the generator:\n%v", err)
			}
		})
	}
}

// TestReseqMatchesGCM checks the ICV patch against crypto/cipher's GCM:
// sealing the same plaintext under the same nonce with the new sequence
// number in the AAD must give the patched ICV.
func TestReseqMatchesGCM(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	for _, klen := range []int{16, 32} {
		blk, _ := aes.NewCipher(key[:klen])
		aead, _ := cipher.NewGCM(blk)
		for _, ptLen := range []int{1, 15, 16, 17, 100, 1418} {
			nonce := make([]byte, 12)
			nonce[11] = 9
			pt := bytes.Repeat([]byte{0xa5}, ptLen)
			seal := func(seq uint32) []byte {
				aad := []byte{0, 1, 0, 0, byte(seq >> 24), byte(seq >> 16), byte(seq >> 8), byte(seq)}
				ct := aead.Seal(nil, nonce, pt, aad)
				return append(append(append([]byte{}, aad...), nonce[4:]...), ct...)
			}
			w, err := newSeqShift(key[:klen], ptLen)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct{ from, to uint32 }{{1, 2}, {0, 1}, {7, 0xffffffff}, {0x80000000, 3}, {12345, 12345}} {
				esp := seal(c.from)
				reseq(esp, c.from, c.to, w)
				if want := seal(c.to); !bytes.Equal(esp, want) {
					t.Errorf("key %d, %d bytes, seq %d->%d: patched packet differs from GCM's", klen, ptLen, c.from, c.to)
				}
			}
		}
	}
}

// TestNextAllocs: steady-state generation allocates nothing, in every mode.
func TestNextAllocs(t *testing.T) {
	for _, sc := range []Scenario{
		{Sizes: IMIX, Mix: fullMix},
		{Sizes: IMIX, Mix: fullMix, FreshSeq: true, ReplayWindow: 1024, IPv6: true, NATT: true},
		{Proposal: ipsec.AES128SHA1, SAs: 5, Sessions: 3, Mix: fullMix},
	} {
		g := mustGen(t, sc)
		st := mustStream(t, g, 0, 1)
		buf := make([]byte, g.MaxFrameLen())
		if a := testing.AllocsPerRun(2000, func() { st.Next(buf) }); a != 0 {
			t.Errorf("%v: %v allocations per frame, want 0", g, a)
		}
	}
}

func TestMixSchedule(t *testing.T) {
	m, err := ParseMix("clear-data=5,bad-icv=2.5,junk=0.01")
	if err != nil {
		t.Fatal(err)
	}
	if m[KindESPData] != 10000-500-250-1 {
		t.Fatalf("esp-data gets %d basis points, want the rest (9249)", m[KindESPData])
	}
	sched := schedule[Kind](m[:])
	var n [NumKinds]int
	for _, k := range sched {
		n[k]++
	}
	for k := range n {
		if uint32(n[k]) != m[k] {
			t.Errorf("%v: %d in one period of %d, want %d", Kind(k), n[k], len(sched), m[k])
		}
	}
	// Smoothness: in any 200 consecutive frames of the period the clear
	// share stays within one frame of 5%.
	for start := 0; start+200 <= len(sched); start += 37 {
		c := 0
		for _, k := range sched[start : start+200] {
			if k == KindClearData {
				c++
			}
		}
		if c < 9 || c > 11 {
			t.Fatalf("frames %d..%d: %d clear-data, want 10±1", start, start+200, c)
		}
	}
}

func TestParseMixErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"unknown kind", "foo=1", "unknown kind"},
		{"over 100", "clear-data=60,junk=50", "more than 100"},
		{"three decimals", "junk=0.125", "two decimals"},
		{"twice", "junk=1,junk=2", "twice"},
		{"data not 100", "esp-data=50,junk=10", "want 100%"},
		{"no equals", "junk", "kind=percent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMix(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseMix(%q) = %v, want an error containing %q", tc.in, err, tc.want)
			}
		})
	}
}

func TestParseSizeList(t *testing.T) {
	got, err := ParseSizeList("64, 1400,imix")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Name != "64" || got[1].Name != "1400" || got[2].Name != "imix" {
		t.Fatalf("got %+v", got)
	}
	if m := IMIX.Mean(); m < 345.9 || m > 346.1 {
		t.Fatalf("IMIX mean %v, want 346", m)
	}
	for _, bad := range []string{"", "31", "1501", "sixty", "64,,1400"} {
		if _, err := ParseSizeList(bad); err == nil {
			t.Errorf("ParseSizeList(%q): no error", bad)
		}
	}
}

func TestScenarioValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		sc   Scenario
		want string
	}{
		{"too many SAs", Scenario{SAs: MaxSAs + 1}, "sas"},
		{"window without fresh", Scenario{ReplayWindow: 64}, "fresh sequence"},
		{"fresh cbc", Scenario{Proposal: ipsec.AES128SHA256, FreshSeq: true}, "AES-GCM"},
		{"v4 addr with v6", Scenario{IPv6: true, Server: mustAddr("10.0.0.1")}, "family"},
		{"too many frames", Scenario{SAs: 65535, Sessions: 8}, "pre-built"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.sc.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestShards: shards split the SAs without overlap; fresh numbering
// refuses to share an SA between streams.
func TestShards(t *testing.T) {
	g := mustGen(t, Scenario{SAs: 5})
	seen := map[int32]int{}
	for s := 0; s < 2; s++ {
		for _, sa := range mustStream(t, g, s, 2).SAs() {
			seen[sa]++
		}
	}
	if len(seen) != 5 {
		t.Fatalf("shards cover %d SAs, want 5", len(seen))
	}
	for sa, n := range seen {
		if n != 1 {
			t.Errorf("SA %d in %d shards", sa, n)
		}
	}
	fg := mustGen(t, Scenario{FreshSeq: true})
	if _, err := fg.NewStream(0, 2); err != ErrShardTooSmall {
		t.Fatalf("fresh stream over a shared SA: err %v, want ErrShardTooSmall", err)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestReplayWindowIsLive is the negative control of TestFreshSeqReplay:
// with the same config but the templates' own, repeating sequence numbers,
// the dataplane must drop the repeats as esp-replay, so the window the
// fresh numbers get through is really checked.
func TestReplayWindowIsLive(t *testing.T) {
	g := mustGen(t, Scenario{SAs: 1, Seed: 3})
	g.sc.ReplayWindow = 64 // the config now has a window; the frames still repeat
	_, got := runDataplane(t, g, 200)
	if got.Drop(dataplane.DropESPReplay) != 199 || got[dataplane.StatDelivered] != 1 {
		t.Fatalf("delivered %d, esp-replay %d; want 1 and 199 (one template sent 200 times)",
			got[dataplane.StatDelivered], got.Drop(dataplane.DropESPReplay))
	}
}

// TestNoKeysInText: the generator's and the scenario's printed forms never
// carry key material (the config is the one place keys are written).
func TestNoKeysInText(t *testing.T) {
	sc := Scenario{Proposal: ipsec.AES256SHA256, SAs: 2, Seed: 99}
	g := mustGen(t, sc)
	text := g.String() + fmt.Sprintf("%v %+v %#v", g.Scenario(), sc.InboundSpec(1), sc.OutboundSpec(0))
	for i := 0; i < 2; i++ {
		for _, sp := range []ipsec.SASpec{sc.InboundSpec(i), sc.OutboundSpec(i)} {
			for _, k := range [][]byte{sp.EncKey, sp.AuthKey} {
				if h := hex.EncodeToString(k); strings.Contains(text, h[:12]) {
					t.Fatalf("key of %s printed", sp.Name)
				}
			}
		}
	}
	if cfg := string(g.Config()); !strings.Contains(cfg, hex.EncodeToString(sc.InboundSpec(0).EncKey)) {
		t.Fatal("the config lacks the key it must carry")
	}
}
