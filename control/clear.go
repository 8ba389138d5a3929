package control

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicenet/sluice/control/api/types"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/ipsec"
)

// `clear ... counters`: record baselines that the Shown views subtract.
// Workers, SAs and counters are never written to.

// Clear errors.
var (
	// ErrBadScope: a clear scope that is not one of types.Clear*.
	ErrBadScope = errors.New("unknown counters scope")
	// ErrUnknownName: a clear of a named object that does not exist.
	ErrUnknownName = errors.New("no such object")
	// ErrClearAllNamed: a clear of every counter narrowed to a name.
	ErrClearAllNamed = errors.New("clear all counters takes no name")
)

// Clear zeroes what the Shown view reports for scope (types.ClearAll,
// ClearInterfaces, ...), narrowed to one object when name is set: an
// interface, a worker id, an SA or a ruleset. It records baselines and
// writes nothing the workers use.
func (c *Controller) Clear(scope, name string) error {
	switch scope {
	case types.ClearAll, types.ClearWorkers, types.ClearInterfaces, types.ClearDrops, types.ClearSA, types.ClearFirewall, types.ClearL2TP:
	default:
		return fmt.Errorf("%w %q (want %s)", ErrBadScope, scope, strings.Join([]string{types.ClearAll, types.ClearInterfaces,
			types.ClearWorkers, types.ClearDrops, types.ClearSA, types.ClearFirewall, types.ClearL2TP}, ", "))
	}
	l := c.live.Load()
	ws := c.dp.Workers()
	c.vmu.Lock()
	defer c.vmu.Unlock()
	b := &c.base
	if b.workers == nil {
		b.workers, b.ports = map[*dataplane.Worker]*dataplane.Counts{}, map[*dataplane.Worker]dataplane.PortStats{}
		b.sas, b.ctrs, b.dyn = map[any]ipsec.SAStats{}, map[*dataplane.Counter]pb{}, map[[2]uint16]pb{}
	}
	workerBase := func(w *dataplane.Worker) *dataplane.Counts {
		if b.workers[w] == nil {
			b.workers[w] = new(dataplane.Counts)
		}
		return b.workers[w]
	}
	setRange := func(w *dataplane.Worker, lo, hi int) {
		cur, base := w.Counts(), workerBase(w)
		for i := lo; i < hi; i++ {
			base[i] = cur[i]
		}
	}
	found := name == ""
	all := scope == types.ClearAll
	if all && name != "" {
		return fmt.Errorf("%w (got %q)", ErrClearAllNamed, name)
	}
	if all || scope == types.ClearWorkers || scope == types.ClearInterfaces {
		for _, w := range ws {
			match := name == "" || all
			if scope == types.ClearWorkers && name != "" {
				match = strconv.Itoa(w.ID()) == name
			} else if scope == types.ClearInterfaces && name != "" {
				match = w.Port().Name() == name
			}
			if !match {
				continue
			}
			found = true
			if scope == types.ClearInterfaces {
				setRange(w, int(dataplane.StatRxPackets), int(dataplane.StatTxBytes)+1)
			} else {
				setRange(w, 0, len(dataplane.Counts{}))
			}
			b.ports[w] = w.Port().Stats()
		}
	}
	if scope == types.ClearDrops {
		for _, w := range ws {
			setRange(w, int(dataplane.StatDrops), len(dataplane.Counts{}))
		}
	}
	if all || scope == types.ClearSA {
		prune(b.sas, func(k any) bool {
			in, _ := k.(*ipsec.InboundSA)
			out, _ := k.(*ipsec.OutboundSA)
			return (in != nil && l.inbound[in.Name()] == in) || (out != nil && l.outbound[out.Name()] == out)
		})
		for n, sa := range l.inbound {
			if name == "" || n == name {
				b.sas[sa], found = sa.Stats(), true
			}
		}
		for n, sa := range l.outbound {
			if name == "" || n == name {
				b.sas[sa], found = sa.Stats(), true
			}
		}
	}
	if all || scope == types.ClearFirewall || scope == types.ClearL2TP {
		live := map[*dataplane.Counter]bool{}
		for _, rs := range l.rulesets {
			live[rs.Default] = true
			for i := 0; i < rs.Len(); i++ {
				_, ctr := rs.RuleCounter(i)
				live[ctr] = true
			}
		}
		for _, s := range l.sessions {
			live[s.Counter] = true
		}
		prune(b.ctrs, func(k *dataplane.Counter) bool { return live[k] })
		mark := func(ctr *dataplane.Counter) {
			p, by := ctr.Load()
			b.ctrs[ctr] = pb{p, by}
		}
		if all || scope == types.ClearFirewall {
			for n, rs := range l.rulesets {
				if name != "" && n != name {
					continue
				}
				found = true
				mark(rs.Default)
				for i := 0; i < rs.Len(); i++ {
					_, ctr := rs.RuleCounter(i)
					mark(ctr)
				}
			}
		}
		if all || scope == types.ClearL2TP {
			found = true
			for _, s := range l.sessions {
				mark(s.Counter)
			}
			if p := c.l2tpInfo.Load(); p != nil {
				clear(b.dyn)
				for _, s := range p.L2TPSessions() {
					b.dyn[[2]uint16{s.TunnelID, s.SessionID}] = pb{s.Packets, s.Bytes}
				}
			}
		}
	}
	if !found {
		return fmt.Errorf("%s %q: %w", scope, name, ErrUnknownName)
	}
	c.log.Info("counters cleared", "scope", scope, "name", name, "at", c.opts.Clock().Format(time.RFC3339))
	return nil
}

func prune[K comparable, V any](m map[K]V, keep func(K) bool) {
	for k := range m {
		if !keep(k) {
			delete(m, k)
		}
	}
}
