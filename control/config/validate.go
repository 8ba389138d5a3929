package config

import (
	"net/netip"
	"sort"

	"github.com/sluicenet/sluice/ipsec"
)

// references checks the rules that tie nodes together: SA pairs, SPI
// uniqueness, addresses, rule-set and SA names used elsewhere. It walks the
// tree in order, so problems come out in the order they were written.
func (b *builder) references(top view, cfg *Config) {
	b.saReferences(top, cfg)

	fw := top.child("firewall")
	for _, v := range fw.instances("interface") {
		if len(cfg.Interfaces) > 0 {
			if _, ok := cfg.Interfaces[v.n.name]; !ok {
				b.fail(v, "", "no interface named %s under interfaces (have: %s)", v.n.name, joinNames(sortedKeys(cfg.Interfaces)))
			}
		}
		if !v.has("local") {
			continue
		}
		if name := v.str("local"); name != "" {
			if _, ok := cfg.Firewall.Names[name]; !ok {
				b.fail(v, "local", "no ruleset named %s", name)
			}
		}
	}

	for _, tv := range top.child("l2tp").child("static").instances("tunnel") {
		name := tv.str("sa")
		if name == "" {
			continue
		}
		sa, ok := cfg.SAs[name]
		switch {
		case !ok:
			b.fail(tv, "sa", "no inbound SA named %s", name)
		case sa.Direction != ipsec.In:
			b.fail(tv, "sa", "%s is an outbound SA; a tunnel is bound to the inbound SA its traffic arrives in", name)
		}
	}
}

func (b *builder) saReferences(top view, cfg *Config) {
	// The box's addresses, when any interface lists them: an inbound SA to
	// another address could never match (the dataplane counts not-for-us).
	ours := map[netip.Addr]bool{}
	for _, in := range cfg.Interfaces {
		for _, a := range in.Address {
			ours[a] = true
		}
	}
	type spiDst struct {
		spi uint32
		dst netip.Addr
		dir ipsec.Direction
	}
	first := map[spiDst]string{}
	for _, v := range top.child("ipsec").instances("sa") {
		sa := cfg.SAs[v.n.name]
		if pair := v.str("pair"); pair != "" {
			other, ok := cfg.SAs[pair]
			switch {
			case sa.Direction == ipsec.Out:
				b.fail(v, "pair", "only inbound SAs have a pair (this one is outbound)")
			case !ok:
				b.fail(v, "pair", "no SA named %s", pair)
			case other.Direction != ipsec.Out:
				b.fail(v, "pair", "%s is not an outbound SA", pair)
			}
		}
		if sa.SPI != 0 && sa.Destination.IsValid() {
			// RFC 4301 section 4.1: an inbound SA is found by SPI (and
			// destination); two with one key could not be told apart. The
			// same goes for outbound SAs as the peer sees them.
			k := spiDst{sa.SPI, sa.Destination, sa.Direction}
			if o, dup := first[k]; dup {
				b.fail(v, "spi", "0x%08x to %s is already used by %s SA %s", sa.SPI, sa.Destination, dirWord(sa.Direction), o)
			} else {
				first[k] = sa.Name
			}
		}
		if sa.Direction == ipsec.In && len(ours) > 0 && sa.Destination.IsValid() && !ours[sa.Destination] {
			b.fail(v, "destination", "%s is not an address of any interface", sa.Destination)
		}
	}
}

func dirWord(d ipsec.Direction) string {
	if d == ipsec.Out {
		return "outbound"
	}
	return "inbound"
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
