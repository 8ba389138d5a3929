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
