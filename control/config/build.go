package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sluicenet/sluice/ipsec"
)

// Config validates the whole tree and returns its typed view. Every problem
// is reported, not only the first: the error joins one *PathError per
// problem (list them with PathErrors), each with the node's path, the
// reason and, for a tree read from text, the line. Absent leaves take the
// schema's defaults. On error the Config is nil.
func (t *Tree) Config() (*Config, error) {
	b := &builder{}
	cfg := &Config{
		Interfaces: map[string]InterfaceSpec{},
		SAs:        map[string]ipsec.SASpec{},
		Firewall:   FirewallSpec{Names: map[string]RuleSetSpec{}, Interfaces: map[string]string{}},
		L2TP:       L2TPSpec{Static: map[uint16]TunnelSpec{}},
	}
	top := view{n: t.root, s: root}
	b.required(t.root)
	b.daemon(top, cfg)
	b.interfaces(top, cfg)
	b.sas(top, cfg)
	b.firewall(top, cfg)
	b.l2tp(top, cfg)
	b.references(top, cfg)
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	return cfg, nil
}

// builder collects problems while the typed view is built.
type builder struct {
	errs []error
}

// view is a node of the tree that may be absent (n == nil), with its schema,
// so defaults can be read under a container nobody wrote.
type view struct {
	n *node
	s *Schema
}

func (v view) path() []string {
	if v.n != nil {
		return v.n.path()
	}
	return v.s.Path()
}

// child returns the container child named name.
func (v view) child(name string) view {
	c := view{s: v.s.Child(name)}
	if v.n != nil {
		c.n = v.n.kid(name)
	}
	return c
}

// instances returns the instances of the tag child named name.
func (v view) instances(name string) []view {
	s := v.s.Child(name)
	if v.n == nil {
		return nil
	}
	kw := v.n.kid(name)
	if kw == nil {
		return nil
	}
	out := make([]view, len(kw.kids))
	for i, in := range kw.kids {
		out[i] = view{n: in, s: s}
	}
	return out
}

// leaf returns the leaf node named name, nil when it is not set.
func (v view) leaf(name string) *node {
	if v.n == nil {
		return nil
	}
	return v.n.kid(name)
}

// str returns a leaf's value, or its default.
func (v view) str(name string) string {
	if l := v.leaf(name); l != nil && len(l.vals) > 0 {
		return l.vals[0]
	}
	return v.s.Child(name).Default
}

func (v view) has(name string) bool { return v.leaf(name) != nil }

// fail records a problem with the leaf name under v (or v itself when name
// is empty), placed at the leaf's line when it was written, else at v's.
func (b *builder) fail(v view, name string, format string, args ...any) {
	pe := &PathError{Path: v.path(), Err: fmt.Errorf(format, args...)}
	if name != "" {
		pe.Path = append(pe.Path, name)
	}
	at := v.n
	if l := v.leaf(name); name != "" && l != nil {
		at = l
	}
	if at != nil {
		pe.Line, pe.Col = at.line, at.col
	}
	b.errs = append(b.errs, pe)
}

// required reports every Required leaf missing from an instance or
// container that exists in the tree.
func (b *builder) required(n *node) {
	if n.holdsChildren() {
		for _, c := range n.sch.Children {
			if c.Required && n.kid(c.Name) == nil {
				b.fail(view{n: n, s: n.sch}, c.Name, "required")
			}
		}
	}
	for _, k := range n.kids {
		b.required(k)
	}
}

// The helpers below read canonical values the tree has already checked;
// an error from them means the tree was built around the schema, and is
// reported rather than trusted.

func (b *builder) uint(v view, name string) uint64 {
	s := v.str(name)
	if s == "" {
		return 0
	}
	n, err := parseDecimal(s)
	if err != nil {
		b.fail(v, name, "%v", err)
	}
	return n
}

func (b *builder) duration(v view, name string) time.Duration {
	s := v.str(name)
	if s == "" {
		return 0
	}
	d, err := parseDuration(s)
	if err != nil {
		b.fail(v, name, "%v", err)
	}
	return d
}

func (b *builder) bytes(v view, name string) uint64 {
	s := v.str(name)
	if s == "" {
		return 0
	}
	n, err := parseBytes(s)
	if err != nil {
		b.fail(v, name, "%v", err)
	}
	return n
}

func (b *builder) addr(v view, name string) netip.Addr {
	s := v.str(name)
	if s == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		b.fail(v, name, "%q is not an IP address", s)
	}
	return a
}

