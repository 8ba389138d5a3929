// Package control is sluice's control plane: it turns a validated
// configuration into the dataplane's Tables, keeps the runtime objects whose
// state must survive a commit (SAs, counters), publishes snapshots without
// stalling workers, drains the workers' punt queues, and serves operators
// (API, metrics, stats).
package control

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"sort"

	"github.com/sluicenet/sluice/control/config"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/ipsec"
)

// BuiltinRuleSet names the ruleset sluice applies to an interface the
// configuration gives no `firewall interface IF local` ruleset: the seed's
// rule 10 (accept udp destination port 1701 with ipsec match-ipsec) and
// default-action drop. An appliance that exists to refuse cleartext L2TP
// refuses it out of the box.
const BuiltinRuleSet = "sluice-default"

// builtinRules is BuiltinRuleSet's content.
func builtinRules() []dataplane.Rule {
	return []dataplane.Rule{{
		Number: 10, Accept: true, Protocol: 17,
		Destination: dataplane.AddrMatch{Ports: []dataplane.PortRange{{Lo: 1701, Hi: 1701}}},
		IPsec:       dataplane.IPsecIn,
	}}
}

// ErrNoChanges is returned by Prepare when the new configuration compiles to
// what is already published.
var ErrNoChanges = errors.New("no changes")

// Builder compiles configurations into Tables. It remembers what it built
// last so that a commit reuses every runtime object whose configuration did
// not change: an unchanged SA keeps its replay window, sequence number and
// counters; a rule or session keeps its counters. Not safe for concurrent
// use: the control plane serialises commits.
type Builder struct {
	sadb     *ipsec.SADB
	inbound  map[string]*ipsec.InboundSA
	outbound map[string]*ipsec.OutboundSA
	rulesets map[string]*dataplane.RuleSet
	sessions map[uint32]*dataplane.Session
	// dynamic holds the sessions the L2TP network server negotiated, as
	// last published (see l2tpdyn.go). A commit keeps them beside the
	// static ones; sessions stays static only (operator views list the
	// dynamic ones through L2TPInfo).
	dynamic map[uint32]*dataplane.Session
	cfg     *config.Config
	opts    []ipsec.Option
	clock   func() int64 // SA birth time, in the workers' clock
}

// NewBuilder returns a builder with an empty SA database. opts are applied
// to every SA it creates (e.g. ipsec.WithExpiryHook).
func NewBuilder(opts ...ipsec.Option) *Builder {
	return &Builder{
		sadb:     ipsec.NewSADB(),
		inbound:  map[string]*ipsec.InboundSA{},
		outbound: map[string]*ipsec.OutboundSA{},
		rulesets: map[string]*dataplane.RuleSet{},
		sessions: map[uint32]*dataplane.Session{},
		dynamic:  map[uint32]*dataplane.Session{},
		opts:     opts,
		clock:    dataplane.Now,
	}
}

// SetClock sets the clock SAs are born in (default dataplane.Now, the
// workers' clock): time lifetimes count from the commit that installs an
// SA. Offline replay uses the capture's clock.
func (b *Builder) SetClock(clock func() int64) { b.clock = clock }

// Plan is a compiled configuration not yet applied: building it has no side
// effect, so a commit that fails part-way changes nothing.
type Plan struct {
	cfg      *config.Config
	tables   *dataplane.Tables
	inbound  map[string]*ipsec.InboundSA
	outbound map[string]*ipsec.OutboundSA
	rulesets map[string]*dataplane.RuleSet
	sessions map[uint32]*dataplane.Session
	dynamic  map[uint32]*dataplane.Session
	added    []*ipsec.InboundSA // new or changed inbound SAs to put in the SADB
	removed  []*ipsec.InboundSA // inbound SAs no longer configured (or replaced)
}

// Tables returns the snapshot the plan will publish.
func (p *Plan) Tables() *dataplane.Tables { return p.tables }

