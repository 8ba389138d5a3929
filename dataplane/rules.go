package dataplane

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
)

// IPsecMatch is a rule's condition on how a packet arrived.
type IPsecMatch uint8

// IPsec conditions.
const (
	IPsecAny  IPsecMatch = iota // any packet
	IPsecIn                     // match-ipsec: decrypted from an inbound SA
	IPsecNone                   // match-none: arrived in the clear
)

// PortRange is an inclusive range of L4 ports.
type PortRange struct{ Lo, Hi uint16 }

// AddrMatch is a rule's source or destination condition; empty fields match
// everything.
type AddrMatch struct {
	Prefixes []netip.Prefix // match when the address is in any of these
	Negate   bool           // ...or, when set, in none of these (same family only)
	Ports    []PortRange    // match when the port is in any of these (TCP/UDP only)
}

// Rule is one stateless firewall rule as the control plane hands it over
// (control/config.RuleSpec, converted). Rules are compiled by CompileRuleSet,
// never interpreted per packet.
type Rule struct {
	Number      uint32
	Accept      bool
	Protocol    uint8
	AnyProtocol bool
	Source      AddrMatch
	Destination AddrMatch
	IPsec       IPsecMatch
}

// RuleSet is a compiled ruleset (firewall name NAME): rules in number order,
// first match wins, else the default action. Immutable once compiled; its
// counters are shared with the ruleset it replaced, by rule number.
type RuleSet struct {
	Name          string
	DefaultAccept bool
	rules         []crule
	numbers       []uint32   // rule numbers, in order (operator data)
	counters      []*Counter // per rule, in order
	Default       *Counter   // packets that fell through to the default action
}

// crule is a compiled rule: fixed-width masks, no pointers chased but the
// prefix and port slices, which are usually empty or one element long.
type crule struct {
	anyProto bool
	proto    uint8
	accept   bool
	ipsec    IPsecMatch
	src, dst cmatch
}

type cmatch struct {
	hasAddr bool
	negate  bool
	v4      []pfx4
	v6      []pfx6
	ports   []PortRange
}

type pfx4 struct{ addr, mask uint32 }
type pfx6 struct{ hi, lo, mhi, mlo uint64 }

// flow is what the rule table looks at: the IP packet after decryption (or as
// it arrived, when cleartext), and how it arrived. ipsec is set by the ESP
// step, never read from the packet's bytes.
type flow struct {
	v6       bool
	hasPorts bool
	ipsec    bool
	proto    uint8
	sport    uint16
	dport    uint16
	src4     uint32
	dst4     uint32
	src6     [2]uint64
	dst6     [2]uint64
}

// CompileRuleSet compiles rules (any order; sorted here by number). Counters
// of rules whose number also exists in prev, and prev's default counter, are
// carried over so a commit does not reset statistics. prev may be nil.
func CompileRuleSet(name string, rules []Rule, defaultAccept bool, prev *RuleSet) (*RuleSet, error) {
	sorted := append([]Rule(nil), rules...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Number < sorted[j].Number })
	rs := &RuleSet{Name: name, DefaultAccept: defaultAccept}
	old := map[uint32]*Counter{}
	if prev != nil {
		for i, n := range prev.numbers {
			old[n] = prev.counters[i]
		}
		rs.Default = prev.Default
	}
	if rs.Default == nil {
		rs.Default = new(Counter)
	}
	for i, r := range sorted {
		if i > 0 && sorted[i-1].Number == r.Number {
			return nil, fmt.Errorf("ruleset %s: rule %d defined twice", name, r.Number)
		}
		cr := crule{anyProto: r.AnyProtocol, proto: r.Protocol, accept: r.Accept, ipsec: r.IPsec}
		var err error
		if cr.src, err = compileMatch(r.Source); err != nil {
			return nil, fmt.Errorf("ruleset %s rule %d source: %w", name, r.Number, err)
		}
		if cr.dst, err = compileMatch(r.Destination); err != nil {
			return nil, fmt.Errorf("ruleset %s rule %d destination: %w", name, r.Number, err)
		}
		c := old[r.Number]
		if c == nil {
			c = new(Counter)
		}
		rs.rules = append(rs.rules, cr)
		rs.numbers = append(rs.numbers, r.Number)
		rs.counters = append(rs.counters, c)
	}
	return rs, nil
}