func (b *builder) key(v view, name string) ipsec.Key {
	s := v.str(name)
	if s == "" {
		return nil
	}
	k, err := ipsec.ParseKey(s)
	if err != nil {
		b.fail(v, name, "%v", err)
	}
	return k
}

// indexList expands "0-3,6" into its numbers, refusing repeats.
func (b *builder) indexList(v view, name string) []int {
	s := v.str(name)
	sch := v.s.Child(name)
	if s == "" || contains(sch.Values, s) {
		return nil
	}
	rs, err := parseIndexList(s, sch.Min, sch.max())
	if err != nil {
		b.fail(v, name, "%v", err)
		return nil
	}
	var out []int
	seen := map[uint64]bool{}
	for _, r := range rs {
		for i := r.lo; i <= r.hi; i++ {
			if seen[i] {
				b.fail(v, name, "%d is listed twice", i)
				return nil
			}
			seen[i] = true
			out = append(out, int(i))
		}
	}
	return out
}

func (b *builder) daemon(top view, cfg *Config) {
	lg := top.child("log")
	cfg.Log = LogSpec{Format: lg.str("format"), Level: lg.str("level")}
	api := top.child("api")
	cfg.API = APISpec{Socket: api.str("socket"), Group: api.str("group")}
	cfg.Metrics = MetricsSpec{Listen: top.child("metrics").str("listen")}

	dp := top.child("dataplane")
	cfg.Dataplane.Idle = dp.str("idle")
	if w := dp.str("workers"); w != "auto" {
		cfg.Dataplane.Workers = int(b.uint(dp, "workers"))
	}
	cfg.Dataplane.CPUs = b.indexList(dp, "cpus")
	if n := len(cfg.Dataplane.CPUs); n > 0 && cfg.Dataplane.Workers > n {
		b.fail(dp, "cpus", "%d CPUs listed for %d workers; list one per worker", n, cfg.Dataplane.Workers)
	}
}

func (b *builder) interfaces(top view, cfg *Config) {
	owner := map[netip.Addr]string{}
	for _, in := range top.instances("interfaces") {
		spec := InterfaceSpec{
			Name:    in.n.name,
			Driver:  in.str("driver"),
			XDPMode: in.str("xdp-mode"),
			Queues:  b.indexList(in, "queues"),
		}
		if in.has("xdp-mode") && spec.Driver != DriverAFXDP {
			b.fail(in, "xdp-mode", "only for driver %s (driver is %s)", DriverAFXDP, spec.Driver)
		}
		if l := in.leaf("address"); l != nil {
			for _, s := range l.vals {
				a, err := netip.ParseAddr(s)
				if err != nil {
					b.fail(in, "address", "%q is not an IP address", s)
					continue
				}
				if o, dup := owner[a]; dup {
					b.fail(in, "address", "%s is also an address of interface %s", a, o)
				}
				owner[a] = spec.Name
				spec.Address = append(spec.Address, a)
			}
		}
		cfg.Interfaces[spec.Name] = spec
	}
}

func (b *builder) sas(top view, cfg *Config) {
	for _, v := range top.child("ipsec").instances("sa") {
		sa := ipsec.SASpec{Name: v.n.name}
		if spi, err := parseHex32(v.str("spi")); err == nil {
			sa.SPI = spi
		}
		if v.str("direction") == "out" {
			sa.Direction = ipsec.Out
		}
		if v.str("mode") == "tunnel" {
			sa.Mode = ipsec.Tunnel
		}
		sa.Source = b.addr(v, "source")
		sa.Destination = b.addr(v, "destination")
		if sa.Source.IsValid() && sa.Destination.IsValid() && sa.Source.Is4() != sa.Destination.Is4() {
			b.fail(v, "destination", "%s and source %s are not of one address family", sa.Destination, sa.Source)
		}
		if v.str("encapsulation") == "udp" {
			sa.Encapsulation = ipsec.EncapUDP
			sa.SourcePort = uint16(b.uint(v, "source-port"))
			sa.DestinationPort = uint16(b.uint(v, "destination-port"))
		} else {
			for _, p := range []string{"source-port", "destination-port"} {
				if v.has(p) {
					b.fail(v, p, "only with encapsulation udp (RFC 3948)")
				}
			}
		}
		sa.ESN = v.str("esn") == "true"
		sa.ReplayWindow = uint32(b.uint(v, "replay-window"))
		sa.Pair = v.str("pair")
		sa.EncKey = b.key(v, "enc-key")
		sa.AuthKey = b.key(v, "auth-key")
		if p := v.str("proposal"); p != "" {
			prop, err := ipsec.ParseProposal(p)
			if err != nil {
				b.fail(v, "proposal", "%v", err)
			}
			sa.Proposal = prop
			b.keyLengths(v, sa)
		}
		life := v.child("life")
		sa.Life = ipsec.Lifetime{
			RekeyTime:    b.duration(life, "rekey-time"),
			LifeTime:     b.duration(life, "life-time"),
			RekeyBytes:   b.bytes(life, "rekey-bytes"),
			LifeBytes:    b.bytes(life, "life-bytes"),
			RekeyPackets: b.uint(life, "rekey-packets"),
			LifePackets:  b.uint(life, "life-packets"),
		}
		b.softBelowHard(life, "rekey-time", "life-time", uint64(sa.Life.RekeyTime), uint64(sa.Life.LifeTime))
		b.softBelowHard(life, "rekey-bytes", "life-bytes", sa.Life.RekeyBytes, sa.Life.LifeBytes)
		b.softBelowHard(life, "rekey-packets", "life-packets", sa.Life.RekeyPackets, sa.Life.LifePackets)
		cfg.SAs[sa.Name] = sa
	}
}

