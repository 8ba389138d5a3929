package l2tp

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestDefaultServerConfig(t *testing.T) {
	c := DefaultServerConfig()
	c.Send = func(Peer, []byte) {}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	// RFC 2661 section 5.8: 1s first retransmission, cap at least 8s;
	// section 4.4.3: a window of at least the default 4; section 6.5: hellos on.
	if c.RetransmitTimeout != time.Second || c.RetransmitCap < 8*time.Second || c.MaxRetransmits < 5 ||
		c.ReceiveWindow < 4 || c.HelloInterval != 60*time.Second || c.AckDelay >= c.RetransmitTimeout {
		t.Errorf("timers: %+v", c)
	}
	if c.MaxTunnels < 10000 || c.MaxSessions < 10000 || c.MaxTunnelsPerPeer < 1 || c.MaxSessionsPerTunnel < 1 ||
		c.SCCRQRate <= 0 || c.SCCRQBurst < 1 || c.Hostname == "" {
		t.Errorf("limits: %+v", c)
	}
	var bad ServerConfig
	if _, err := NewServer(bad); err == nil {
		t.Error("zero config accepted")
	}
}

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

// TestTunnelAuth runs tunnel authentication both ways with a secret
// (RFC 2661 section 5.1.1), the responses checked against the hashlib vector
// machinery's function, itself checked in TestChallengeResponseVector.
func TestTunnelAuth(t *testing.T) {
	secret := []byte("tunnel secret")
	for _, tc := range []struct {
		name     string
		response func(chal []byte) []byte
		want     TunnelState
	}{
		{"right response", func(c []byte) []byte { r := ChallengeResponse(MsgSCCCN, secret, c); return r[:] }, TunnelEstablished},
		{"response for the wrong message type", func(c []byte) []byte { r := ChallengeResponse(MsgSCCRP, secret, c); return r[:] }, TunnelClosing},
		{"wrong secret", func(c []byte) []byte { r := ChallengeResponse(MsgSCCCN, []byte("nope"), c); return r[:] }, TunnelClosing},
		{"no response", nil, TunnelClosing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *ServerConfig) { c.Secret = secret })
			l := h.newLAC("192.0.2.10:1701", 100)
			m := sccrq(l.tid)
			m.Challenge = []byte("lac's challenge")
			m.Add(AVPChallenge)
			l.send(m)
			rp := l.expect(MsgSCCRP)[0]
			l.serverTID = rp.AssignedTunnelID
			want := ChallengeResponse(MsgSCCRP, secret, []byte("lac's challenge"))
			if !rp.Has(AVPChallengeResponse) || rp.ChallengeResponse != want {
				t.Errorf("server's response %x, want %x", rp.ChallengeResponse, want)
			}
			if len(rp.Challenge) != 16 {
				t.Fatalf("server's challenge %x", rp.Challenge)
			}
			cn := msg(MsgSCCCN, nil)
			if tc.response != nil {
				copy(cn.ChallengeResponse[:], tc.response(rp.Challenge))
				cn.Add(AVPChallengeResponse)
			}
			l.send(cn)
			if st := h.srv.Tunnels()[0].State; st != tc.want {
				t.Errorf("state %v, want %v", st, tc.want)
			}
			if tc.want == TunnelClosing {
				if stop := l.expect(MsgStopCCN)[0]; stop.Result.Result != StopNotAuthorized {
					t.Errorf("result %+v", stop.Result)
				}
				if len(h.events) != 0 {
					t.Errorf("events %q for a tunnel never up", h.events)
				}
			}
		})
	}
}