func compileMatch(m AddrMatch) (cmatch, error) {
	cm := cmatch{negate: m.Negate, hasAddr: len(m.Prefixes) > 0}
	for _, p := range m.Prefixes {
		if !p.IsValid() {
			return cm, fmt.Errorf("invalid prefix")
		}
		p = p.Masked()
		a := p.Addr()
		if a.Is4() || a.Is4In6() {
			a = a.Unmap()
			bits := p.Bits()
			if a.Is4() && p.Addr().Is4In6() {
				bits -= 96
			}
			b := a.As4()
			mask := uint32(0)
			if bits > 0 {
				mask = ^uint32(0) << (32 - bits)
			}
			cm.v4 = append(cm.v4, pfx4{addr: binary.BigEndian.Uint32(b[:]) & mask, mask: mask})
			continue
		}
		b := a.As16()
		hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
		mhi, mlo := mask128(p.Bits())
		cm.v6 = append(cm.v6, pfx6{hi: hi & mhi, lo: lo & mlo, mhi: mhi, mlo: mlo})
	}
	for _, r := range m.Ports {
		if r.Lo > r.Hi {
			return cm, fmt.Errorf("port range %d-%d is reversed", r.Lo, r.Hi)
		}
	}
	cm.ports = append([]PortRange(nil), m.Ports...)
	return cm, nil
}

func mask128(bits int) (hi, lo uint64) {
	switch {
	case bits <= 0:
		return 0, 0
	case bits < 64:
		return ^uint64(0) << (64 - bits), 0
	case bits == 64:
		return ^uint64(0), 0
	case bits < 128:
		return ^uint64(0), ^uint64(0) << (128 - bits)
	}
	return ^uint64(0), ^uint64(0)
}

// Len returns the number of rules.
func (rs *RuleSet) Len() int { return len(rs.rules) }

// RuleCounter returns the number and counter of the i-th rule in order.
func (rs *RuleSet) RuleCounter(i int) (number uint32, c *Counter) {
	return rs.numbers[i], rs.counters[i]
}

// Hot path below: no allocation, no locks, no logging.

// eval returns the index of the first rule that matches f, or -1 when the
// default action applies, and whether the packet is accepted.
func (rs *RuleSet) eval(f *flow) (idx int, accept bool) {
	for i := range rs.rules {
		r := &rs.rules[i]
		if !r.anyProto && r.proto != f.proto {
			continue
		}
		switch r.ipsec {
		case IPsecIn:
			if !f.ipsec {
				continue
			}
		case IPsecNone:
			if f.ipsec {
				continue
			}
		}
		if !r.src.match(f, f.src4, &f.src6, f.sport) || !r.dst.match(f, f.dst4, &f.dst6, f.dport) {
			continue
		}
		return i, r.accept
	}
	return -1, rs.DefaultAccept
}

func (m *cmatch) match(f *flow, a4 uint32, a6 *[2]uint64, port uint16) bool {
	if m.hasAddr {
		in := false
		if f.v6 {
			if len(m.v6) == 0 {
				return false // only the other family listed: not a match, negated or not
			}
			for _, p := range m.v6 {
				if a6[0]&p.mhi == p.hi && a6[1]&p.mlo == p.lo {
					in = true
					break
				}
			}
		} else {
			if len(m.v4) == 0 {
				return false
			}
			for _, p := range m.v4 {
				if a4&p.mask == p.addr {
					in = true
					break
				}
			}
		}
		if in == m.negate {
			return false
		}
	}
	if len(m.ports) > 0 {
		if !f.hasPorts {
			return false
		}
		ok := false
		for _, r := range m.ports {
			if port >= r.Lo && port <= r.Hi {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
