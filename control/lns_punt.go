package control

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/l2tp"
)

// Punts into the LNS: what a worker handed over, turned into a Peer, a
// reply route and a call to l2tp.Server.Input.

// route is how to answer one peer: everything the reply needs that the
// punt knew and the Peer does not.
//
//	peer ──ESP (or cleartext) to worker w──► box
//	reply: worker w's inject queue; Ethernet dst = the punt's source MAC,
//	src = its destination MAC, same VLAN; IP src = the address the peer
//	sent to (local), dst = the one it sent from (remote); UDP 1701 → the
//	peer's source port; NAT-T: outer UDP ports as the punt saw them.
type route struct {
	worker        int
	local, remote netip.Addr // the punted (inner) packet's destination and source
	ourMAC, macTo [6]byte
	vlan          uint16
	vlanType      uint16 // the tag's EtherType as the peer sent it (802.1Q or 802.1ad)
	tagged        bool
	natLocal      uint16 // outer UDP destination port of ESP-in-UDP (RFC 3948); 0 otherwise
	natRemote     uint16 // outer UDP source port: the peer's NAT mapping
	seen          time.Time
}

// udpView is an IP packet's UDP datagram, parsed.
type udpView struct {
	src, dst     netip.Addr
	sport, dport uint16
	payload      []byte
}

// parseUDP parses an IPv4 or IPv6 packet carrying UDP directly (no IPv4
// fragments, no IPv6 extension headers) and returns its datagram. Never
// panics; ok is false for anything else.
func parseUDP(b []byte) (u udpView, ok bool) {
	if len(b) < 1 {
		return u, false
	}
	var l4 int
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return u, false
		}
		ihl := int(b[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(b[2:]))
		if ihl < 20 || total < ihl || total > len(b) || b[9] != 17 {
			return u, false
		}
		if binary.BigEndian.Uint16(b[6:])&0x3fff != 0 {
			return u, false // a fragment: L2TP control messages fit in one packet
		}
		u.src = netip.AddrFrom4([4]byte(b[12:16]))
		u.dst = netip.AddrFrom4([4]byte(b[16:20]))
		b, l4 = b[:total], ihl
	case 6:
		if len(b) < 40 || b[6] != 17 {
			return u, false
		}
		total := 40 + int(binary.BigEndian.Uint16(b[4:]))
		if total > len(b) {
			return u, false
		}
		u.src = netip.AddrFrom16([16]byte(b[8:24]))
		u.dst = netip.AddrFrom16([16]byte(b[24:40]))
		b, l4 = b[:total], 40
	default:
		return u, false
	}
	if len(b)-l4 < 8 {
		return u, false
	}
	ulen := int(binary.BigEndian.Uint16(b[l4+4:]))
	if ulen < 8 || ulen > len(b)-l4 {
		return u, false
	}
	u.sport = binary.BigEndian.Uint16(b[l4:])
	u.dport = binary.BigEndian.Uint16(b[l4+2:])
	u.payload = b[l4+8 : l4+ulen]
	return u, true
}

// puntLocked handles one punt. p belongs to the worker's queue: nothing
// here keeps a reference to it or its buffer.
//
// +checklocks:mu
func (l *LNS) puntLocked(p *dataplane.Punt, now time.Time) {
	switch p.Kind {
	case dataplane.PuntIKE:
		// sluice has no IKE daemon: an external one would attach here,
		// reading these punts and installing SAs through commits.
		l.st.IKE++
		return
	case dataplane.PuntL2TPControl:
	default:
		l.st.Malformed++
		return
	}
	if p.Len < 0 || p.Len > len(p.Buf) || !p.OuterSrc.Addr().IsValid() {
		l.st.Malformed++
		return
	}
	u, ok := parseUDP(p.Packet())
	if !ok || u.dport != l2tp.Port || u.src.Is4() != u.dst.Is4() {
		l.st.Malformed++
		return
	}
	srv := l.srv
	if srv == nil {
		l.st.NoServer++
		return
	}
	if d := l.drain; d != nil && len(u.payload) >= 6 {
		if h, err := l2tp.ParseHeader(u.payload); err == nil && d.ids[h.TunnelID] {
			srv = d.srv
		}
	}
	peer := l2tp.Peer{Addr: netip.AddrPortFrom(p.OuterSrc.Addr(), u.sport)}
	if p.SA != nil {
		peer.Binding = p.SA.Name()
	}
	if !l.learnLocked(peer, p, &u, now) {
		l.st.RoutesFull++
		return
	}
	l.st.Punts++
	srv.Input(peer, u.payload, now)
}

// learnLocked records (or refreshes) how to answer peer, from its latest
// punt: the port floats with the peer (NAT rebinding), and so do the MACs,
// the VLAN and the worker. It reports false when the route table is full.
//
// +checklocks:mu
func (l *LNS) learnLocked(peer l2tp.Peer, p *dataplane.Punt, u *udpView, now time.Time) bool {
	r := l.routes[peer]
	if r == nil {
		if len(l.routes) >= l.opts.MaxRoutes {
			return false
		}
		r = new(route)
		l.routes[peer] = r
	}
	r.worker = p.Worker
	r.local, r.remote = u.dst, u.src
	r.ourMAC, r.macTo = p.DstMAC, p.SrcMAC
	r.vlan, r.vlanType, r.tagged = p.VLAN, p.VLANType, p.Tagged
	r.natLocal, r.natRemote = 0, 0
	if p.SA != nil {
		// ESP in UDP: the punt carries the outer ports (0 for plain ESP).
		r.natLocal, r.natRemote = p.OuterDst.Port(), p.OuterSrc.Port()
	}
	r.seen = now
	return true
}

// sweepRoutesLocked forgets routes idle for RouteIdle whose peer has no
// tunnel left, once a minute. Tunnels keep their route however long they
// are silent (hello-interval 0 allows that): a StopCCN or CDN must still
// reach the peer.
//
// +checklocks:mu
func (l *LNS) sweepRoutesLocked(now time.Time) {
	l.sweepAt = now.Add(time.Minute)
	if len(l.routes) == 0 {
		return
	}
	inUse := map[l2tp.Peer]bool{}
	for _, s := range []*l2tp.Server{l.srv, l.drainSrv()} {
		if s == nil {
			continue
		}
		for _, t := range s.Tunnels() {
			inUse[t.Peer] = true
		}
	}
	for p, r := range l.routes {
		if !inUse[p] && now.Sub(r.seen) > l.opts.RouteIdle {
			delete(l.routes, p)
		}
	}
}
