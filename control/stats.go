package control

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/sluicenet/sluice/dataplane"
)

// Stats is the counters document of ARCHITECTURE.md ("--stats" of offline
// replay; the API serves the same shape): every drop reason present, zeros
// included, under the names of the fixed vocabulary.
type Stats struct {
	Interfaces     map[string]IfaceStats          `json:"interfaces"`
	Drops          DropCounts                     `json:"drops"`
	SA             map[string]SAStats             `json:"sa"`
	Rules          map[string]map[string]RuleStat `json:"rules"`
	L2TP           L2TPStats                      `json:"l2tp"`
	Punted         PuntedStats                    `json:"punted"`
	NATKeepalives  uint64                         `json:"nat-keepalives"`
	PassedToKernel uint64                         `json:"passed-to-kernel"`
}

// IfaceStats are an interface's frame counters, summed over its workers.
type IfaceStats struct {
	RxPackets uint64 `json:"rx-packets"`
	RxBytes   uint64 `json:"rx-bytes"`
	TxPackets uint64 `json:"tx-packets"`
	TxBytes   uint64 `json:"tx-bytes"`
}

// SAStats are an SA's counters as operators see them. Inbound SAs carry the
// refusal counters; outbound SAs only packets and bytes.
type SAStats struct {
	Packets      uint64  `json:"packets"`
	Bytes        uint64  `json:"bytes"`
	AuthFailures *uint64 `json:"auth-failures,omitempty"`
	ReplayDrops  *uint64 `json:"replay-drops,omitempty"`
}

// RuleStat is one rule's counters; the "default" entry also names the
// ruleset's default action.
type RuleStat struct {
	Action  string `json:"action,omitempty"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// L2TPStats are the L2TP counters.
type L2TPStats struct {
	ControlPunted uint64                 `json:"control-punted"`
	Tunnels       map[string]TunnelStats `json:"tunnels"`
}

// TunnelStats holds a tunnel's sessions' counters, by local session id.
type TunnelStats struct {
	Sessions map[string]PacketBytes `json:"sessions"`
}

// PacketBytes is a packet and byte count.
type PacketBytes struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// PuntedStats counts what went to the control plane.
type PuntedStats struct {
	L2TPControl uint64 `json:"l2tp-control"`
	IKE         uint64 `json:"ike"`
}

// DropCounts holds a count for every drop reason; it marshals as a JSON
// object in the vocabulary's order, every reason present.
type DropCounts [dataplane.NumDropReasons]uint64

// MarshalJSON implements json.Marshaler.
func (d DropCounts) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for r := dataplane.DropReason(0); r < dataplane.NumDropReasons; r++ {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(r.String()))
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(d[r], 10))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON implements json.Unmarshaler; unknown reasons are an error.
func (d *DropCounts) UnmarshalJSON(data []byte) error {
	var m map[string]uint64
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	for k, v := range m {
		r, ok := dataplane.ParseDropReason(k)
		if !ok {
			return &json.UnsupportedValueError{Str: "unknown drop reason " + strconv.Quote(k)}
		}
		d[r] = v
	}
	return nil
}

// Collect reads every counter of dp and of the objects b built. baseline,
// when not nil, is subtracted from the worker counters (clear counters).
func Collect(dp *dataplane.Dataplane, b *Builder) *Stats {
	s := &Stats{
		Interfaces: map[string]IfaceStats{},
		SA:         map[string]SAStats{},
		Rules:      map[string]map[string]RuleStat{},
		L2TP:       L2TPStats{Tunnels: map[string]TunnelStats{}},
	}
	var total dataplane.Counts
	for _, w := range dp.Workers() {
		c := w.Counts()
		total.Add(&c)
		name := w.Port().Name()
		is := s.Interfaces[name]
		is.RxPackets += c[dataplane.StatRxPackets]
		is.RxBytes += c[dataplane.StatRxBytes]
		is.TxPackets += c[dataplane.StatTxPackets]
		is.TxBytes += c[dataplane.StatTxBytes]
		s.Interfaces[name] = is
	}
	for r := dataplane.DropReason(0); r < dataplane.NumDropReasons; r++ {
		s.Drops[r] = total.Drop(r)
	}
	s.Punted = PuntedStats{L2TPControl: total[dataplane.StatPuntedL2TPControl], IKE: total[dataplane.StatPuntedIKE]}
	s.L2TP.ControlPunted = total[dataplane.StatPuntedL2TPControl]
	s.NATKeepalives = total[dataplane.StatNATKeepalives]
	s.PassedToKernel = total[dataplane.StatPassedToKernel]
	for _, n := range dp.KernelPassed() {
		s.PassedToKernel += n
	}

	for name, sa := range b.inbound {
		st := sa.Stats()
		af, rd := st.AuthFailures, st.ReplayDrops
		s.SA[name] = SAStats{Packets: st.Packets, Bytes: st.Bytes, AuthFailures: &af, ReplayDrops: &rd}
	}
	for name, sa := range b.outbound {
		st := sa.Stats()
		s.SA[name] = SAStats{Packets: st.Packets, Bytes: st.Bytes}
	}

	used := map[*dataplane.RuleSet]bool{}
	if t := dp.Tables(); t != nil {
		for _, it := range t.Ifaces {
			used[it.Local] = true
		}
	}
	for name, rs := range b.rulesets {
		if name == BuiltinRuleSet && !used[rs] {
			if p, _ := rs.Default.Load(); p == 0 {
				continue // not applied anywhere and never hit: not the operator's business
			}
		}
		m := map[string]RuleStat{}
		for i := 0; i < rs.Len(); i++ {
			n, c := rs.RuleCounter(i)
			p, by := c.Load()
			m[strconv.FormatUint(uint64(n), 10)] = RuleStat{Packets: p, Bytes: by}
		}
		p, by := rs.Default.Load()
		action := "drop"
		if rs.DefaultAccept {
			action = "accept"
		}
		m["default"] = RuleStat{Action: action, Packets: p, Bytes: by}
		s.Rules[name] = m
	}

	// Every session the workers deliver to: the published snapshot holds
	// the static ones and those the LNS negotiated.
	sessions := b.sessions
	if t := dp.Tables(); t != nil {
		sessions = t.Sessions
	}
	for _, sess := range sessions {
		tid := strconv.Itoa(int(sess.TunnelID))
		ts, ok := s.L2TP.Tunnels[tid]
		if !ok {
			ts = TunnelStats{Sessions: map[string]PacketBytes{}}
		}
		p, by := sess.Counter.Load()
		ts.Sessions[strconv.Itoa(int(sess.SessionID))] = PacketBytes{Packets: p, Bytes: by}
		s.L2TP.Tunnels[tid] = ts
	}
	return s
}
