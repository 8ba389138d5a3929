package l2tp

// Control plane code: allocates, never on the dataplane's hot path.

import (
	"crypto/subtle"
	"time"
)

// tunnel is one control connection on the LNS side (RFC 2661 section
// 7.2.1):
//
//	idle ──SCCRQ/SCCRP──► wait-ctl-conn ──SCCCN (response ok)──► established
//	  any state ──StopCCN from peer──► closed   (ZLB at once, kept to re-ack)
//	  any state ──error, operator──►  closing  (StopCCN sent, kept to retransmit)
//	  closing/closed ──one full retransmission cycle──► forgotten (section 5.7)
//	  any state ──retransmissions exhausted──► forgotten
//
// A tunnel in wait-ctl-conn that sees no SCCCN within one retransmission
// cycle is stopped, and so is an incoming call that sees no ICCN.
type tunnel struct {
	s      *Server
	id     uint16 // ours: what the peer puts in the header
	peerID uint16 // the peer's Assigned Tunnel ID
	peer   Peer
	state  TunnelState
	rel    *reliable

	hostName   string
	vendorName string
	firmware   uint16
	challenge  []byte // what we sent in SCCRP; nil without a secret

	created     time.Time
	established time.Time
	up          bool      // TunnelUp was emitted
	helloAt     time.Time // send HELLO if nothing arrives before this
	helloNs     uint16
	helloOut    bool
	sweepAt     time.Time // next set-up timeout check; zero: none pending
	holdUntil   time.Time // closing/closed: forget the tunnel then
	reason      CloseReason

	sessions map[uint16]*session // by our session id
	byPeer   map[uint16]*session // by the peer's session id

	heapIdx  int
	deadline time.Time
	removed  bool
}

func newTunnel(s *Server, id uint16, p Peer, m *Message, now time.Time) *tunnel {
	t := &tunnel{
		s: s, id: id, peerID: m.AssignedTunnelID, peer: p,
		hostName: string(m.HostName), vendorName: string(m.VendorName), firmware: m.FirmwareRevision,
		created: now, heapIdx: -1,
		sessions: make(map[uint16]*session), byPeer: make(map[uint16]*session),
	}
	t.rel = newReliable(&s.rel, func(b []byte) { s.cfg.Send(t.peer, b) })
	t.rel.peerTunnel = t.peerID
	if m.Has(AVPReceiveWindowSize) {
		t.rel.setPeerWindow(m.ReceiveWindowSize)
	}
	t.rel.onAck = func(ns uint16) {
		if t.helloOut && ns == t.helloNs {
			t.helloOut = false
			t.rel.stats.HellosAcked++
		}
	}
	return t
}

// setupTimeout bounds SCCRP→SCCCN and ICRP→ICCN: one full retransmission
// cycle, the time the peer has to get its answer through.
func (t *tunnel) setupTimeout() time.Duration { return t.s.rel.cycle() }

// input takes one control message addressed to this tunnel.
func (t *tunnel) input(h Header, payload []byte, now time.Time) {
	m, perr := ParseControl(payload, t.s.cfg.Secret)
	if m == nil || (perr != nil && isFraming(perr)) {
		// Unparseable: treated as lost, so neither Nr nor acks move.
		t.rel.stats.Malformed++
		return
	}
	if t.s.cfg.HelloInterval > 0 {
		t.helloAt = now.Add(t.s.cfg.HelloInterval)
	}
	if t.rel.receive(h.Ns, h.Nr, m.IsZLB(), payload, now) != rxDeliver {
		return
	}
	t.process(m, perr, now)
	for {
		b, ok := t.rel.nextHeld(now)
		if !ok {
			return
		}
		// Held messages were parsed once already, so this parse succeeds
		// as far as framing goes.
		m, perr = ParseControl(b, t.s.cfg.Secret)
		if m == nil {
			continue
		}
		t.process(m, perr, now)
	}
}

