package dataplane

import (
	"net/netip"
	"strconv"
	"testing"
)

func v4flow(src, dst string, proto uint8, sport, dport uint16, ipsec bool) flow {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	return flow{proto: proto, src4: be32(s[:]), dst4: be32(d[:]), sport: sport, dport: dport,
		hasPorts: proto == protoUDP || proto == protoTCP, ipsec: ipsec}
}

func v6flow(src, dst string, proto uint8, dport uint16) flow {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	return flow{v6: true, proto: proto, src6: [2]uint64{be64(s[:8]), be64(s[8:])},
		dst6: [2]uint64{be64(d[:8]), be64(d[8:])}, dport: dport, hasPorts: true}
}

// seedRules is the seed's rule 10 (accept udp dport 1701 with match-ipsec),
// default drop: the policy sluice exists to enforce.
func seedRules(t testing.TB) *RuleSet {
	t.Helper()
	rs, err := CompileRuleSet("WAN_LOCAL", []Rule{{
		Number: 10, Accept: true, Protocol: protoUDP,
		Destination: AddrMatch{Ports: []PortRange{{1701, 1701}}},
		IPsec:       IPsecIn,
	}}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestSeedRule(t *testing.T) {
	rs := seedRules(t)
	tests := []struct {
		name       string
		f          flow
		wantIdx    int
		wantAccept bool
	}{
		{"l2tp in ipsec", v4flow("10.0.0.2", "10.0.0.1", protoUDP, 1701, 1701, true), 0, true},
		{"l2tp cleartext", v4flow("10.0.0.2", "10.0.0.1", protoUDP, 1701, 1701, false), -1, false},
		{"dns in ipsec", v4flow("10.0.0.2", "10.0.0.1", protoUDP, 5353, 53, true), -1, false},
		{"tcp 1701 in ipsec", v4flow("10.0.0.2", "10.0.0.1", protoTCP, 1, 1701, true), -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, acc := rs.eval(&tt.f)
			if idx != tt.wantIdx || acc != tt.wantAccept {
				t.Errorf("eval = (%d, %v), want (%d, %v)", idx, acc, tt.wantIdx, tt.wantAccept)
			}
		})
	}
}

func TestRuleMatching(t *testing.T) {
	rs, err := CompileRuleSet("T", []Rule{
		{Number: 30, Accept: true, AnyProtocol: true, Source: AddrMatch{Prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}}},
		{Number: 5, Accept: false, Protocol: protoUDP, Source: AddrMatch{Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}},
		{Number: 10, Accept: true, Protocol: protoUDP, Destination: AddrMatch{Ports: []PortRange{{500, 500}, {4000, 4600}}}},
		{Number: 20, Accept: true, AnyProtocol: true, Source: AddrMatch{Negate: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, IPsec: IPsecNone},
	}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		f       flow
		wantNum int // -1: default
		accept  bool
	}{
		{"rule 5 wins by number", v4flow("192.0.2.9", "10.0.0.1", protoUDP, 1, 500, false), 5, false},
		{"port list first", v4flow("10.1.1.1", "10.0.0.1", protoUDP, 1, 500, false), 10, true},
		{"port range", v4flow("10.1.1.1", "10.0.0.1", protoUDP, 1, 4500, false), 10, true},
		{"range edge out", v4flow("10.1.1.1", "10.0.0.1", protoUDP, 1, 4601, false), -1, false},
		{"negated source, cleartext", v4flow("172.16.0.1", "10.0.0.1", protoTCP, 1, 80, false), 20, true},
		{"negated source, but ipsec", v4flow("172.16.0.1", "10.0.0.1", protoTCP, 1, 80, true), -1, false},
		{"negated source inside prefix", v4flow("10.9.9.9", "10.0.0.1", protoTCP, 1, 80, false), -1, false},
		{"v6 prefix", v6flow("2001:db8::1", "2001:db8::2", protoUDP, 9), 30, true},
		{"v6 outside prefix, v4-only negation does not match v6", v6flow("2001:db9::1", "2001:db8::2", protoUDP, 9), -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, acc := rs.eval(&tt.f)
			got := -1
			if idx >= 0 {
				n, _ := rs.RuleCounter(idx)
				got = int(n)
			}
			if got != tt.wantNum || acc != tt.accept {
				t.Errorf("eval = rule %d accept %v, want rule %d accept %v", got, acc, tt.wantNum, tt.accept)
			}
		})
	}
}

func TestCompileCarriesCounters(t *testing.T) {
	a := seedRules(t)
	_, c := a.RuleCounter(0)
	c.Add(3, 300)
	a.Default.Add(1, 10)
	b, err := CompileRuleSet("WAN_LOCAL", []Rule{{Number: 10, Accept: true, AnyProtocol: true}, {Number: 20}}, false, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, c2 := b.RuleCounter(0); c2 != c {
		t.Error("rule 10's counter was not carried over")
	}
	if p, _ := b.Default.Load(); p != 1 {
		t.Errorf("default counter packets = %d, want 1", p)
	}
	if _, c3 := b.RuleCounter(1); c3 == c {
		t.Error("new rule 20 shares rule 10's counter")
	}
	if _, err := CompileRuleSet("X", []Rule{{Number: 1}, {Number: 1}}, false, nil); err == nil {
		t.Error("duplicate rule numbers compiled")
	}
}

func TestRuleEvalNoAllocs(t *testing.T) {
	rs := seedRules(t)
	f := v4flow("10.0.0.2", "10.0.0.1", protoUDP, 1701, 1701, true)
	if a := testing.AllocsPerRun(1000, func() { rs.eval(&f) }); a != 0 {
		t.Fatalf("allocs = %v, want 0", a)
	}
}

func BenchmarkRuleEval(b *testing.B) {
	for _, n := range []int{1, 10, 1000} {
		var rules []Rule
		for i := 0; i < n-1; i++ {
			rules = append(rules, Rule{Number: uint32(i + 1), Protocol: protoTCP, Destination: AddrMatch{Ports: []PortRange{{uint16(i + 2000), uint16(i + 2000)}}}})
		}
		rules = append(rules, Rule{Number: uint32(n + 1), Accept: true, Protocol: protoUDP, Destination: AddrMatch{Ports: []PortRange{{1701, 1701}}}, IPsec: IPsecIn})
		rs, err := CompileRuleSet("B", rules, false, nil)
		if err != nil {
			b.Fatal(err)
		}
		f := v4flow("10.0.0.2", "10.0.0.1", protoUDP, 1701, 1701, true)
		b.Run(strconv.Itoa(n)+"rules", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rs.eval(&f)
			}
		})
	}
}