// Prepare compiles cfg. It returns every problem it finds, joined.
func (b *Builder) Prepare(cfg *config.Config) (*Plan, error) {
	p := &Plan{
		cfg:      cfg,
		inbound:  map[string]*ipsec.InboundSA{},
		outbound: map[string]*ipsec.OutboundSA{},
		rulesets: map[string]*dataplane.RuleSet{},
		sessions: map[uint32]*dataplane.Session{},
		dynamic:  map[uint32]*dataplane.Session{},
	}
	var errs []error
	// SAs created by this commit are born now: time lifetimes count from
	// the commit that installs them, not from their first packet.
	saOpts := append(append([]ipsec.Option(nil), b.opts...), ipsec.WithBirth(b.clock()))
	for _, name := range sortedKeys(cfg.SAs) {
		spec := cfg.SAs[name]
		spec.Name = name
		if spec.Direction == ipsec.Out {
			if old := b.outbound[name]; old != nil && sameSA(old.Spec(), spec) {
				p.outbound[name] = old
				continue
			}
			sa, err := ipsec.NewOutboundSA(spec, saOpts...)
			if err != nil {
				errs = append(errs, fmt.Errorf("ipsec sa %s: %w", name, err))
				continue
			}
			p.outbound[name] = sa
			continue
		}
		if old := b.inbound[name]; old != nil && sameSA(old.Spec(), spec) {
			p.inbound[name] = old
			continue
		}
		sa, err := ipsec.NewInboundSA(spec, saOpts...)
		if err != nil {
			errs = append(errs, fmt.Errorf("ipsec sa %s: %w", name, err))
			continue
		}
		p.inbound[name] = sa
		p.added = append(p.added, sa)
	}
	// An SA that is gone leaves the database, unless a new one with the
	// same (SPI, destination) replaces it in place in Apply.
	replaced := map[saKey]bool{}
	for _, sa := range p.added {
		replaced[keyOf(sa.Spec())] = true
	}
	for name, old := range b.inbound {
		if p.inbound[name] != old && !replaced[keyOf(old.Spec())] {
			p.removed = append(p.removed, old)
		}
	}

	for _, name := range sortedKeys(cfg.Firewall.Names) {
		rs, err := compileRuleSet(name, cfg.Firewall.Names[name], b.rulesets[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.rulesets[name] = rs
	}
	builtin, err := dataplane.CompileRuleSet(BuiltinRuleSet, builtinRules(), false, b.rulesets[BuiltinRuleSet])
	if err != nil {
		panic(err) // a constant ruleset that does not compile is a programming error
	}

	t := &dataplane.Tables{SAs: b.sadb, Ifaces: map[string]*dataplane.IfaceTables{}, Sessions: map[uint32]*dataplane.Session{}}
	ifnames := map[string]bool{}
	for n := range cfg.Interfaces {
		ifnames[n] = true
	}
	for n := range cfg.Firewall.Interfaces {
		ifnames[n] = true
	}
	for _, n := range sortedKeys(ifnames) {
		local := builtin
		if rsName, ok := cfg.Firewall.Interfaces[n]; ok && rsName != "" {
			local = p.rulesets[rsName]
			if local == nil {
				errs = append(errs, fmt.Errorf("firewall interface %s local: no ruleset named %s", n, rsName))
				continue
			}
		}
		t.Ifaces[n] = dataplane.NewIfaceTables(n, cfg.Interfaces[n].Address, local)
	}
	t.Default = dataplane.NewIfaceTables("", nil, builtin)
	p.rulesets[BuiltinRuleSet] = builtin

	for _, tid := range sortedKeys(cfg.L2TP.Static) {
		tun := cfg.L2TP.Static[tid]
		var sa *ipsec.InboundSA
		if tun.SA != "" {
			sa = p.inbound[tun.SA]
			if sa == nil {
				errs = append(errs, fmt.Errorf("l2tp static tunnel %d sa: no inbound SA named %s", tid, tun.SA))
				continue
			}
		}
		for _, sid := range sortedKeys(tun.Sessions) {
			ss := tun.Sessions[sid]
			key := dataplane.SessionKey(tid, sid)
			s := &dataplane.Session{TunnelID: tid, SessionID: sid, PeerTunnel: tun.PeerTunnel, PeerSession: ss.PeerSession, SA: sa}
			if old := b.sessions[key]; old != nil {
				s.Counter = old.Counter
			} else {
				s.Counter = new(dataplane.Counter)
			}
			p.sessions[key] = s
			t.Sessions[key] = s
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	b.keepDynamic(p, t)
	p.tables = t
	return p, nil
}

// Apply makes p the running configuration: inbound SAs that are new or
// changed go into the SA database, the snapshot is published, and only then
// are SAs that are gone removed, so that no packet both configurations
// accept is dropped in between (make before break).
func (b *Builder) Apply(p *Plan, dp *dataplane.Dataplane) {
	for _, sa := range p.added {
		b.sadb.Replace(sa) // new, or the same (SPI, destination) with new keys or settings
	}
	dp.Publish(p.tables)
	for _, old := range p.removed {
		spec := old.Spec()
		b.sadb.Remove(spec.SPI, spec.Destination)
	}
	b.inbound, b.outbound, b.rulesets, b.sessions, b.cfg = p.inbound, p.outbound, p.rulesets, p.sessions, p.cfg
	b.dynamic = p.dynamic
}

// Inbound returns the runtime inbound SA named name (nil if none).
func (b *Builder) Inbound(name string) *ipsec.InboundSA { return b.inbound[name] }

// Outbound returns the runtime outbound SA named name (nil if none).
func (b *Builder) Outbound(name string) *ipsec.OutboundSA { return b.outbound[name] }

// SADB returns the SA database workers read.
func (b *Builder) SADB() *ipsec.SADB { return b.sadb }

// Config returns the configuration last applied.
func (b *Builder) Config() *config.Config { return b.cfg }

func compileRuleSet(name string, spec config.RuleSetSpec, prev *dataplane.RuleSet) (*dataplane.RuleSet, error) {
	rules := make([]dataplane.Rule, 0, len(spec.Rules))
	for _, r := range spec.Rules {
		if r.Disable {
			continue
		}
		rules = append(rules, dataplane.Rule{
			Number:      r.Number,
			Accept:      r.Action == config.ActionAccept,
			Protocol:    r.Protocol,
			AnyProtocol: r.AnyProtocol,
			Source:      addrMatch(r.Source),
			Destination: addrMatch(r.Destination),
			IPsec:       ipsecMatch(r.IPsec),
		})
	}
	rs, err := dataplane.CompileRuleSet(name, rules, spec.DefaultAction == config.ActionAccept, prev)
	if err != nil {
		return nil, fmt.Errorf("firewall name %s: %w", name, err)
	}
	return rs, nil
}

func addrMatch(m config.AddrMatch) dataplane.AddrMatch {
	out := dataplane.AddrMatch{Prefixes: m.Prefixes, Negate: m.Negate}
	for _, p := range m.Ports {
		out.Ports = append(out.Ports, dataplane.PortRange{Lo: p.Lo, Hi: p.Hi})
	}
	return out
}

func ipsecMatch(m config.IPsecMatch) dataplane.IPsecMatch {
	switch m {
	case config.MatchIPsec:
		return dataplane.IPsecIn
	case config.MatchNone:
		return dataplane.IPsecNone
	}
	return dataplane.IPsecAny
}

// sameSA reports whether two specs describe the same SA, keys included.
func sameSA(a, b ipsec.SASpec) bool {
	return a.Name == b.Name && a.SPI == b.SPI && a.Direction == b.Direction && a.Mode == b.Mode &&
		a.Source == b.Source && a.Destination == b.Destination && a.Encapsulation == b.Encapsulation &&
		a.SourcePort == b.SourcePort && a.DestinationPort == b.DestinationPort && a.Proposal == b.Proposal &&
		bytes.Equal(a.EncKey, b.EncKey) && bytes.Equal(a.AuthKey, b.AuthKey) && a.ESN == b.ESN &&
		a.ReplayWindow == b.ReplayWindow && a.Pair == b.Pair && a.Life == b.Life
}

// saKey is what the SA database is keyed by.
type saKey struct {
	spi uint32
	dst netip.Addr
}

func keyOf(s ipsec.SASpec) saKey { return saKey{s.SPI, s.Destination} }

func sortedKeys[K string | uint16 | uint32, V any](m map[K]V) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
	return ks
}