// process runs the state machine on one in-order message.
func (t *tunnel) process(m *Message, perr error, now time.Time) {
	if t.state >= TunnelClosing {
		// Section 5.7: only acknowledgements now; a StopCCN gets its ZLB at once.
		if m.Type == MsgStopCCN {
			t.rel.sendZLB()
		}
		return
	}
	scoped := m.Type.SessionScoped()
	switch {
	case perr != nil:
		if scoped {
			t.callError(m, ErrCodeLength, ReasonMalformed, now)
		} else {
			t.stop(StopGeneralError, ErrCodeLength, true, ReasonMalformed, now)
		}
		return
	case !m.Type.Known():
		// Section 4.4.1: an unknown message type clears the tunnel if its M bit is set.
		if m.TypeMandatory {
			t.stop(StopGeneralError, ErrCodeRange, true, ReasonProtocol, now)
		} else {
			t.rel.stats.Unexpected++
		}
		return
	}
	if _, ok := m.UnknownMandatory(); ok {
		// Section 4.1: an unknown M=1 AVP ends the session, or the tunnel
		// when the message is about the tunnel.
		if scoped {
			t.callError(m, ErrCodeUnknownMandat, ReasonUnknownAVP, now)
		} else {
			t.stop(StopGeneralError, ErrCodeUnknownMandat, true, ReasonUnknownAVP, now)
		}
		return
	}
	switch m.Type {
	case MsgSCCRQ:
		if t.state != TunnelIdle {
			t.stop(StopFSMError, 0, false, ReasonProtocol, now)
			return
		}
		t.reply(m, now)
	case MsgSCCCN:
		if t.state != TunnelWaitCtlConn {
			t.stop(StopFSMError, 0, false, ReasonProtocol, now)
			return
		}
		if t.challenge != nil {
			want := ChallengeResponse(MsgSCCCN, t.s.cfg.Secret, t.challenge)
			if !m.Has(AVPChallengeResponse) || subtle.ConstantTimeCompare(want[:], m.ChallengeResponse[:]) != 1 {
				t.stop(StopNotAuthorized, 0, false, ReasonAuth, now)
				return
			}
		}
		t.state = TunnelEstablished
		t.established = now
		t.up = true
		t.s.log.Info("l2tp: tunnel up", "tunnel_id", t.id, "peer_tunnel_id", t.peerID, "peer", t.peer.String(), "host", t.hostName)
		t.s.events.TunnelUp(t.event(ReasonNone, ResultCode{}))
	case MsgStopCCN:
		t.peerStop(m, now)
	case MsgHELLO:
		// Nothing to do: reliable delivery owes the ack (section 6.5).
	case MsgICRQ, MsgICCN, MsgCDN, MsgWEN, MsgSLI:
		if t.state != TunnelEstablished {
			t.stop(StopFSMError, 0, false, ReasonProtocol, now)
			return
		}
		t.callInput(m, now)
	case MsgOCRQ:
		// We place no outgoing calls: refuse it so the peer need not wait.
		if t.state == TunnelEstablished && m.Has(AVPAssignedSessionID) && m.AssignedSessionID != 0 {
			t.refuseCall(m.AssignedSessionID, CDNPermResources, 0, false, now)
		}
	default:
		// SCCRP, ICRP, OCRP, OCCN answer requests an LNS never makes.
		t.rel.stats.Unexpected++
	}
}

// reply answers the SCCRQ that created the tunnel with an SCCRP
// (section 6.2), challenging the peer when a secret is configured and
// answering its challenge (section 5.1.1).
func (t *tunnel) reply(rq *Message, now time.Time) {
	cfg := &t.s.cfg
	m := Message{
		Type:            MsgSCCRP,
		ProtocolVersion: 1, ProtocolRevision: 0,
		FramingCapabilities: FramingSync | FramingAsync,
		FirmwareRevision:    firmwareRevision,
		HostName:            []byte(cfg.Hostname),
		VendorName:          []byte(vendorName),
		AssignedTunnelID:    t.id,
		ReceiveWindowSize:   cfg.ReceiveWindow,
	}
	m.Add(AVPProtocolVersion, AVPFramingCapabilities, AVPFirmwareRevision, AVPHostName, AVPVendorName,
		AVPAssignedTunnelID, AVPReceiveWindowSize)
	if len(cfg.Secret) > 0 {
		t.challenge = make([]byte, 16)
		if err := t.s.random(t.challenge); err != nil {
			t.s.log.Error("l2tp: random source failed", "err", err)
			t.stop(StopGeneralError, ErrCodeResources, true, ReasonProtocol, now)
			return
		}
		m.Challenge = t.challenge
		m.Add(AVPChallenge)
		if rq.Has(AVPChallenge) {
			m.ChallengeResponse = ChallengeResponse(MsgSCCRP, cfg.Secret, rq.Challenge)
			m.Add(AVPChallengeResponse)
		}
	}
	t.state = TunnelWaitCtlConn
	t.sweepAt = now.Add(t.setupTimeout())
	t.send(&m, now)
	t.s.log.Debug("l2tp: SCCRP sent", "tunnel_id", t.id, "peer_tunnel_id", t.peerID)
}

// What we call ourselves in SCCRP (section 4.4.3, optional AVPs).
const (
	vendorName       = "sluice"
	firmwareRevision = 0x0100
)

// send encodes m for the peer and hands it to reliable delivery.
func (t *tunnel) send(m *Message, now time.Time) {
	m.TunnelID = t.peerID
	b, err := m.Append(nil, t.s.cfg.Secret, t.s.cfg.Rand)
	if err != nil {
		// Only our own bug can get here: every value we send has a legal length.
		t.s.log.Error("l2tp: encode", "type", m.Type.String(), "err", err)
		return
	}
	t.rel.queueMsg(b, now)
}

