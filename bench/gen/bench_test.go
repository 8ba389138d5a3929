package gen

import (
	"testing"
	"time"

	"github.com/sluicenet/sluice/ipsec"
)

// BenchmarkGenerate measures Stream.Next per kind and size, against a bare
// copy of the same frame measured in the same run (x-copy): what the
// generator adds to the memcpy a NIC's DMA would do anyway.
func BenchmarkGenerate(b *testing.B) {
	type bc struct {
		name string
		sc   Scenario
	}
	var cases []bc
	for _, size := range []int{64, 1400} {
		for _, k := range []Kind{KindESPData, KindBadICV, KindClearData} {
			var m Mix
			m[k] = MixScale
			cases = append(cases, bc{k.String() + "/" + Fixed(size).Name + "B", Scenario{Sizes: Fixed(size), Mix: m}})
		}
		cases = append(cases, bc{"esp-data-fresh/" + Fixed(size).Name + "B", Scenario{Sizes: Fixed(size), FreshSeq: true, ReplayWindow: 1024}})
		cases = append(cases, bc{"esp-data-fresh-v6-natt/" + Fixed(size).Name + "B", Scenario{Proposal: ipsec.AES256GCM16, Sizes: Fixed(size), IPv6: true, NATT: true, FreshSeq: true, ReplayWindow: 1024}})
	}
	cases = append(cases, bc{"mix-1000sa/imix", Scenario{SAs: 1000, Sizes: IMIX, Mix: fullMix}})
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			g := mustGen(b, c.sc)
			st := mustStream(b, g, 0, 1)
			buf := make([]byte, g.MaxFrameLen())
			n, _ := st.Next(buf)
			tpl := append([]byte(nil), buf[:n]...)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				st.Next(buf)
			}
			b.StopTimer()
			// Same-run baseline: interleaved rounds of Next and of a plain
			// copy of a frame; the minimum of each survives a noisy CPU.
			const rounds, per = 5, 20000
			best := [2]time.Duration{time.Hour, time.Hour}
			for range rounds {
				t0 := time.Now()
				for range per {
					st.Next(buf)
				}
				best[0] = min(best[0], time.Since(t0))
				t0 = time.Now()
				for range per {
					copy(buf, tpl)
				}
				best[1] = min(best[1], time.Since(t0))
			}
			b.ReportMetric(float64(best[0])/float64(best[1]), "x-copy")
			b.ReportMetric(float64(per)/best[0].Seconds(), "frames/s")
		})
	}
}
