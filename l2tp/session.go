package l2tp

// Control plane code: allocates, never on the dataplane's hot path.

import "time"

// session is one incoming call on the LNS side (RFC 2661 section 7.4.2):
//
//	idle ──ICRQ/ICRP──► wait-connect ──ICCN──► established
//	  either state ──CDN from peer──► gone (no reply but the ack)
//	  either state ──error, operator, set-up timeout──► CDN sent, gone
//
// A session is forgotten as soon as a CDN is sent or received: CDN needs
// no reply but its acknowledgement, which reliable delivery handles at the
// tunnel level, and later messages for the id are ignored.
type session struct {
	id, peerID  uint16
	state       SessionState
	serial      uint32
	created     time.Time
	established time.Time
	up          bool // SessionUp was emitted

	txSpeed, rxSpeed uint32
	framing, bearer  uint32
	calling, called  string
	seqRequired      bool
	callErrors       CallErrors
	accm             ACCM
}

// callInput dispatches a call-management message on an established tunnel.
func (t *tunnel) callInput(m *Message, now time.Time) {
	switch m.Type {
	case MsgICRQ:
		t.incomingCall(m, now)
	case MsgICCN:
		ss := t.sessions[m.SessionID]
		if ss == nil {
			t.rel.stats.Unexpected++ // e.g. a call we already disconnected
			return
		}
		if ss.state != SessionWaitConnect {
			t.disconnect(ss, ResultCode{Result: CDNGeneralError, Error: ErrCodeRange, HasError: true}, ReasonProtocol, now)
			return
		}
		ss.state = SessionEstablished
		ss.established = now
		ss.txSpeed, ss.rxSpeed = m.TxConnectSpeed, m.RxConnectSpeed
		ss.framing = m.FramingType
		ss.seqRequired = m.Has(AVPSequencingRequired)
		ss.up = true
		t.s.log.Debug("l2tp: session up", "tunnel_id", t.id, "session_id", ss.id, "peer_session_id", ss.peerID)
		t.s.events.SessionUp(t.sessionEvent(ss, ReasonNone, ResultCode{}))
	case MsgCDN:
		ss := t.sessionOf(m)
		if ss == nil {
			t.rel.stats.Unexpected++
			return
		}
		rc := m.Result
		rc.Message = append([]byte(nil), rc.Message...)
		t.dropSession(ss, ReasonPeerCDN, rc)
	case MsgWEN:
		if ss := t.sessions[m.SessionID]; ss != nil && m.Has(AVPCallErrors) {
			ss.callErrors = m.CallErrors
		} else {
			t.rel.stats.Unexpected++
		}
	case MsgSLI:
		if ss := t.sessions[m.SessionID]; ss != nil && m.Has(AVPACCM) {
			ss.accm = m.ACCM
		} else {
			t.rel.stats.Unexpected++
		}
	}
}

// sessionOf finds the session a message is about: by our id in the
// header, or, when the peer did not know it yet (a CDN racing our ICRP),
// by the peer's Assigned Session ID.
func (t *tunnel) sessionOf(m *Message) *session {
	if ss := t.sessions[m.SessionID]; ss != nil {
		return ss
	}
	if m.SessionID == 0 && m.Has(AVPAssignedSessionID) {
		return t.byPeer[m.AssignedSessionID]
	}
	return nil
}

// incomingCall answers an ICRQ with an ICRP (section 6.10), or refuses it
// with a CDN when a limit is reached.
func (t *tunnel) incomingCall(m *Message, now time.Time) {
	if !m.Has(AVPAssignedSessionID) || m.AssignedSessionID == 0 {
		t.rel.stats.Unexpected++ // no id to address a refusal to
		return
	}
	peerID := m.AssignedSessionID
	if old := t.byPeer[peerID]; old != nil {
		// A new call reusing a live id: the peer has forgotten the old one.
		t.dropSession(old, ReasonReplaced, ResultCode{})
	}
	cfg := &t.s.cfg
	if (cfg.MaxSessionsPerTunnel > 0 && len(t.sessions) >= cfg.MaxSessionsPerTunnel) ||
		(cfg.MaxSessions > 0 && t.s.sessions >= cfg.MaxSessions) || len(t.sessions) >= 0xffff {
		t.refuseCall(peerID, CDNTempResources, 0, false, now)
		return
	}
	id, ok := t.s.allocID(func(id uint16) bool { return t.sessions[id] != nil })
	if !ok {
		t.refuseCall(peerID, CDNTempResources, 0, false, now)
		return
	}
	ss := &session{
		id: id, peerID: peerID, state: SessionWaitConnect, serial: m.CallSerialNumber, created: now,
		bearer: m.BearerType, calling: string(m.CallingNumber), called: string(m.CalledNumber),
	}
	t.sessions[id] = ss
	t.byPeer[peerID] = ss
	t.s.sessions++
	r := Message{Type: MsgICRP, SessionID: peerID, AssignedSessionID: id}
	r.Add(AVPAssignedSessionID)
	t.send(&r, now)
	if due := now.Add(t.setupTimeout()); t.sweepAt.IsZero() || due.Before(t.sweepAt) {
		t.sweepAt = due
	}
}

