package config

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// ruleset returns a configuration with one rule set of n rules (and the
// lab's SAs), in YAML and in curly syntax; the two describe one tree.
func ruleset(tb testing.TB, n int) (yamlText, curlyText []byte) {
	tb.Helper()
	var b bytes.Buffer
	b.WriteString("firewall:\n  name:\n    WAN_LOCAL:\n      default-action: drop\n      rule:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "        %d:\n          action: accept\n          protocol: udp\n", i*10)
		fmt.Fprintf(&b, "          source: {address: [10.%d.%d.0/24]}\n", i/256%256, i%256)
		fmt.Fprintf(&b, "          destination: {port: %d}\n          ipsec: match-ipsec\n", 1024+i%60000)
	}
	b.WriteString("  interface:\n    eth0: {local: WAN_LOCAL}\n")
	tr, err := Parse(b.Bytes(), FormatYAML)
	if err != nil {
		tb.Fatal(err)
	}
	return b.Bytes(), tr.Curly(Revealed)
}

// pairLoop runs the baseline and the subject alternately, each iteration
// one of each, so both see the same machine load (the CPUs are shared and
// noisy); only the subject counts toward ns/op. It reports the subject's
// time over the baseline's as the metric named unit.
func pairLoop(b *testing.B, unit string, base, subject func()) {
	var baseT, subjT time.Duration
	for b.Loop() {
		b.StopTimer()
		t0 := time.Now()
		base()
		t1 := time.Now()
		b.StartTimer()
		subject()
		subjT += time.Since(t1)
		baseT += t1.Sub(t0)
	}
	b.ReportMetric(float64(baseT.Nanoseconds())/float64(b.N), "baseline-ns/op")
	b.ReportMetric(float64(subjT)/float64(baseT), unit)
}

// BenchmarkParseValidate measures what a commit of a rule set costs this
// package: parse the text into a tree, then build and validate the typed
// Config (issue #5's commit latency targets 10 and 10,000 rules). The
// baseline, measured in the same run, is yaml.v3 decoding the same rule
// set's YAML into yaml.Node and nothing more: the floor for reading YAML.
// "x-yaml-decode" is how many times that floor a parse+validate takes.
func BenchmarkParseValidate(b *testing.B) {
	for _, n := range []int{10, 10000} {
		yamlText, curlyText := ruleset(b, n)
		base := func() {
			var doc yaml.Node
			if err := yaml.Unmarshal(yamlText, &doc); err != nil {
				b.Fatal(err)
			}
		}
		for _, c := range []struct {
			name string
			text []byte
			f    Format
		}{{"yaml", yamlText, FormatYAML}, {"curly", curlyText, FormatCurly}} {
			b.Run(c.name+"/"+strconv.Itoa(n)+"rules", func(b *testing.B) {
				b.SetBytes(int64(len(c.text)))
				b.ReportAllocs()
				pairLoop(b, "x-yaml-decode", base, func() {
					tr, err := Parse(c.text, c.f)
					if err != nil {
						b.Fatal(err)
					}
					cfg, err := tr.Config()
					if err != nil || len(cfg.Firewall.Names["WAN_LOCAL"].Rules) != n {
						b.Fatal(err)
					}
				})
			})
		}
	}
}

// BenchmarkValidate is Config alone on a parsed tree (a commit from the
// shell, where the candidate is already a tree), against the same baseline.
func BenchmarkValidate(b *testing.B) {
	yamlText, _ := ruleset(b, 10000)
	tr, err := Parse(yamlText, FormatYAML)
	if err != nil {
		b.Fatal(err)
	}
	base := func() {
		var doc yaml.Node
		_ = yaml.Unmarshal(yamlText, &doc)
	}
	b.ReportAllocs()
	pairLoop(b, "x-yaml-decode", base, func() {
		if _, err := tr.Config(); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkRender is show configuration (curly) and save (YAML) of 10,000
// rules, against the same baseline.
func BenchmarkRender(b *testing.B) {
	yamlText, _ := ruleset(b, 10000)
	tr, err := Parse(yamlText, FormatYAML)
	if err != nil {
		b.Fatal(err)
	}
	base := func() {
		var doc yaml.Node
		_ = yaml.Unmarshal(yamlText, &doc)
	}
	for _, c := range []struct {
		name string
		f    func() []byte
	}{{"curly/10000rules", func() []byte { return tr.Curly(Redacted) }}, {"yaml/10000rules", func() []byte { return tr.YAML(Revealed) }}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			pairLoop(b, "x-yaml-decode", base, func() { _ = c.f() })
		})
	}
}
