package control

import (
	"github.com/sluicenet/sluice/control/api/types"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/l2tp"
)

// Operator data: the LNS is the controller's L2TPInfo (GET /v1/l2tp/...,
// `show l2tp tunnel|session`). Both methods take the LNS's mu for as long
// as l2tp.Server takes to list its tunnels (O(n log n); a few milliseconds
// for 10,000), which delays the runner by as much, never a worker.

var _ L2TPInfo = (*LNS)(nil)

// L2TPTunnels returns the negotiated tunnels (those of a server a
// configuration change replaced included, while they close), by local id.
// Keys and secrets are never part of it.
func (l *LNS) L2TPTunnels() []types.L2TPTunnel {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opts.Clock()
	var out []types.L2TPTunnel
	for _, s := range []*l2tp.Server{l.srv, l.drainSrv()} {
		if s == nil {
			continue
		}
		for _, t := range s.Tunnels() {
			c := t.Control
			tt := types.L2TPTunnel{LocalID: t.LocalID, PeerID: t.PeerID, Source: types.SourceLNS, SA: t.Peer.Binding,
				Peer: t.Peer.Addr.String(), HostName: t.HostName, State: t.State.String(), Sessions: t.Sessions,
				Established: t.Established, UptimeSeconds: t.Uptime(now).Seconds(),
				Control: &types.L2TPControl{RxMessages: c.RxMessages, TxMessages: c.TxMessages, RxZLB: c.RxZLB, TxZLB: c.TxZLB,
					Retransmits: c.Retransmits, Duplicates: c.Duplicates, OutOfOrder: c.OutOfOrder, OutOfWindow: c.OutOfWindow,
					HellosSent: c.HellosSent, HellosAcked: c.HellosAcked, Malformed: c.Malformed, Unexpected: c.Unexpected,
					Refused: c.Refused, Outstanding: t.Outstanding, PeerWindow: t.PeerWindow}}
			if t.Reason != l2tp.ReasonNone {
				tt.Reason = t.Reason.String()
			}
			out = append(out, tt)
		}
	}
	return out
}

// L2TPSessions returns the negotiated sessions, by tunnel and session id.
// Packets and Bytes are what the dataplane delivered from the peer (the
// session's shared counter: data messages and their PPP bytes); TxPackets
// and TxBytes are 0, because sluice does not terminate PPP and sends no
// data messages.
func (l *LNS) L2TPSessions() []types.L2TPSession {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.srv == nil {
		return nil
	}
	ss := l.srv.Sessions()
	out := make([]types.L2TPSession, 0, len(ss))
	for _, s := range ss {
		ts := types.L2TPSession{TunnelID: s.TunnelID, SessionID: s.LocalID, PeerTunnelID: s.PeerTunnelID,
			PeerSessionID: s.PeerID, Source: types.SourceLNS, SA: s.Peer.Binding, State: s.State.String(),
			Established: s.Established, CallSerial: s.CallSerial}
		if d := l.want[dataplane.SessionKey(s.TunnelID, s.LocalID)]; d != nil {
			ts.Packets, ts.Bytes = d.Counter.Load()
		}
		out = append(out, ts)
	}
	return out
}

// LNSStats are the LNS's own counters (the server's are in Server; the
// tunnels' in L2TPTunnels).
type LNSStats struct {
	Punts     uint64 // L2TP control messages handed to the server
	IKE       uint64 // IKE punts (UDP/4500, non-ESP marker), dropped: no IKE daemon in sluice
	Malformed uint64 // punts that are not IP + UDP to port 1701
	NoServer  uint64 // punts before the first commit
	// RoutesFull counts punts from new peers dropped because MaxRoutes
	// routes were kept.
	RoutesFull uint64
	Routes     int // routes kept now

	Replies    uint64                // frames handed to an inject queue
	ReplyDrops [NumReplyDrops]uint64 // replies dropped, by ReplyDrop
	Server     l2tp.ServerStats      // the current server's counters

	TunnelsUp, TunnelsDown   uint64
	SessionsUp, SessionsDown uint64
	StaticCollisions         uint64 // negotiated sessions hung up: a static session has their ids
	SATeardowns              uint64 // tunnels torn down because a commit removed their SA
	Restarts                 uint64 // server restarts for a changed l2tp.lns
	Publishes                uint64 // session map publishes
	PublishDeferred          uint64 // publishes put off because a commit held the controller
	PublishedSessions        int    // dynamic sessions in the last publish
}
