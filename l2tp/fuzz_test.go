package l2tp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// FuzzParseControl: parsing never panics, attribute errors carry their
// offset inside the message, and whatever parses re-encodes and parses
// back to the same message.
func FuzzParseControl(f *testing.F) {
	// Seeds beyond testdata/fuzz/FuzzParseControl: a real xl2tpd SCCRQ, the
	// hashlib-built hidden ICRQ and every AVP.
	full, _ := fullMessage().Append(nil, nil, nil)
	f.Add(full, true)
	f.Add(mustHex(f, vecHiddenICRQ), true)
	f.Add(mustHex(f, "c802000c0001000000050009"), false)
	f.Fuzz(func(t *testing.T, b []byte, withSecret bool) {
		var secret []byte
		if withSecret {
			secret = vecSecret
		}
		m, err := ParseControl(b, secret)
		var ae *AVPError
		if errors.As(err, &ae) {
			if m == nil || ae.Offset < ctrlHeaderLen || ae.Offset >= len(b) {
				t.Fatalf("AVP error %v at offset %d of %d, message %v", ae, ae.Offset, len(b), m != nil)
			}
			return
		}
		if err != nil {
			if m != nil {
				t.Fatal("header error with a message")
			}
			return
		}
		out, err := m.Append(nil, secret, newSeededRand(3))
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		m2, err := ParseControl(out, secret)
		if err != nil {
			t.Fatalf("re-parse: %v (%x)", err, out)
		}
		m.Ignored, m.TypeMandatory = 0, !m.IsZLB()
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip differs:\n%+v\n%+v", m, m2)
		}
	})
}

// FuzzServer feeds a Server a script of messages from a few scripted LACs
// (well-formed, ill-sequenced, with bad AVPs or raw bytes), operator
// actions and clock jumps, checking after every step that ids are unique
// and non-zero, limits hold, events pair up and timers move forward.
func FuzzServer(f *testing.F) {
	f.Add([]byte{0, 0, 1, 1, 0, 2, 1, 5, 3, 0, 9, 40, 4, 0, 5, 0})
	f.Add([]byte{0x80, 0, 0, 1, 1, 0, 2, 0, 9, 2, 0, 3, 3, 0, 6, 0, 9, 255, 9, 255, 10, 0})
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) == 0 {
			return
		}
		flags := script[0]
		script = script[1:]
		h := newHarness(t, func(c *ServerConfig) {
			c.MaxTunnels, c.MaxTunnelsPerPeer, c.MaxSessionsPerTunnel, c.MaxSessions = 6, 3, 4, 10
			c.SCCRQBurst, c.SCCRQRate = 8, 1
			c.HelloInterval = 5 * time.Second
			if flags&0x80 != 0 {
				c.Secret = []byte("fuzz")
			}
		})
		lacs := map[int]*lac{}
		next := func() int {
			if len(script) == 0 {
				return 0
			}
			b := script[0]
			script = script[1:]
			return int(b)
		}
		for steps := 0; len(script) > 0 && steps < 200; steps++ {
			op, arg := next(), next()
			key := arg & 7 // 4 addresses x 2 tunnel ids
			l := lacs[key]
			if l == nil {
				l = h.newLAC(fmt.Sprintf("192.0.2.%d:1701", 1+key&3), uint16(1+key>>2))
				if flags&0x80 != 0 {
					l.secret = []byte("fuzz")
				}
				lacs[key] = l
			}
			l.recv()
			if arg&0x40 != 0 {
				l.ns += uint16(arg & 0x30 >> 4) // mis-sequence on purpose
			}
			sid := uint16(1 + arg>>3&3)
			switch op % 12 {
			case 0:
				l.ns = 0
				l.send(sccrq(l.tid))
				for _, m := range l.recv() {
					if m.Type == MsgSCCRP {
						l.serverTID = m.AssignedTunnelID
					}
				}
			case 1:
				m := msg(MsgSCCCN, nil)
				for _, in := range l.inbox {
					if in.Type == MsgSCCRP && in.Has(AVPChallenge) {
						m.ChallengeResponse = ChallengeResponse(MsgSCCCN, l.secret, in.Challenge)
						m.Add(AVPChallengeResponse)
					}
				}
				l.send(m)
			case 2:
				l.send(icrq(sid, uint32(arg)))
			case 3:
				for _, in := range l.recv() {
					if in.Type == MsgICRP {
						l.send(iccn(in.AssignedSessionID))
					}
				}
			case 4:
				l.send(msg(MsgCDN, func(m *Message) {
					m.AssignedSessionID = sid
					m.Result.Result = CDNLostCarrier
					m.Add(AVPAssignedSessionID, AVPResultCode)
				}))
			case 5:
				l.send(msg(MsgStopCCN, func(m *Message) { m.Result.Result = StopClear; m.Add(AVPResultCode) }))
			case 6:
				l.send(msg(MsgHELLO, nil))
			case 7:
				l.ack()
			case 8:
				n := min(next(), len(script))
				raw := append([]byte(nil), script[:n]...)
				script = script[n:]
				if len(raw) >= 6 && arg&1 != 0 {
					binary.BigEndian.PutUint16(raw[4:], l.serverTID) // aim it at a live tunnel
				}
				h.srv.Input(l.peer, raw, h.now)
			case 9:
				h.runUntil(time.Duration(arg) * 100 * time.Millisecond)
			case 10:
				if ts := h.srv.Tunnels(); len(ts) > 0 {
					h.srv.CloseTunnel(ts[arg%len(ts)].LocalID, h.now)
				}
				if ss := h.srv.Sessions(); len(ss) > 0 {
					s := ss[arg%len(ss)]
					h.srv.CloseSession(s.TunnelID, s.LocalID, h.now)
				}
			case 11:
				t := MessageType(1 + arg%19)
				l.send(msg(t, func(m *Message) { m.Unknown = []AVP{unknownAVP(arg&1 != 0)} }))
			}
			checkServer(t, h)
		}
		h.srv.Shutdown(h.now)
		h.runUntil(time.Hour)
		checkServer(t, h)
		if len(h.srv.Tunnels()) != 0 || h.srv.sessions != 0 {
			t.Fatalf("not drained: %d tunnels, %d sessions", len(h.srv.Tunnels()), h.srv.sessions)
		}
		for k, v := range h.up {
			if v {
				t.Fatalf("%s still up after shutdown", k)
			}
		}
	})
}

