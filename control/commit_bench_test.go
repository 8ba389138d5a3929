package control

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/control/config"
	"github.com/sluicenet/sluice/dataplane"
)

// rulesYAML is a configuration whose ruleset WAN_LOCAL has n rules: the
// seed's rule 10, then rules matching TCP ports; rule 11's port is port,
// so two configurations can differ in one rule.
func rulesYAML(n, port int) string {
	var b strings.Builder
	b.WriteString("interfaces:\n  eth0: {driver: mem, address: [10.99.0.1]}\n")
	b.WriteString("firewall:\n  name:\n    WAN_LOCAL:\n      default-action: drop\n      rule:\n")
	b.WriteString("        10: {action: accept, protocol: udp, destination: {port: 1701}, ipsec: match-ipsec}\n")
	for i := 1; i < n; i++ {
		p := 1 + i%65535
		if i == 1 {
			p = port
		}
		fmt.Fprintf(&b, "        %d: {action: drop, protocol: tcp, destination: {port: %d}}\n", 10+i, p)
	}
	b.WriteString("  interface:\n    eth0: {local: WAN_LOCAL}\n")
	return b.String()
}

// BenchmarkCommit/rules=N measures a commit that changes one rule of an
// N-rule ruleset: validate the whole tree, compile, publish, record. The
// same-run baseline is validation alone ((*config.Tree).Config) of the
// same tree, interleaved in the same loop so that shared-CPU noise hits
// both; "x-validate" is commit time over validation time.
func BenchmarkCommit(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			text := rulesYAML(n, 2000)
			trees := [2]*config.Tree{mustTree(b, text), mustTree(b, rulesYAML(n, 3000))}
			b.SetBytes(int64(len(text))) // configuration committed per commit
			c := NewController(dataplane.New(), Options{})
			if _, err := c.Commit(trees[0], "bench", ""); err != nil {
				b.Fatal(err)
			}
			var commitT, validT time.Duration
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				t0 := time.Now()
				if _, err := trees[i%2].Config(); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, err := c.Commit(trees[i%2], "bench", ""); err != nil {
					b.Fatal(err)
				}
				commitT += time.Since(t1)
				validT += t1.Sub(t0)
			}
			b.ReportMetric(float64(commitT.Nanoseconds())/float64(i), "commit-ns")
			b.ReportMetric(float64(validT.Nanoseconds())/float64(i), "validate-ns")
			b.ReportMetric(float64(commitT)/float64(validT), "x-validate")
		})
	}
}
