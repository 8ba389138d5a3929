package dataplane

import (
	"net/netip"

	"github.com/sluicenet/sluice/ipsec"
)

// Tables is one immutable snapshot of everything a worker needs to classify
// packets: SAs, per-interface addresses and rules, and L2TP sessions. The
// control plane builds a new Tables for every change and publishes it with
// (*Dataplane).Publish; a worker loads the pointer once per burst and never
// modifies what it points to.
//
// Objects whose state must outlive a swap (an SA's replay window and
// counters, rule and session counters) are shared by pointer between the old
// and the new snapshot.
type Tables struct {
	// Gen increases with every published snapshot.
	Gen uint64
	// SAs maps (SPI, destination) to inbound SAs. It is a lock-free table of
	// its own (adding one SA does not copy it); nil means no SAs.
	SAs *ipsec.SADB
	// Ifaces holds per-interface state by interface name.
	Ifaces map[string]*IfaceTables
	// Default applies to a port whose interface is not in Ifaces (e.g. an
	// offline replay whose config has no interfaces section).
	Default *IfaceTables
	// Sessions maps SessionKey(tunnel, session) to L2TP sessions.
	Sessions map[uint32]*Session
}

// IfaceTables is what a worker needs to know about its interface.
type IfaceTables struct {
	Name string
	// Local is the ruleset applied to traffic for the box (firewall
	// interface NAME local). Never nil in a published snapshot.
	Local *RuleSet
	addr4 []uint32
	addr6 [][2]uint64
}

// NewIfaceTables returns the per-interface state for name. With no addrs,
// every destination counts as the box's; otherwise other destinations are
// dropped as not-for-us.
func NewIfaceTables(name string, addrs []netip.Addr, local *RuleSet) *IfaceTables {
	it := &IfaceTables{Name: name, Local: local}
	for _, a := range addrs {
		a = a.Unmap()
		if a.Is4() {
			b := a.As4()
			it.addr4 = append(it.addr4, be32(b[:]))
		} else {
			b := a.As16()
			it.addr6 = append(it.addr6, [2]uint64{be64(b[:8]), be64(b[8:])})
		}
	}
	return it
}

// ours reports whether f's destination is one of the interface's addresses.
func (it *IfaceTables) ours(f *flow) bool {
	if len(it.addr4) == 0 && len(it.addr6) == 0 {
		return true
	}
	if f.v6 {
		for _, a := range it.addr6 {
			if a == f.dst6 {
				return true
			}
		}
		return false
	}
	for _, a := range it.addr4 {
		if a == f.dst4 {
			return true
		}
	}
	return false
}

// Session is an L2TP session as the dataplane sees it.
type Session struct {
	TunnelID    uint16 // local tunnel id: what incoming messages carry
	SessionID   uint16 // local session id
	PeerTunnel  uint16 // what we put in messages we send
	PeerSession uint16
	// SA is the inbound SA the session's tunnel is bound to. Data messages
	// are accepted only from it; nil means a cleartext tunnel (labs only:
	// the rule table must accept match-none L2TP for it to see any traffic).
	SA *ipsec.InboundSA
	// Counter counts delivered data messages and their L2TP payload bytes;
	// it is shared with the session's previous snapshots.
	Counter *Counter
}

// SessionKey packs a (local tunnel id, local session id) pair.
func SessionKey(tunnel, session uint16) uint32 { return uint32(tunnel)<<16 | uint32(session) }

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }
func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
func be64(b []byte) uint64 { return uint64(be32(b))<<32 | uint64(be32(b[4:])) }