// TestDuplicateSCCRQ: a retransmitted SCCRQ (same peer, same Assigned
// Tunnel ID) must not make a second tunnel; the server re-acks it.
func TestDuplicateSCCRQ(t *testing.T) {
	h := newHarness(t, nil)
	l := h.newLAC("192.0.2.10:1701", 100)
	l.send(sccrq(l.tid))
	rp := l.expect(MsgSCCRP)[0]
	for range 3 {
		l.ns = 0
		l.send(sccrq(l.tid)) // same Ns 0
		if z := l.expect(MsgZLB)[0]; z.Nr != 1 {
			t.Errorf("re-ack Nr %d", z.Nr)
		}
	}
	// From another port of the same address too (NAT rebinding).
	l2 := h.newLAC("192.0.2.10:40000", 100)
	l2.send(sccrq(100))
	l2.expect(MsgZLB)
	if n := len(h.srv.Tunnels()); n != 1 {
		t.Fatalf("%d tunnels", n)
	}
	if h.srv.Tunnels()[0].Control.Duplicates != 4 || h.srv.Stats().TunnelsOpened != 1 {
		t.Errorf("stats %+v %+v", h.srv.Tunnels()[0].Control, h.srv.Stats())
	}
	// The same Assigned Tunnel ID from another peer is another tunnel.
	l3 := h.newLAC("192.0.2.11:1701", 100)
	l3.send(sccrq(100))
	if rp3 := l3.expect(MsgSCCRP)[0]; rp3.AssignedTunnelID == rp.AssignedTunnelID {
		t.Error("tunnel id reused")
	}
	// And another binding (SA) from the same address too.
	l4 := h.newLAC("192.0.2.11:1701", 100)
	l4.peer.Binding = "sa-2"
	l4.send(sccrq(100))
	l4.expect(MsgSCCRP)
	if n := len(h.srv.Tunnels()); n != 3 {
		t.Fatalf("%d tunnels, want 3", n)
	}
}

