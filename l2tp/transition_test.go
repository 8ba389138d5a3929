package l2tp

import (
	"slices"
	"testing"
	"time"
)

// transition is one row of the state-machine table: a script from a fresh
// server, then the expected tunnel state, session states, events, and the
// Result Code of the last StopCCN/CDN the server sent.
type transition struct {
	name     string
	cfg      func(*ServerConfig)
	script   func(h *harness, l *lac)
	tunnel   TunnelState // 0: no tunnel left
	sessions []SessionState
	events   []string
	result   *ResultCode // of the last StopCCN or CDN sent; nil: none sent
}

func rc(r uint16) *ResultCode { return &ResultCode{Result: r} }
func rce(r, e uint16) *ResultCode {
	return &ResultCode{Result: r, Error: e, HasError: true}
}

func unknownAVP(mandatory bool) AVP {
	return AVP{Mandatory: mandatory, Vendor: 0, Type: 200, Value: []byte{1}}
}

var transitions = []transition{
	{name: "SCCRQ gets SCCRP", tunnel: TunnelWaitCtlConn,
		script: func(h *harness, l *lac) {
			l.send(sccrq(l.tid))
			rp := l.expect(MsgSCCRP)[0]
			if rp.AssignedTunnelID == 0 || string(rp.HostName) != "sluice" || rp.ProtocolVersion != 1 ||
				rp.ReceiveWindowSize != 16 || rp.Has(AVPChallenge) || rp.Nr != 1 || rp.Ns != 0 {
				h.t.Errorf("SCCRP %+v", rp)
			}
		}},
	{name: "SCCCN establishes", tunnel: TunnelEstablished, events: []string{"tunnel-up 100"},
		script: func(h *harness, l *lac) { l.open() }},
	{name: "challenge without secret refused", result: rc(StopNotAuthorized),
		script: func(h *harness, l *lac) {
			m := sccrq(l.tid)
			m.Challenge = []byte("0123456789abcdef")
			m.Add(AVPChallenge)
			l.send(m)
			l.expect(MsgStopCCN)
		}},
	{name: "bad version refused", result: rce(StopBadVersion, 0x0100),
		script: func(h *harness, l *lac) {
			m := sccrq(l.tid)
			m.ProtocolVersion = 2
			l.send(m)
			l.expect(MsgStopCCN)
		}},
	{name: "missing host name refused", result: rce(StopGeneralError, ErrCodeRange),
		script: func(h *harness, l *lac) {
			m := sccrq(l.tid)
			m.present &^= 1 << AVPHostName
			l.send(m)
			l.expect(MsgStopCCN)
		}},
	{name: "unknown mandatory AVP in SCCRQ refused", result: rce(StopGeneralError, ErrCodeUnknownMandat),
		script: func(h *harness, l *lac) {
			m := sccrq(l.tid)
			m.Unknown = []AVP{unknownAVP(true)}
			l.send(m)
			l.expect(MsgStopCCN)
		}},
	{name: "unknown optional AVP in SCCRQ ignored", tunnel: TunnelWaitCtlConn,
		script: func(h *harness, l *lac) {
			m := sccrq(l.tid)
			m.Unknown = []AVP{unknownAVP(false), {Vendor: 311, Type: 1, Value: []byte("ms")}}
			l.send(m)
			l.expect(MsgSCCRP)
		}},
	{name: "unknown mandatory AVP in SCCCN stops tunnel", tunnel: TunnelClosing, result: rce(StopGeneralError, ErrCodeUnknownMandat),
		script: func(h *harness, l *lac) {
			l.send(sccrq(l.tid))
			l.serverTID = l.expect(MsgSCCRP)[0].AssignedTunnelID
			l.send(msg(MsgSCCCN, func(m *Message) { m.Unknown = []AVP{unknownAVP(true)} }))
			l.expect(MsgStopCCN)
		}},
	{name: "unknown message type with M stops tunnel", tunnel: TunnelClosing, events: []string{"tunnel-up 100", "tunnel-down 100 protocol-error"},
		result: rce(StopGeneralError, ErrCodeRange),
		script: func(h *harness, l *lac) {
			l.open()
			l.send(msg(MessageType(99), nil))
			l.expect(MsgStopCCN)
		}},
	{name: "unknown message type without M ignored", tunnel: TunnelEstablished, events: []string{"tunnel-up 100"},
		script: func(h *harness, l *lac) {
			l.open()
			m := msg(MessageType(99), nil)
			b, _ := m.Append(nil, nil, nil)
			b[12] &^= 0x80 // clear the Message Type's M bit
			b[8], b[9], b[10], b[11] = 0, 2, 0, 1
			b[4], b[5] = byte(l.serverTID>>8), byte(l.serverTID)
			h.srv.Input(l.peer, b, h.now)
			h.advance(time.Second)
			l.expect(MsgZLB)
		}},
	{name: "malformed mandatory AVP in HELLO stops tunnel", tunnel: TunnelClosing, events: []string{"tunnel-up 100", "tunnel-down 100 malformed-avp"},
		result: rce(StopGeneralError, ErrCodeLength),
		script: func(h *harness, l *lac) {
			l.open()
			b := mustHex(h.t, "c80200000000000000020001"+"800800000000"+"0006"+"8007000000090a")
			b[3] = byte(len(b))
			b[4], b[5] = byte(l.serverTID>>8), byte(l.serverTID)
			h.srv.Input(l.peer, b, h.now)
			l.expect(MsgStopCCN)
		}},
	{name: "peer StopCCN acked at once", tunnel: TunnelClosed, events: []string{"tunnel-up 100", "tunnel-down 100 peer-stopccn"},
		script: func(h *harness, l *lac) {
			l.open()
			l.send(msg(MsgStopCCN, func(m *Message) {
				m.AssignedTunnelID = l.tid
				m.Result = ResultCode{Result: StopClear}
				m.Add(AVPAssignedTunnelID, AVPResultCode)
			}))
			if z := l.expect(MsgZLB)[0]; z.Nr != 3 {
				h.t.Errorf("ZLB Nr %d, want 3", z.Nr)
			}
			// Its retransmission is acked again, and the state goes after a cycle.
			l.ns--
			l.send(msg(MsgStopCCN, func(m *Message) { m.Result = ResultCode{Result: StopClear}; m.Add(AVPResultCode) }))
			l.expect(MsgZLB)
		}},
	{name: "peer StopCCN state released after a cycle", events: []string{"tunnel-up 100", "tunnel-down 100 peer-stopccn"},
		script: func(h *harness, l *lac) {
			l.open()
			l.send(msg(MsgStopCCN, func(m *Message) { m.Result = ResultCode{Result: StopClear}; m.Add(AVPResultCode) }))
			h.runUntil(h.srv.rel.cycle() + time.Second)
			l.expect(MsgZLB)
		}},
	{name: "peer HELLO acked by ZLB after the ack delay", tunnel: TunnelEstablished, events: []string{"tunnel-up 100"},
		script: func(h *harness, l *lac) {
			l.open()
			h.advance(time.Second)
			l.expect(MsgZLB) // for the SCCCN
			l.send(msg(MsgHELLO, nil))
			l.expect()
			h.advance(h.srv.cfg.AckDelay)
			if z := l.expect(MsgZLB)[0]; z.Nr != 3 {
				h.t.Errorf("ZLB Nr %d, want 3", z.Nr)
			}
		}},
	{name: "ICRQ before SCCCN is an FSM error", tunnel: TunnelClosing, result: rc(StopFSMError),
		script: func(h *harness, l *lac) {
			l.send(sccrq(l.tid))
			l.serverTID = l.expect(MsgSCCRP)[0].AssignedTunnelID
			l.send(icrq(5, 1))
			l.expect(MsgStopCCN)
		}},
	{name: "no SCCCN within a cycle", tunnel: TunnelClosing, result: rc(StopClear),
		script: func(h *harness, l *lac) {
			l.send(sccrq(l.tid))
			l.serverTID = l.expect(MsgSCCRP)[0].AssignedTunnelID
			l.ack()
			h.runUntil(h.srv.rel.cycle())
			l.expect(MsgStopCCN)
		}},
	{name: "operator CloseTunnel", tunnel: TunnelClosing, result: rc(StopClear),
		events: []string{"tunnel-up 100", "session-up 7", "session-down 7 tunnel-down", "tunnel-down 100 admin"},
		script: func(h *harness, l *lac) {
			l.open()
			l.call(7)
			if !h.srv.CloseTunnel(l.serverTID, h.now) || h.srv.CloseTunnel(l.serverTID, h.now) {
				h.t.Error("CloseTunnel result wrong")
			}
			l.expect(MsgStopCCN)
		}},
	{name: "ICRQ gets ICRP", tunnel: TunnelEstablished, sessions: []SessionState{SessionWaitConnect}, events: []string{"tunnel-up 100"},
		script: func(h *harness, l *lac) {
			l.open()
			l.send(icrq(7, 1))
			rp := l.expect(MsgICRP)[0]
			if rp.SessionID != 7 || rp.AssignedSessionID == 0 || rp.TunnelID != l.tid {
				h.t.Errorf("ICRP %+v", rp)
			}
		}},
	{name: "ICCN establishes", tunnel: TunnelEstablished, sessions: []SessionState{SessionEstablished},
		events: []string{"tunnel-up 100", "session-up 7"},
		script: func(h *harness, l *lac) { l.open(); l.call(7) }},
	{name: "peer CDN", tunnel: TunnelEstablished, events: []string{"tunnel-up 100", "session-up 7", "session-down 7 peer-cdn"},
		script: func(h *harness, l *lac) {
			l.open()
			sid := l.call(7)
			l.send(msg(MsgCDN, func(m *Message) {
				m.SessionID = sid
				m.AssignedSessionID = 7
				m.Result = ResultCode{Result: CDNLostCarrier}
				m.Add(AVPAssignedSessionID, AVPResultCode)
			}))
		}},
	{name: "peer CDN before it knew our id", tunnel: TunnelEstablished, events: []string{"tunnel-up 100"},
		script: func(h *harness, l *lac) {
			l.open()
			l.send(icrq(7, 1))
			l.send(msg(MsgCDN, func(m *Message) {
				m.AssignedSessionID = 7
				m.Result = ResultCode{Result: CDNAdmin}
				m.Add(AVPAssignedSessionID, AVPResultCode)
			}))
		}},
	{name: "operator CloseSession", tunnel: TunnelEstablished, result: rc(CDNAdmin),
		events: []string{"tunnel-up 100", "session-up 7", "session-down 7 admin"},
		script: func(h *harness, l *lac) {
			l.open()
			sid := l.call(7)
			if !h.srv.CloseSession(l.serverTID, sid, h.now) || h.srv.CloseSession(l.serverTID, sid, h.now) {
				h.t.Error("CloseSession result wrong")
			}
			cdn := l.expect(MsgCDN)[0]
			if cdn.SessionID != 7 || cdn.AssignedSessionID != sid {
				h.t.Errorf("CDN %+v", cdn)
			}
		}},
	{name: "unknown mandatory AVP in ICCN ends the session only", tunnel: TunnelEstablished,
		result: rce(CDNGeneralError, ErrCodeUnknownMandat), events: []string{"tunnel-up 100"},
		script: func(h *harness, l *lac) {
			l.open()
			l.send(icrq(7, 1))
			sid := l.expect(MsgICRP)[0].AssignedSessionID
			m := iccn(sid)
			m.Unknown = []AVP{unknownAVP(true)}
			l.send(m)
			l.expect(MsgCDN)
		}},
	{name: "malformed mandatory AVP in ICRQ refused by CDN", tunnel: TunnelEstablished,
		result: rce(CDNGeneralError, ErrCodeLength), events: []string{"tunnel-up 100"},
		script: func(h *harness, l *lac) {
			l.open()
			// ICRQ, Assigned Session ID 9, Call Serial Number with 3 bytes.
			b := mustHex(h.t, "c80200000000000000020001"+"80080000000000"+"0a"+"80080000000e0009"+"80090000000f000001")
			b[3] = byte(len(b))
			b[4], b[5] = byte(l.serverTID>>8), byte(l.serverTID)
			h.srv.Input(l.peer, b, h.now)
			if cdn := l.expect(MsgCDN)[0]; cdn.SessionID != 9 || cdn.AssignedSessionID != 0 {
				h.t.Errorf("CDN %+v", cdn)
			}
		}},
	{name: "sessions per tunnel limit", tunnel: TunnelEstablished, sessions: []SessionState{SessionEstablished},
		cfg: func(c *ServerConfig) { c.MaxSessionsPerTunnel = 1 }, result: rc(CDNTempResources),
		events: []string{"tunnel-up 100", "session-up 7"},
		script: func(h *harness, l *lac) {
			l.open()
			l.call(7)
			l.send(icrq(8, 2))
			if cdn := l.expect(MsgCDN)[0]; cdn.SessionID != 8 {
				h.t.Errorf("CDN to %d", cdn.SessionID)
			}
		}},
	{name: "ICRQ reusing a live peer id replaces the call", tunnel: TunnelEstablished, sessions: []SessionState{SessionWaitConnect},
		events: []string{"tunnel-up 100", "session-up 7", "session-down 7 replaced"},
		script: func(h *harness, l *lac) {
			l.open()
			l.call(7)
			l.send(icrq(7, 2))
			l.expect(MsgICRP)
		}},
	{name: "second ICCN is a protocol error", tunnel: TunnelEstablished, result: rce(CDNGeneralError, ErrCodeRange),
		events: []string{"tunnel-up 100", "session-up 7", "session-down 7 protocol-error"},
		script: func(h *harness, l *lac) {
			l.open()
			sid := l.call(7)
			l.send(iccn(sid))
			l.expect(MsgCDN)
		}},
	{name: "ICCN for an unknown session ignored", tunnel: TunnelEstablished, events: []string{"tunnel-up 100"},
		script: func(h *harness, l *lac) {
			l.open()
			l.send(iccn(4242))
			if h.srv.Tunnels()[0].Control.Unexpected != 1 {
				h.t.Error("not counted")
			}
		}},
	{name: "no ICCN within a cycle", tunnel: TunnelEstablished, result: rc(CDNTimeout), events: []string{"tunnel-up 100"},
		cfg: func(c *ServerConfig) { c.HelloInterval = 0 },
		script: func(h *harness, l *lac) {
			l.open()
			l.send(icrq(7, 1))
			l.expect(MsgICRP)
			l.ack()
			h.runUntil(h.srv.rel.cycle())
			l.expect(MsgCDN)
		}},
	{name: "OCRQ refused", tunnel: TunnelEstablished, result: rc(CDNPermResources), events: []string{"tunnel-up 100"},
		script: func(h *harness, l *lac) {
			l.open()
			l.send(msg(MsgOCRQ, func(m *Message) { m.AssignedSessionID = 3; m.Add(AVPAssignedSessionID) }))
			l.expect(MsgCDN)
		}},
	{name: "WEN and SLI recorded", tunnel: TunnelEstablished, sessions: []SessionState{SessionEstablished},
		events: []string{"tunnel-up 100", "session-up 7"},
		script: func(h *harness, l *lac) {
			l.open()
			sid := l.call(7)
			l.send(msg(MsgWEN, func(m *Message) { m.SessionID = sid; m.CallErrors.CRC = 5; m.Add(AVPCallErrors) }))
			l.send(msg(MsgSLI, func(m *Message) { m.SessionID = sid; m.ACCM.Send = 0xa; m.Add(AVPACCM) }))
			s := h.srv.Sessions()[0]
			if s.CallErrors.CRC != 5 || s.ACCM.Send != 0xa || s.CallSerial != 7 || s.TxConnectSpeed != 10000000 {
				h.t.Errorf("session info %+v", s)
			}
		}},
}