func checkServer(t *testing.T, h *harness) {
	t.Helper()
	s := h.srv
	for _, o := range h.out {
		if _, err := ParseControl(o.b, s.cfg.Secret); err != nil {
			t.Fatalf("server sent unparseable %x: %v", o.b, err)
		}
	}
	h.out = nil
	ts := s.Tunnels()
	if len(ts) > s.cfg.MaxTunnels || len(ts) != len(s.tunnels) {
		t.Fatalf("%d tunnels, limit %d", len(ts), s.cfg.MaxTunnels)
	}
	perPeer := map[netip.Addr]int{}
	ids := map[uint16]bool{}
	for _, ti := range ts {
		if ti.LocalID == 0 || ids[ti.LocalID] {
			t.Fatalf("tunnel id %d zero or repeated", ti.LocalID)
		}
		ids[ti.LocalID] = true
		perPeer[ti.Peer.Addr.Addr()]++
		if perPeer[ti.Peer.Addr.Addr()] > s.cfg.MaxTunnelsPerPeer {
			t.Fatalf("peer %v over its limit", ti.Peer)
		}
		if ti.Sessions > s.cfg.MaxSessionsPerTunnel {
			t.Fatalf("tunnel %d has %d sessions", ti.LocalID, ti.Sessions)
		}
		if ti.State >= TunnelClosing && ti.Sessions != 0 {
			t.Fatalf("closing tunnel %d still has sessions", ti.LocalID)
		}
	}
	ss := s.Sessions()
	if len(ss) > s.cfg.MaxSessions || len(ss) != s.sessions {
		t.Fatalf("%d sessions listed, %d counted, limit %d", len(ss), s.sessions, s.cfg.MaxSessions)
	}
	sids := map[[2]uint16]bool{}
	for _, si := range ss {
		k := [2]uint16{si.TunnelID, si.LocalID}
		if si.LocalID == 0 || sids[k] || !ids[si.TunnelID] {
			t.Fatalf("session %v zero, repeated or orphaned", k)
		}
		sids[k] = true
	}
	if d := s.NextDeadline(); !d.IsZero() && !d.After(h.now) {
		// Only right after a step that did not Tick may a timer be due; Tick
		// must then clear it.
		s.Tick(h.now)
		if d := s.NextDeadline(); !d.IsZero() && !d.After(h.now) {
			t.Fatalf("deadline %v not after now %v after Tick", d, h.now)
		}
		checkServer(t, h)
	}
}