// keyLengths checks the keys against the proposal (RFC 4106 section 8.1 and
// RFC 7634 section 4 for the AEAD salt). Messages give lengths, never keys.
func (b *builder) keyLengths(v view, sa ipsec.SASpec) {
	enc, auth := sa.Proposal.KeyLens()
	if sa.EncKey != nil && len(sa.EncKey) != enc {
		if sa.Proposal.AEAD() {
			b.fail(v, "enc-key", "want %d bytes (%d-byte key + 4-byte salt) for %s, got %d", enc, enc-4, sa.Proposal, len(sa.EncKey))
		} else {
			b.fail(v, "enc-key", "want %d bytes for %s, got %d", enc, sa.Proposal, len(sa.EncKey))
		}
	}
	switch {
	case auth == 0 && sa.AuthKey != nil:
		b.fail(v, "auth-key", "%s is an AEAD proposal: it takes no auth-key", sa.Proposal)
	case auth > 0 && sa.AuthKey == nil:
		b.fail(v, "auth-key", "required by %s", sa.Proposal)
	case auth > 0 && len(sa.AuthKey) != auth:
		b.fail(v, "auth-key", "want %d bytes for %s, got %d", auth, sa.Proposal, len(sa.AuthKey))
	}
}

func (b *builder) softBelowHard(life view, soft, hard string, s, h uint64) {
	if s != 0 && h != 0 && s >= h {
		b.fail(life, soft, "%s must be less than %s %s", life.str(soft), hard, life.str(hard))
	}
}

func (b *builder) firewall(top view, cfg *Config) {
	fw := top.child("firewall")
	for _, v := range fw.instances("name") {
		rs := RuleSetSpec{Name: v.n.name, Description: v.str("description")}
		if v.str("default-action") == "accept" {
			rs.DefaultAction = ActionAccept
		}
		for _, r := range v.instances("rule") {
			rs.Rules = append(rs.Rules, b.rule(r))
		}
		cfg.Firewall.Names[rs.Name] = rs
	}
	for _, v := range fw.instances("interface") {
		if v.has("local") {
			cfg.Firewall.Interfaces[v.n.name] = v.str("local")
		}
	}
}

func (b *builder) rule(v view) RuleSpec {
	n, _ := strconv.ParseUint(v.n.name, 10, 32)
	r := RuleSpec{
		Number:      uint32(n),
		Description: v.str("description"),
		Disable:     v.str("disable") == "true",
	}
	if v.str("action") == "accept" {
		r.Action = ActionAccept
	}
	proto, any, err := parseProtocol(v.str("protocol"))
	if err != nil {
		b.fail(v, "protocol", "%v", err)
	}
	r.Protocol, r.AnyProtocol = proto, any
	r.Source = b.match(v.child("source"), r)
	r.Destination = b.match(v.child("destination"), r)
	switch v.str("ipsec") {
	case "match-ipsec":
		r.IPsec = MatchIPsec
	case "match-none":
		r.IPsec = MatchNone
	}
	return r
}