func TestTransitions(t *testing.T) {
	for _, tc := range transitions {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.cfg)
			l := h.newLAC("192.0.2.10:1701", 100)
			tc.script(h, l)
			l.recv()
			ts := h.srv.Tunnels()
			switch {
			case tc.tunnel == 0 && len(ts) != 0:
				t.Errorf("tunnels left: %+v", ts)
			case tc.tunnel != 0 && len(ts) != 1:
				t.Fatalf("got %d tunnels, want 1", len(ts))
			case tc.tunnel != 0 && ts[0].State != tc.tunnel:
				t.Errorf("tunnel state %v, want %v", ts[0].State, tc.tunnel)
			}
			var ss []SessionState
			for _, s := range h.srv.Sessions() {
				ss = append(ss, s.State)
			}
			if !slices.Equal(ss, tc.sessions) {
				t.Errorf("sessions %v, want %v", ss, tc.sessions)
			}
			if !slices.Equal(h.events, tc.events) {
				t.Errorf("events %q, want %q", h.events, tc.events)
			}
			var last *Message
			for _, m := range l.inbox {
				if m.Type == MsgStopCCN || m.Type == MsgCDN {
					last = m
				}
			}
			switch {
			case tc.result == nil && last != nil:
				t.Errorf("unexpected %v with result %+v", last.Type, last.Result)
			case tc.result != nil && last == nil:
				t.Errorf("no StopCCN/CDN, want result %+v", *tc.result)
			case tc.result != nil && (last.Result.Result != tc.result.Result || last.Result.HasError != tc.result.HasError ||
				last.Result.Error != tc.result.Error):
				t.Errorf("result %+v, want %+v", last.Result, *tc.result)
			}
			if last != nil && last.Type == MsgStopCCN && (!last.Has(AVPAssignedTunnelID) || !last.Has(AVPResultCode)) {
				t.Error("StopCCN lacks its mandatory AVPs")
			}
		})
	}
}
