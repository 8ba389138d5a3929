package control

import (
	"maps"
	"time"

	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/ipsec"
	"github.com/sluicenet/sluice/l2tp"
)

// Dynamic L2TP sessions: the ones the LNS negotiated (ICRQ/ICRP/ICCN),
// published to the workers beside the static sessions of the configuration.
//
//	LNS events (SessionUp/Down) ─► LNS.want + dirty keys (under LNS.mu)
//	   ─► at most one publish per LNSOptions.PublishEvery:
//	      Controller.mu (TryLock: a commit in progress is never waited for)
//	      ─► Builder.publishDynamic: copy the published Tables struct, clone
//	         its session map, apply the changed keys, dp.Publish
//	commit ─► Builder.Prepare ─► keepDynamic: the dynamic sessions go into
//	   the new snapshot too, so a commit never drops a negotiated session
//
// Workers only load the *Tables pointer, so neither path can stall them;
// the cost is on the control plane: one map clone per publish, which
// coalescing bounds (10,000 sessions coming and going cost a few hundred
// publishes, not 20,000). A session's Counter is created once, at
// SessionUp, and every snapshot shares it, so counts survive republishing.

// keepDynamic carries the dynamic sessions into plan p, whose snapshot is t
// (called by Prepare, under the controller's mu). A static session with the
// same key wins: it is the operator's, and data messages can reach only one
// of the two. A session whose SA is no longer configured is dropped: the
// LNS tears its tunnel down when it sees the commit (LNS.followLocked). A
// session whose SA was replaced (same name, new keys or settings) follows
// the new SA and keeps its counter.
func (b *Builder) keepDynamic(p *Plan, t *dataplane.Tables) {
	for key, s := range b.dynamic {
		s, ok := rebind(s, p.inbound)
		if !ok {
			continue
		}
		p.dynamic[key] = s
		if p.sessions[key] == nil {
			t.Sessions[key] = s
		}
	}
}

// rebind returns s bound to the inbound SA of the same name in inbound (a
// copy sharing s's Counter when the SA object changed), or false when no SA
// of that name exists. Cleartext sessions (SA nil) stay as they are.
func rebind(s *dataplane.Session, inbound map[string]*ipsec.InboundSA) (*dataplane.Session, bool) {
	if s.SA == nil {
		return s, true
	}
	sa := inbound[s.SA.Name()]
	switch {
	case sa == nil:
		return nil, false
	case sa != s.SA:
		cp := *s
		cp.SA = sa
		return &cp, true
	}
	return s, true
}

// publishDynamic applies changes (session key → session to publish, nil to
// remove) to the dynamic sessions and publishes a snapshot that differs
// from the published one in its session map only. It reports how many
// sessions the new snapshot holds (-1 when nothing is published yet: the
// changes are kept and the first commit publishes them).
//
// The caller holds the controller's mu, which also orders this publish
// against commits: the snapshot it copies is the last one the builder
// published. Allocates the new map (one clone) and the Tables copy.
func (b *Builder) publishDynamic(dp *dataplane.Dataplane, changes map[uint32]*dataplane.Session) int {
	cur := dp.Tables()
	var next *dataplane.Tables
	if cur != nil {
		cp := *cur
		cp.Sessions = maps.Clone(cur.Sessions)
		if cp.Sessions == nil {
			cp.Sessions = map[uint32]*dataplane.Session{}
		}
		next = &cp
	}
	for key, s := range changes {
		var ok bool
		if s != nil {
			s, ok = rebind(s, b.inbound)
		}
		if !ok {
			delete(b.dynamic, key)
			if next != nil && b.sessions[key] == nil {
				delete(next.Sessions, key)
			}
			continue
		}
		b.dynamic[key] = s
		if next != nil && b.sessions[key] == nil {
			next.Sessions[key] = s
		}
	}
	if next == nil {
		return -1
	}
	dp.Publish(next)
	return len(next.Sessions)
}

// dynamicCount returns how many dynamic sessions the builder holds.
// Caller holds the controller's mu.
func (b *Builder) dynamicCount() int { return len(b.dynamic) }

// lnsEvents turns the server's transitions into dynamic sessions. Its
// methods run inside server calls, under the LNS's mu.
type lnsEvents struct{ l *LNS }

// TunnelUp counts the tunnel.
func (e lnsEvents) TunnelUp(l2tp.TunnelEvent) { e.l.st.TunnelsUp++ }

// TunnelDown counts the tunnel; its sessions went down before it.
func (e lnsEvents) TunnelDown(l2tp.TunnelEvent) { e.l.st.TunnelsDown++ }

// SessionUp publishes the session, bound to the inbound SA its tunnel
// arrived in (data messages are accepted from that SA only).
func (e lnsEvents) SessionUp(ev l2tp.SessionEvent) {
	l := e.l
	key := dataplane.SessionKey(ev.LocalTunnelID, ev.LocalID)
	lv := l.ctrl.live.Load()
	var sa *ipsec.InboundSA
	if ev.Peer.Binding != "" {
		sa = lv.inbound[ev.Peer.Binding]
	}
	switch {
	case lv.sessions[key] != nil:
		// A static session has these ids (the server's ids are random):
		// the data messages could reach only one of the two, so the
		// negotiated call is hung up (CDN) and the operator's session kept.
		l.st.StaticCollisions++
		l.closes = append(l.closes, sessionRef{ev.LocalTunnelID, ev.LocalID})
		l.log.Warn("l2tp: negotiated session has a static session's ids; hung up", "tunnel_id", ev.LocalTunnelID, "session_id", ev.LocalID)
		return
	case ev.Peer.Binding != "" && sa == nil:
		// The SA went away under the tunnel; followLocked tears it down.
		l.closes = append(l.closes, sessionRef{ev.LocalTunnelID, ev.LocalID})
		return
	}
	l.want[key] = &dataplane.Session{TunnelID: ev.LocalTunnelID, SessionID: ev.LocalID, PeerTunnel: ev.PeerTunnelID,
		PeerSession: ev.PeerID, SA: sa, Counter: new(dataplane.Counter)}
	l.dirty[key] = struct{}{}
	l.st.SessionsUp++
}

// SessionDown unpublishes the session.
func (e lnsEvents) SessionDown(ev l2tp.SessionEvent) {
	l := e.l
	key := dataplane.SessionKey(ev.LocalTunnelID, ev.LocalID)
	if l.want[key] == nil {
		return // never published (a collision) or already gone
	}
	delete(l.want, key)
	l.dirty[key] = struct{}{}
	l.st.SessionsDown++
}

// publishLocked publishes the changed sessions when PublishEvery has passed
// since the last publish (or force), and the controller is not in the
// middle of a commit (TryLock: the next pass retries).
//
// +checklocks:mu
func (l *LNS) publishLocked(now time.Time, force bool) {
	if len(l.dirty) == 0 || (!force && now.Sub(l.published) < l.opts.PublishEvery) {
		return
	}
	if !l.ctrl.mu.TryLock() {
		if !force {
			l.st.PublishDeferred++
			return
		}
		l.ctrl.mu.Lock()
	}
	clear(l.changes)
	for key := range l.dirty {
		l.changes[key] = l.want[key] // nil: removed
	}
	l.ctrl.b.publishDynamic(l.dp, l.changes)
	dyn := l.ctrl.b.dynamicCount()
	l.ctrl.mu.Unlock()
	clear(l.dirty)
	l.published = now
	l.st.Publishes++
	l.st.PublishedSessions = dyn
}