// match builds a source or destination condition.
func (b *builder) match(v view, r RuleSpec) AddrMatch {
	var m AddrMatch
	if l := v.leaf("address"); l != nil {
		for i, s := range l.vals {
			p, neg, err := parseAddrMatch(s)
			if err != nil {
				b.fail(v, "address", "%v", err)
				continue
			}
			if i > 0 && neg != m.Negate {
				b.fail(v, "address", "mixes negated (!) and plain addresses; a list is all one or all the other")
			}
			m.Negate = neg
			m.Prefixes = append(m.Prefixes, p)
		}
	}
	if v.has("port") {
		rs, err := parsePorts(v.str("port"))
		if err != nil {
			b.fail(v, "port", "%v", err)
		}
		for _, x := range rs {
			m.Ports = append(m.Ports, PortRange{Lo: uint16(x.lo), Hi: uint16(x.hi)})
		}
		if r.AnyProtocol || (r.Protocol != 6 && r.Protocol != 17) {
			proto := "all"
			if !r.AnyProtocol {
				proto = strconv.Itoa(int(r.Protocol))
			}
			b.fail(v, "port", "needs protocol tcp or udp (protocol is %s)", proto)
		}
	}
	return m
}

func (b *builder) l2tp(top view, cfg *Config) {
	lt := top.child("l2tp")
	lns := lt.child("lns")
	rate, err := strconv.ParseFloat(lns.str("sccrq-rate"), 64)
	if err != nil {
		b.fail(lns, "sccrq-rate", "%v", err)
	}
	cfg.L2TP.LNS = LNSSpec{
		Hostname:             lns.str("hostname"),
		HelloInterval:        b.duration(lns, "hello-interval"),
		Secret:               b.key(lns, "secret"),
		ReceiveWindow:        uint16(b.uint(lns, "receive-window")),
		MaxTunnels:           int(b.uint(lns, "max-tunnels")),
		MaxTunnelsPerPeer:    int(b.uint(lns, "max-tunnels-per-peer")),
		MaxSessionsPerTunnel: int(b.uint(lns, "max-sessions-per-tunnel")),
		MaxSessions:          int(b.uint(lns, "max-sessions")),
		SCCRQRate:            rate,
		RetransmitTimeout:    b.duration(lns, "retransmit-timeout"),
		RetransmitCap:        b.duration(lns, "retransmit-cap"),
		MaxRetransmits:       int(b.uint(lns, "max-retransmits")),
	}
	l := cfg.L2TP.LNS
	if rate == 0 {
		b.fail(lns, "sccrq-rate", "must be more than 0 (no tunnel could ever start)")
	}
	if l.RetransmitTimeout <= 0 {
		b.fail(lns, "retransmit-timeout", "must be more than 0")
	}
	if l.RetransmitCap < 8*time.Second {
		b.fail(lns, "retransmit-cap", "%s is less than 8s (RFC 2661 section 5.8: the cap must be no less than 8 seconds)", lns.str("retransmit-cap"))
	}
	if l.RetransmitTimeout > l.RetransmitCap {
		b.fail(lns, "retransmit-timeout", "%s is more than retransmit-cap %s", lns.str("retransmit-timeout"), lns.str("retransmit-cap"))
	}
	if l.MaxTunnelsPerPeer > l.MaxTunnels {
		b.fail(lns, "max-tunnels-per-peer", "%d is more than max-tunnels %d", l.MaxTunnelsPerPeer, l.MaxTunnels)
	}
	if l.MaxSessionsPerTunnel > l.MaxSessions {
		b.fail(lns, "max-sessions-per-tunnel", "%d is more than max-sessions %d", l.MaxSessionsPerTunnel, l.MaxSessions)
	}

	for _, tv := range lt.child("static").instances("tunnel") {
		id, _ := strconv.ParseUint(tv.n.name, 10, 16)
		tun := TunnelSpec{
			ID:         uint16(id),
			PeerTunnel: uint16(b.uint(tv, "peer-tunnel")),
			SA:         tv.str("sa"),
			Sessions:   map[uint16]SessionSpec{},
		}
		for _, sv := range tv.instances("session") {
			sid, _ := strconv.ParseUint(sv.n.name, 10, 16)
			tun.Sessions[uint16(sid)] = SessionSpec{ID: uint16(sid), PeerSession: uint16(b.uint(sv, "peer-session"))}
		}
		cfg.L2TP.Static[tun.ID] = tun
	}
}

// joinNames lists names for a message, in the order given.
func joinNames(names []string) string { return strings.Join(names, ", ") }
