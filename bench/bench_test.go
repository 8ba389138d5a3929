package bench

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicenet/sluice/bench/gen"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/mem"
	"github.com/sluicenet/sluice/ipsec"
)

// BenchmarkPipelineBurst is `sluice-bench pipeline` in go test form, on one
// core: one op is one worker burst of BatchSize generated frames through
// the whole per-packet path (mem port Source, steering, parse, ESP, rules,
// L2TP, delivery). Every 64 bursts the baseline (bare crypto of the same
// number of generated frames, bareWorker) runs outside the timer, so both
// see the same neighbours. Reported: pkt/s, ns/pkt, and pps-ratio, the
// dataplane's packet rate over the baseline's (1 would be "as fast as the
// crypto alone"). The counters must match the generator exactly.
func BenchmarkPipelineBurst(b *testing.B) {
	for _, p := range []ipsec.Proposal{ipsec.AES128GCM16, ipsec.ChaCha20Poly1305, ipsec.AES128SHA256} {
		for _, sz := range []gen.Sizes{gen.Fixed(64), gen.Fixed(1400), gen.IMIX} {
			b.Run(fmt.Sprintf("%v/%sB", p, sz.Name), func(b *testing.B) {
				benchBurst(b, gen.Scenario{Proposal: p, Sizes: sz})
			})
		}
	}
	b.Run("aes128gcm16-fresh-mix-1000sa/imixB", func(b *testing.B) {
		benchBurst(b, gen.Scenario{SAs: 1000, Sizes: gen.IMIX, ReplayWindow: 1024, FreshSeq: true,
			Mix: gen.Mix{gen.KindESPData: 9000, gen.KindClearData: 500, gen.KindBadICV: 500}})
	})
}

func benchBurst(b *testing.B, sc gen.Scenario) {
	g, err := gen.New(sc)
	if err != nil {
		b.Fatal(err)
	}
	comp, err := Compile(g)
	if err != nil {
		b.Fatal(err)
	}
	keys, err := newBareKeys(g)
	if err != nil {
		b.Fatal(err)
	}
	st, _ := g.NewStream(0, 1)
	bst, _ := g.NewStream(0, 1)
	bw, err := keys.worker(bst.SAs())
	if err != nil {
		b.Fatal(err)
	}
	var stop atomic.Bool
	punts := dataplane.NewPuntQueue(dataplane.DefaultPuntDepth)
	port := mem.New(mem.Options{Name: g.Scenario().Interface, Source: source(st, punts, &stop)})
	w := dataplane.NewWorker(dataplane.WorkerOptions{Port: port, Tables: &comp.Tables, Punts: punts, CPU: -1})
	buf := make([]byte, 2048)
	bare := func(n int) {
		for range n {
			l, _ := bst.Next(buf)
			bw.frame(buf[:l], bst.Last())
		}
	}
	w.Burst() // warm: first snapshot load, caches
	b.SetBytes(int64(g.Scenario().Sizes.Mean() * dataplane.BatchSize))
	b.ReportAllocs()
	var pipeT, bareT time.Duration
	var pipeN, bareN int
	i := 0
	start := time.Now()
	for b.Loop() {
		pipeN += w.Burst()
		if i++; i%64 == 0 {
			b.StopTimer()
			pipeT += time.Since(start)
			t0 := time.Now()
			bare(64 * dataplane.BatchSize)
			bareT += time.Since(t0)
			bareN += 64 * dataplane.BatchSize
			b.StartTimer()
			start = time.Now()
		}
	}
	pipeT += time.Since(start)
	b.StopTimer()
	if bareN == 0 { // -benchtime 1x: too few bursts to interleave
		t0 := time.Now()
		bare(pipeN)
		bareT, bareN = time.Since(t0), pipeN
	}
	sent, got := st.Counts(), w.Counts()
	if err := gen.Expect(sent).Check(&got); err != nil {
		b.Fatalf("counters disagree with the generator: %v", err)
	}
	ns := float64(pipeT.Nanoseconds()) / float64(pipeN)
	b.ReportMetric(ns, "ns/pkt")
	b.ReportMetric(1e9/ns, "pkt/s")
	b.ReportMetric((float64(bareT.Nanoseconds())/float64(bareN))/ns, "pps-ratio")
}