// stop tears the tunnel down from our side (section 5.7): every session
// goes, a StopCCN with the result is queued, and the tunnel is kept for a
// full retransmission cycle.
func (t *tunnel) stop(result, code uint16, hasCode bool, reason CloseReason, now time.Time) {
	if t.state >= TunnelClosing {
		return
	}
	rc := ResultCode{Result: result, Error: code, HasError: hasCode}
	t.down(reason, rc)
	m := Message{Type: MsgStopCCN, AssignedTunnelID: t.id, Result: rc}
	m.Add(AVPAssignedTunnelID, AVPResultCode)
	t.send(&m, now)
	t.state = TunnelClosing
	t.holdUntil = now.Add(t.s.rel.cycle())
}

// peerStop handles the peer's StopCCN: ack it at once and keep the state
// for a full retransmission cycle to re-ack its retransmissions (section 5.7).
func (t *tunnel) peerStop(m *Message, now time.Time) {
	rc := ResultCode{}
	if m.Has(AVPResultCode) {
		rc = m.Result
		rc.Message = append([]byte(nil), rc.Message...)
	}
	t.down(ReasonPeerStop, rc)
	t.rel.abandon()
	t.rel.sendZLB()
	t.state = TunnelClosed
	t.holdUntil = now.Add(t.s.rel.cycle())
}

// down drops every session and announces the tunnel's end.
func (t *tunnel) down(reason CloseReason, rc ResultCode) {
	t.reason = reason
	for _, ss := range t.sessions {
		t.dropSession(ss, ReasonTunnelDown, ResultCode{})
	}
	t.s.log.Debug("l2tp: tunnel down", "tunnel_id", t.id, "peer_tunnel_id", t.peerID, "reason", reason.String(),
		"result", rc.Result, "error", rc.Error)
	if t.up {
		t.up = false
		t.s.events.TunnelDown(t.event(reason, rc))
	}
}

// tick runs the tunnel's timers.
func (t *tunnel) tick(now time.Time) {
	if t.state >= TunnelClosing && !now.Before(t.holdUntil) {
		t.s.remove(t)
		return
	}
	if !t.rel.tick(now) {
		// Section 5.8: the peer stopped acknowledging; clear without a StopCCN.
		if t.state < TunnelClosing {
			t.down(ReasonTimeout, ResultCode{})
		}
		t.s.remove(t)
		return
	}
	if !t.sweepAt.IsZero() && !now.Before(t.sweepAt) {
		t.sweep(now)
	}
	if t.state == TunnelEstablished && t.s.cfg.HelloInterval > 0 && !now.Before(t.helloAt) {
		// Section 6.5: keepalive after a quiet spell. With messages
		// outstanding, their retransmissions already probe the peer.
		if t.rel.outstanding() == 0 {
			m := Message{Type: MsgHELLO}
			t.send(&m, now)
			t.helloNs, t.helloOut = t.rel.nextNs-1, true
			t.rel.stats.HellosSent++
		}
		t.helloAt = now.Add(t.s.cfg.HelloInterval)
	}
}

// sweep enforces the set-up timeouts: no SCCCN or no ICCN within one
// retransmission cycle.
func (t *tunnel) sweep(now time.Time) {
	t.sweepAt = time.Time{}
	limit := t.setupTimeout()
	if t.state == TunnelWaitCtlConn {
		if !now.Before(t.created.Add(limit)) {
			t.stop(StopClear, 0, false, ReasonTimeout, now)
			return
		}
		t.sweepAt = t.created.Add(limit)
	}
	for _, ss := range t.sessions {
		if ss.state != SessionWaitConnect {
			continue
		}
		due := ss.created.Add(limit)
		if !now.Before(due) {
			t.disconnect(ss, ResultCode{Result: CDNTimeout}, ReasonTimeout, now)
			continue
		}
		if t.sweepAt.IsZero() || due.Before(t.sweepAt) {
			t.sweepAt = due
		}
	}
}

// nextDeadline is the earliest of the tunnel's timers; zero if none.
func (t *tunnel) nextDeadline() time.Time {
	d := t.rel.deadline()
	earliest := func(x time.Time) {
		if !x.IsZero() && (d.IsZero() || x.Before(d)) {
			d = x
		}
	}
	if t.state >= TunnelClosing {
		earliest(t.holdUntil)
		return d
	}
	earliest(t.sweepAt)
	if t.state == TunnelEstablished && t.s.cfg.HelloInterval > 0 {
		earliest(t.helloAt)
	}
	return d
}

func (t *tunnel) event(reason CloseReason, rc ResultCode) TunnelEvent {
	return TunnelEvent{Peer: t.peer, LocalID: t.id, PeerID: t.peerID, HostName: t.hostName, Reason: reason, Result: rc}
}

func (t *tunnel) info() TunnelInfo {
	return TunnelInfo{
		LocalID: t.id, PeerID: t.peerID, Peer: t.peer,
		HostName: t.hostName, VendorName: t.vendorName, FirmwareRevision: t.firmware,
		State: t.state, Created: t.created, Established: t.established,
		Sessions: len(t.sessions), PeerWindow: t.rel.peerWindow, Outstanding: t.rel.outstanding(),
		Reason: t.reason, Control: t.rel.stats,
	}
}
