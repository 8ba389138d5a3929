package control

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicenet/sluice/control/api/types"
	"github.com/sluicenet/sluice/control/config"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/ipsec"
)

// Operator views: what the API serves and the shell prints, built from the
// workers' published counters and the objects the last commit applied. They
// read atomics and immutable maps only, so they never wait for a commit and
// never touch a worker.
//
// `clear ... counters` never writes to a worker or an SA: it records the
// current values as a baseline, and the Shown view subtracts it. The Raw
// view (metrics) ignores baselines, so Prometheus counters stay monotonic.

// View chooses between the counters operators see and the raw ones.
type View uint8

// Views.
const (
	Shown View = iota // raw minus the baseline of the last `clear`: what `show` prints
	Raw               // monotonic since the daemon started: what Prometheus scrapes
)

// WorkerStatNames names a worker's statistics below dataplane.StatDrops, in
// Stat order, as the API and metrics spell them.
var WorkerStatNames = [dataplane.StatDrops]string{
	dataplane.StatRxPackets:         "rx-packets",
	dataplane.StatRxBytes:           "rx-bytes",
	dataplane.StatTxPackets:         "tx-packets",
	dataplane.StatTxBytes:           "tx-bytes",
	dataplane.StatNATKeepalives:     "nat-keepalives",
	dataplane.StatPuntedL2TPControl: "punted-l2tp-control",
	dataplane.StatPuntedIKE:         "punted-ike",
	dataplane.StatPassedToKernel:    "passed-to-kernel",
	dataplane.StatDelivered:         "delivered",
	dataplane.StatDeliveredBytes:    "delivered-bytes",
	dataplane.StatAcceptedLocal:     "accepted-local",
	dataplane.StatBursts:            "bursts",
	dataplane.StatInjected:          "injected",
}

// L2TPInfo supplies the tunnels and sessions the L2TP network server
// negotiated (static ones come from the configuration). Its methods are
// called from API and scrape goroutines: they must be safe for concurrent
// use and return promptly.
type L2TPInfo interface {
	L2TPTunnels() []types.L2TPTunnel
	L2TPSessions() []types.L2TPSession
}

type l2tpProvider struct{ L2TPInfo }

// SetL2TPInfo installs the source of dynamic L2TP tunnels and sessions
// (nil removes it).
func (c *Controller) SetL2TPInfo(p L2TPInfo) {
	if p == nil {
		c.l2tpInfo.Store(nil)
		return
	}
	c.l2tpInfo.Store(&l2tpProvider{p})
}

type pb struct{ p, b uint64 }

// baselines are the values recorded by `clear`, keyed by the runtime
// object they belong to: an SA or counter replaced by a commit starts from
// zero anyway, and its stale baseline is pruned on the next clear.
type baselines struct {
	workers map[*dataplane.Worker]*dataplane.Counts
	ports   map[*dataplane.Worker]dataplane.PortStats
	sas     map[any]ipsec.SAStats
	ctrs    map[*dataplane.Counter]pb
	dyn     map[[2]uint16]pb // LNS sessions, by (tunnel, session)
}