// TestPeerBinding: messages for a tunnel from another address or binding
// are dropped; a new port on the same address and binding is followed.
func TestPeerBinding(t *testing.T) {
	h := newHarness(t, nil)
	l := h.newLAC("192.0.2.10:1701", 100)
	l.peer.Binding = "in-client1"
	l.open()
	for _, p := range []Peer{
		{Addr: netip.MustParseAddrPort("192.0.2.99:1701"), Binding: "in-client1"},
		{Addr: netip.MustParseAddrPort("192.0.2.10:1701"), Binding: "in-client2"},
		{Addr: netip.MustParseAddrPort("192.0.2.10:1701")},
	} {
		spoof := *l
		spoof.peer = p
		spoof.send(msg(MsgStopCCN, func(m *Message) { m.Result.Result = 1; m.Add(AVPResultCode) }))
	}
	if st := h.srv.Stats(); st.WrongPeer != 3 {
		t.Errorf("wrong-peer %d, want 3", st.WrongPeer)
	}
	if h.srv.Tunnels()[0].State != TunnelEstablished {
		t.Fatal("spoofed StopCCN took effect")
	}
	l.peer.Addr = netip.MustParseAddrPort("192.0.2.10:4500")
	l.ns-- // the spoofs consumed Ns in our copy only
	l.ns += 0
	l.send(msg(MsgHELLO, nil))
	h.advance(time.Second)
	got := h.out[len(h.out)-1]
	if got.peer.Addr.Port() != 4500 {
		t.Errorf("reply went to %v", got.peer)
	}
	// Unknown tunnel, tunnel 0 non-SCCRQ, data messages, garbage.
	h.srv.Input(l.peer, mustHex(t, "c802000c7777000000000000"), h.now)
	h.srv.Input(l.peer, mustHex(t, "c802000c0000000000000000"), h.now)
	h.srv.Input(l.peer, mustHex(t, "0002000100010203"), h.now)
	h.srv.Input(l.peer, []byte{1, 2, 3}, h.now)
	st := h.srv.Stats()
	if st.UnknownTunnel != 1 || st.NoTunnelID != 1 || st.NotControl != 1 || st.Malformed != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestHello: after a quiet interval the server sends HELLO; an ack keeps
// the tunnel, silence ends it after the retransmissions (RFC 2661 6.5, 5.8).
func TestHello(t *testing.T) {
	h := newHarness(t, func(c *ServerConfig) { c.HelloInterval = 10 * time.Second })
	l := h.newLAC("192.0.2.10:1701", 100)
	l.open()
	h.runUntil(10 * time.Second)
	got := l.recv()
	if len(got) != 2 || got[0].Type != MsgZLB || got[1].Type != MsgHELLO {
		t.Fatalf("got %v", typesOf(got))
	}
	l.ack()
	if c := h.srv.Tunnels()[0].Control; c.HellosSent != 1 || c.HellosAcked != 1 {
		t.Errorf("hello counters %+v", c)
	}
	// Now the LAC goes silent: HELLO, then 5 retransmissions backing off
	// 1, 2, 4, 8 (the cap), 8 s; 8 s after the last the tunnel is cleared.
	h.runUntil(70 * time.Second)
	var at []time.Time
	for _, s := range h.out {
		if m, err := ParseControl(s.b, nil); err != nil || m.Type != MsgHELLO {
			t.Fatalf("sent %x (%v)", s.b, err)
		}
		at = append(at, s.at)
	}
	h.out = nil
	var gaps []time.Duration
	for i := 1; i < len(at); i++ {
		gaps = append(gaps, at[i].Sub(at[i-1]))
	}
	s := time.Second
	if want := []time.Duration{s, 2 * s, 4 * s, 8 * s, 8 * s}; !slices.Equal(gaps, want) {
		t.Errorf("retransmission gaps %v, want %v", gaps, want)
	}
	if len(h.srv.Tunnels()) != 0 {
		t.Fatal("tunnel survived a silent peer")
	}
	want := []string{"tunnel-up 100", "tunnel-down 100 timeout"}
	if !slices.Equal(h.events, want) {
		t.Errorf("events %q, want %q", h.events, want)
	}
}

// TestSCCRQRateLimit: a token bucket admits the burst, then the rate.
func TestSCCRQRateLimit(t *testing.T) {
	h := newHarness(t, func(c *ServerConfig) { c.SCCRQRate = 2; c.SCCRQBurst = 3; c.MaxTunnelsPerPeer = 0 })
	for i := range 5 {
		l := h.newLAC("192.0.2.10:1701", uint16(100+i))
		l.send(sccrq(l.tid))
	}
	if st := h.srv.Stats(); st.TunnelsOpened != 3 || st.RateLimited != 2 {
		t.Fatalf("stats %+v", st)
	}
	h.now = h.now.Add(500 * time.Millisecond) // one token
	for i := range 2 {
		l := h.newLAC("192.0.2.10:1701", uint16(200+i))
		l.send(sccrq(l.tid))
	}
	if st := h.srv.Stats(); st.TunnelsOpened != 4 || st.RateLimited != 3 {
		t.Fatalf("stats %+v", st)
	}
	// Established tunnels keep working while SCCRQs are refused.
	l := h.newLAC("192.0.2.20:1701", 1)
	h.now = h.now.Add(time.Second)
	l.open()
	for i := range 50 {
		f := h.newLAC("192.0.2.30:1701", uint16(1000+i))
		f.send(sccrq(f.tid))
	}
	l.call(5)
	if len(h.srv.Sessions()) != 1 {
		t.Error("established tunnel starved")
	}
}

// TestLimits: tunnels in total and per peer, sessions in total.
func TestLimits(t *testing.T) {
	h := newHarness(t, func(c *ServerConfig) { c.MaxTunnels = 3; c.MaxTunnelsPerPeer = 2; c.MaxSessions = 2 })
	var ls []*lac
	for i, addr := range []string{"192.0.2.1:1701", "192.0.2.1:1701", "192.0.2.1:1701", "192.0.2.2:1701", "192.0.2.3:1701"} {
		l := h.newLAC(addr, uint16(10+i))
		l.send(sccrq(l.tid))
		got := l.recv()
		ls = append(ls, l)
		wantStop := i == 2 || i == 4 // per-peer limit, then the total
		if len(got) != 1 || (got[0].Type == MsgStopCCN) != wantStop {
			t.Fatalf("SCCRQ %d: got %v", i, typesOf(got))
		}
		if wantStop && (got[0].Result.Result != StopGeneralError || got[0].Result.Error != ErrCodeResources) {
			t.Errorf("result %+v", got[0].Result)
		}
		if !wantStop {
			l.serverTID = got[0].AssignedTunnelID
			l.send(msg(MsgSCCCN, nil))
		}
	}
	ls[0].call(1)
	ls[1].call(1)
	ls[3].send(icrq(1, 1))
	if cdn := ls[3].expect(MsgCDN)[0]; cdn.Result.Result != CDNTempResources {
		t.Errorf("result %+v", cdn.Result)
	}
	ls[3].ack()
	if n := len(h.srv.Sessions()); n != 2 {
		t.Errorf("%d sessions", n)
	}
	// Closing frees the ids and counts once the state is released.
	h.srv.CloseTunnel(ls[0].serverTID, h.now)
	ls[0].recv()
	ls[0].ack()
	h.runUntil(h.srv.rel.cycle() + time.Second)
	ls[3].call(2)
	if n := len(h.srv.Sessions()); n != 2 {
		t.Errorf("%d sessions after release", n)
	}
}

// TestManySessions: 10,000 sessions over 100 tunnels, then all torn down;
// ids unique and non-zero, the listing complete.
func TestManySessions(t *testing.T) {
	h := newHarness(t, func(c *ServerConfig) {
		c.MaxSessionsPerTunnel = 0
		c.MaxTunnelsPerPeer = 0
		c.SCCRQBurst = 1000
	})
	var ls []*lac
	for i := range 100 {
		l := h.newLAC(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), 1701).String(), uint16(i+1))
		l.open()
		for j := range 100 {
			l.call(uint16(j + 1))
		}
		l.recv()
		ls = append(ls, l)
	}
	ss := h.srv.Sessions()
	if len(ss) != 10000 {
		t.Fatalf("%d sessions", len(ss))
	}
	seen := map[[2]uint16]bool{}
	for _, s := range ss {
		k := [2]uint16{s.TunnelID, s.LocalID}
		if s.LocalID == 0 || s.TunnelID == 0 || seen[k] || s.State != SessionEstablished {
			t.Fatalf("bad session %+v", s)
		}
		seen[k] = true
	}
	for _, l := range ls {
		h.srv.CloseTunnel(l.serverTID, h.now)
	}
	if n := len(h.srv.Sessions()); n != 0 {
		t.Errorf("%d sessions left", n)
	}
	ups, downs := 0, 0
	for _, e := range h.events {
		if bytes.HasPrefix([]byte(e), []byte("session-up")) {
			ups++
		}
		if bytes.HasPrefix([]byte(e), []byte("session-down")) {
			downs++
		}
	}
	if ups != 10000 || downs != 10000 {
		t.Errorf("%d ups, %d downs", ups, downs)
	}
}

// TestShutdown: every tunnel gets StopCCN 6 and the server drains.
func TestShutdown(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.newLAC("192.0.2.1:1701", 1), h.newLAC("192.0.2.2:1701", 2)
	a.open()
	b.open()
	h.srv.Shutdown(h.now)
	for _, l := range []*lac{a, b} {
		got := l.recv()
		if len(got) != 1 || got[0].Type != MsgStopCCN || got[0].Result.Result != StopShuttingDown {
			t.Fatalf("got %v", typesOf(got))
		}
		l.ack()
	}
	h.runUntil(time.Hour)
	if len(h.srv.Tunnels()) != 0 || !h.srv.NextDeadline().IsZero() {
		t.Errorf("not drained: %+v", h.srv.Tunnels())
	}
}