// callError ends the call a message with a bad AVP belongs to (section 4.1).
func (t *tunnel) callError(m *Message, code uint16, reason CloseReason, now time.Time) {
	ss := t.sessionOf(m)
	if m.Type == MsgICRQ {
		ss = nil // the ICRQ asked for a new call; any old one is not at fault
		if m.Has(AVPAssignedSessionID) {
			ss = t.byPeer[m.AssignedSessionID]
		}
	}
	switch {
	case ss != nil && m.Type == MsgCDN:
		t.dropSession(ss, reason, ResultCode{}) // it is going anyway
	case ss != nil:
		t.disconnect(ss, ResultCode{Result: CDNGeneralError, Error: code, HasError: true}, reason, now)
	case m.Type == MsgICRQ && m.Has(AVPAssignedSessionID) && m.AssignedSessionID != 0:
		t.refuseCall(m.AssignedSessionID, CDNGeneralError, code, true, now)
	default:
		t.rel.stats.Unexpected++
	}
}

// disconnect sends a CDN for ss (section 6.14) and forgets it.
func (t *tunnel) disconnect(ss *session, rc ResultCode, reason CloseReason, now time.Time) {
	m := Message{Type: MsgCDN, SessionID: ss.peerID, AssignedSessionID: ss.id, Result: rc}
	m.Add(AVPResultCode, AVPAssignedSessionID)
	t.send(&m, now)
	t.dropSession(ss, reason, rc)
}

// refuseCall sends a CDN for a call we never assigned an id to: Assigned
// Session ID 0.
func (t *tunnel) refuseCall(peerID uint16, result, code uint16, hasCode bool, now time.Time) {
	m := Message{Type: MsgCDN, SessionID: peerID, Result: ResultCode{Result: result, Error: code, HasError: hasCode}}
	m.Add(AVPResultCode, AVPAssignedSessionID)
	t.send(&m, now)
	t.rel.stats.Refused++
}

// dropSession forgets ss and announces its end if it was up.
func (t *tunnel) dropSession(ss *session, reason CloseReason, rc ResultCode) {
	delete(t.sessions, ss.id)
	if t.byPeer[ss.peerID] == ss {
		delete(t.byPeer, ss.peerID)
	}
	t.s.sessions--
	t.s.log.Debug("l2tp: session down", "tunnel_id", t.id, "session_id", ss.id, "reason", reason.String())
	if ss.up {
		ss.up = false
		t.s.events.SessionDown(t.sessionEvent(ss, reason, rc))
	}
}

func (t *tunnel) sessionEvent(ss *session, reason CloseReason, rc ResultCode) SessionEvent {
	return SessionEvent{Peer: t.peer, LocalTunnelID: t.id, PeerTunnelID: t.peerID, LocalID: ss.id, PeerID: ss.peerID,
		SequencingRequired: ss.seqRequired, Reason: reason, Result: rc}
}

func (ss *session) info(t *tunnel) SessionInfo {
	return SessionInfo{
		TunnelID: t.id, PeerTunnelID: t.peerID, LocalID: ss.id, PeerID: ss.peerID, Peer: t.peer,
		State: ss.state, CallSerial: ss.serial, Created: ss.created, Established: ss.established,
		TxConnectSpeed: ss.txSpeed, RxConnectSpeed: ss.rxSpeed, FramingType: ss.framing, BearerType: ss.bearer,
		CallingNumber: ss.calling, CalledNumber: ss.called, SequencingRequired: ss.seqRequired,
		CallErrors: ss.callErrors, ACCM: ss.accm,
	}
}