func sat(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// counts returns w's counters in view v.
func (c *Controller) counts(w *dataplane.Worker, v View) dataplane.Counts {
	cur := w.Counts()
	if v == Raw {
		return cur
	}
	c.vmu.Lock()
	defer c.vmu.Unlock()
	if b := c.base.workers[w]; b != nil {
		for i := range cur {
			cur[i] = sat(cur[i], b[i])
		}
	}
	return cur
}

func (c *Controller) portStats(w *dataplane.Worker, v View) dataplane.PortStats {
	s := w.Port().Stats()
	if v == Raw {
		return s
	}
	c.vmu.Lock()
	b, ok := c.base.ports[w]
	c.vmu.Unlock()
	if ok {
		s.RxDropped = sat(s.RxDropped, b.RxDropped)
		s.RxInvalidDescs = sat(s.RxInvalidDescs, b.RxInvalidDescs)
		s.TxInvalidDescs = sat(s.TxInvalidDescs, b.TxInvalidDescs)
		s.RxRingFull = sat(s.RxRingFull, b.RxRingFull)
		s.FillRingEmpty = sat(s.FillRingEmpty, b.FillRingEmpty)
		s.TxRingEmpty = sat(s.TxRingEmpty, b.TxRingEmpty)
		s.TxCompleted = sat(s.TxCompleted, b.TxCompleted)
	}
	return s
}

func (c *Controller) saStats(key any, st ipsec.SAStats, v View) ipsec.SAStats {
	if v == Raw {
		return st
	}
	c.vmu.Lock()
	b, ok := c.base.sas[key]
	c.vmu.Unlock()
	if ok {
		st.Packets, st.Bytes = sat(st.Packets, b.Packets), sat(st.Bytes, b.Bytes)
		st.AuthFailures, st.ReplayDrops = sat(st.AuthFailures, b.AuthFailures), sat(st.ReplayDrops, b.ReplayDrops)
		st.Malformed, st.ExpiredDrops = sat(st.Malformed, b.Malformed), sat(st.ExpiredDrops, b.ExpiredDrops)
	}
	return st
}

func (c *Controller) counter(ctr *dataplane.Counter, v View) (uint64, uint64) {
	p, by := ctr.Load()
	if v == Raw {
		return p, by
	}
	c.vmu.Lock()
	b, ok := c.base.ctrs[ctr]
	c.vmu.Unlock()
	if ok {
		return sat(p, b.p), sat(by, b.b)
	}
	return p, by
}

// Status returns the daemon's status (the API adds its session count).
func (c *Controller) Status() types.Status {
	now := c.opts.Clock()
	return types.Status{
		Version: c.opts.Version, Started: c.started, UptimeSeconds: now.Sub(c.started).Seconds(),
		Revision: c.Running().N, Workers: len(c.dp.Workers()), Pending: c.Pending(), Saved: c.Saved(),
	}
}

// Interfaces returns every interface that has workers or is configured,
// by name.
func (c *Controller) Interfaces(v View) []types.Interface {
	byName := map[string]*types.Interface{}
	get := func(name string) *types.Interface {
		it := byName[name]
		if it == nil {
			it = &types.Interface{Name: name, Queues: []int{}, Workers: []int{}}
			byName[name] = it
		}
		return it
	}
	for _, w := range c.dp.Workers() {
		it := get(w.Port().Name())
		cn := c.counts(w, v)
		ps := c.portStats(w, v)
		it.Queues = append(it.Queues, w.Port().Queue())
		it.Workers = append(it.Workers, w.ID())
		it.RxPackets += cn[dataplane.StatRxPackets]
		it.RxBytes += cn[dataplane.StatRxBytes]
		it.TxPackets += cn[dataplane.StatTxPackets]
		it.TxBytes += cn[dataplane.StatTxBytes]
		it.Drops += cn.TotalDrops()
		it.Port.Mode, it.Port.ZeroCopy = ps.Mode, ps.ZeroCopy
		it.Port.RxDropped += ps.RxDropped
		it.Port.RxInvalidDescs += ps.RxInvalidDescs
		it.Port.TxInvalidDescs += ps.TxInvalidDescs
		it.Port.RxRingFull += ps.RxRingFull
		it.Port.FillRingEmpty += ps.FillRingEmpty
		it.Port.TxRingEmpty += ps.TxRingEmpty
		it.Port.TxCompleted += ps.TxCompleted
	}
	if cfg := c.live.Load().cfg; cfg != nil {
		for name := range cfg.Interfaces {
			get(name)
		}
	}
	out := make([]types.Interface, 0, len(byName))
	for _, it := range byName {
		out = append(out, *it)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Workers returns every worker's counters, by id.
func (c *Controller) Workers(v View) []types.Worker {
	ws := c.dp.Workers()
	out := make([]types.Worker, 0, len(ws))
	for _, w := range ws {
		cn := c.counts(w, v)
		tw := types.Worker{ID: w.ID(), Interface: w.Port().Name(), Queue: w.Port().Queue(),
			Counters: make(map[string]uint64, len(WorkerStatNames)), Drops: make(map[string]uint64, dataplane.NumDropReasons)}
		for i, name := range WorkerStatNames {
			tw.Counters[name] = cn[i]
		}
		for r := dataplane.DropReason(0); r < dataplane.NumDropReasons; r++ {
			tw.Drops[r.String()] = cn.Drop(r)
		}
		if q := w.Punts(); q != nil {
			tw.PuntDepth, tw.PuntCap = q.Len(), q.Cap()
		}
		out = append(out, tw)
	}
	return out
}

// Drops returns every drop reason summed over the workers, in the
// vocabulary's order.
func (c *Controller) Drops(v View) types.Drops {
	var total dataplane.Counts
	for _, w := range c.dp.Workers() {
		cn := c.counts(w, v)
		total.Add(&cn)
	}
	out := types.Drops{Reasons: make([]types.DropCount, 0, dataplane.NumDropReasons)}
	for r := dataplane.DropReason(0); r < dataplane.NumDropReasons; r++ {
		out.Reasons = append(out.Reasons, types.DropCount{Reason: r.String(), Packets: total.Drop(r)})
		out.Total += total.Drop(r)
	}
	return out
}

// SAs returns every SA of the running configuration, by name. Keys are
// never part of the result.
func (c *Controller) SAs(v View) []types.SA {
	l := c.live.Load()
	out := make([]types.SA, 0, len(l.inbound)+len(l.outbound))
	for _, sa := range l.inbound {
		out = append(out, saView(sa.Spec(), c.saStats(sa, sa.Stats(), v), 0))
	}
	for _, sa := range l.outbound {
		out = append(out, saView(sa.Spec(), c.saStats(sa, sa.Stats(), v), sa.Seq()))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func saView(s ipsec.SASpec, st ipsec.SAStats, seq uint64) types.SA {
	out := types.SA{
		Name: s.Name, SPI: fmt.Sprintf("0x%08x", s.SPI), Direction: s.Direction.String(), Mode: s.Mode.String(),
		Proposal: s.Proposal.String(), Encapsulation: s.Encapsulation.String(),
		Source: s.Source.String(), Destination: s.Destination.String(),
		ESN: s.ESN, ReplayWindow: s.ReplayWindow, Pair: s.Pair,
		Packets: st.Packets, Bytes: st.Bytes, AuthFailures: st.AuthFailures, ReplayDrops: st.ReplayDrops,
		Malformed: st.Malformed, ExpiredDrops: st.ExpiredDrops, Seq: seq,
	}
	if s.Encapsulation == ipsec.EncapUDP {
		out.SourcePort, out.DestinationPort = s.SourcePort, s.DestinationPort
	}
	lt := types.SALifetime{State: types.LifetimeOK,
		RekeyBytes: s.Life.RekeyBytes, LifeBytes: s.Life.LifeBytes, RekeyPackets: s.Life.RekeyPackets, LifePackets: s.Life.LifePackets}
	if s.Life.RekeyTime > 0 {
		lt.RekeyTime = s.Life.RekeyTime.String()
	}
	if s.Life.LifeTime > 0 {
		lt.LifeTime = s.Life.LifeTime.String()
	}
	switch {
	case st.HardExpired:
		lt.State = types.LifetimeHardExpired
	case st.SoftExpired:
		lt.State = types.LifetimeSoftExpired
	}
	out.Lifetime = lt
	return out
}

// RuleSets returns every ruleset with its rules' counters, by name: the
// configured ones, and the built-in one when an interface uses it or it
// was ever hit. Disabled rules are listed, with no counters.
func (c *Controller) RuleSets(v View) []types.RuleSet {
	l := c.live.Load()
	applied := map[string][]string{}
	if t := c.dp.Tables(); t != nil {
		for name, it := range t.Ifaces {
			applied[it.Local.Name] = append(applied[it.Local.Name], name)
		}
	}
	var out []types.RuleSet
	for name, rs := range l.rulesets {
		if name == BuiltinRuleSet && len(applied[name]) == 0 {
			if p, _ := rs.Default.Load(); p == 0 {
				continue
			}
		}
		trs := types.RuleSet{Name: name, DefaultAction: "drop", Interfaces: applied[name], Builtin: name == BuiltinRuleSet, Rules: []types.Rule{}}
		if trs.Interfaces == nil {
			trs.Interfaces = []string{}
		}
		sort.Strings(trs.Interfaces)
		if rs.DefaultAccept {
			trs.DefaultAction = "accept"
		}
		trs.DefaultPackets, trs.DefaultBytes = c.counter(rs.Default, v)
		ctrs := make(map[uint32]*dataplane.Counter, rs.Len())
		for i := 0; i < rs.Len(); i++ {
			n, ctr := rs.RuleCounter(i)
			ctrs[n] = ctr
		}
		var specs []config.RuleSpec
		if l.cfg != nil {
			spec := l.cfg.Firewall.Names[name]
			trs.Description, specs = spec.Description, spec.Rules
		}
		if trs.Builtin {
			specs = []config.RuleSpec{{Number: 10, Action: config.ActionAccept, Protocol: 17,
				Destination: config.AddrMatch{Ports: []config.PortRange{{Lo: 1701, Hi: 1701}}}, IPsec: config.MatchIPsec}}
		}
		for _, r := range specs {
			tr := types.Rule{Number: r.Number, Action: r.Action.String(), Description: r.Description, Disabled: r.Disable,
				Protocol: protocolName(r.Protocol, r.AnyProtocol), Source: matchString(r.Source), Destination: matchString(r.Destination)}
			if r.IPsec != config.IPsecAny {
				tr.IPsec = r.IPsec.String()
			}
			if ctr := ctrs[r.Number]; ctr != nil && !r.Disable {
				tr.Packets, tr.Bytes = c.counter(ctr, v)
			}
			trs.Rules = append(trs.Rules, tr)
		}
		out = append(out, trs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func protocolName(p uint8, any bool) string {
	if any {
		return "all"
	}
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 47:
		return "gre"
	case 50:
		return "esp"
	case 58:
		return "ipv6-icmp"
	}
	return strconv.Itoa(int(p))
}

func matchString(m config.AddrMatch) string {
	var parts []string
	if len(m.Prefixes) > 0 {
		ps := make([]string, len(m.Prefixes))
		for i, p := range m.Prefixes {
			ps[i] = prefixString(p)
		}
		a := strings.Join(ps, ",")
		if m.Negate {
			a = "!" + a
		}
		parts = append(parts, a)
	}
	if len(m.Ports) > 0 {
		ps := make([]string, len(m.Ports))
		for i, r := range m.Ports {
			ps[i] = strconv.Itoa(int(r.Lo))
			if r.Hi != r.Lo {
				ps[i] += "-" + strconv.Itoa(int(r.Hi))
			}
		}
		parts = append(parts, "port "+strings.Join(ps, ","))
	}
	return strings.Join(parts, " ")
}

func prefixString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// L2TPTunnels returns the static tunnels of the running configuration and
// the LNS's, by local id.
func (c *Controller) L2TPTunnels() []types.L2TPTunnel {
	l := c.live.Load()
	var out []types.L2TPTunnel
	if l.cfg != nil {
		for id, t := range l.cfg.L2TP.Static {
			out = append(out, types.L2TPTunnel{LocalID: id, PeerID: t.PeerTunnel, Source: types.SourceStatic,
				SA: t.SA, State: "static", Sessions: len(t.Sessions)})
		}
	}
	if p := c.l2tpInfo.Load(); p != nil {
		out = append(out, p.L2TPTunnels()...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LocalID < out[j].LocalID })
	return out
}

// L2TPSessions returns the static sessions with their dataplane counters
// and the LNS's sessions, by tunnel and session id.
func (c *Controller) L2TPSessions(v View) []types.L2TPSession {
	l := c.live.Load()
	out := make([]types.L2TPSession, 0, len(l.sessions))
	for _, s := range l.sessions {
		ts := types.L2TPSession{TunnelID: s.TunnelID, SessionID: s.SessionID, PeerTunnelID: s.PeerTunnel,
			PeerSessionID: s.PeerSession, Source: types.SourceStatic, State: "static"}
		if s.SA != nil {
			ts.SA = s.SA.Name()
		}
		ts.Packets, ts.Bytes = c.counter(s.Counter, v)
		out = append(out, ts)
	}
	if p := c.l2tpInfo.Load(); p != nil {
		dyn := p.L2TPSessions()
		if v == Shown {
			c.vmu.Lock()
			for i := range dyn {
				if b, ok := c.base.dyn[[2]uint16{dyn[i].TunnelID, dyn[i].SessionID}]; ok {
					dyn[i].Packets, dyn[i].Bytes = sat(dyn[i].Packets, b.p), sat(dyn[i].Bytes, b.b)
				}
			}
			c.vmu.Unlock()
		}
		out = append(out, dyn...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].TunnelID != out[j].TunnelID {
			return out[i].TunnelID < out[j].TunnelID
		}
		return out[i].SessionID < out[j].SessionID
	})
	return out
}
