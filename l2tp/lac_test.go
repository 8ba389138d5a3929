package l2tp

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// harness drives a Server with a fake clock and records what it sends and
// announces.
type harness struct {
	t      testing.TB
	now    time.Time
	srv    *Server
	out    []sentMsg
	events []string
	up     map[string]bool // live tunnels/sessions by event key, to check pairing
}

type sentMsg struct {
	peer Peer
	b    []byte
	at   time.Time
}

// seededRand is a deterministic byte source for ids and challenges.
type seededRand struct{ r *rand.ChaCha8 }

func (s seededRand) Read(p []byte) (int, error) { return s.r.Read(p) }

func newSeededRand(seed byte) seededRand {
	var k [32]byte
	k[0] = seed
	return seededRand{rand.NewChaCha8(k)}
}

func newHarness(t testing.TB, mod func(*ServerConfig)) *harness {
	h := &harness{t: t, now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), up: map[string]bool{}}
	cfg := DefaultServerConfig()
	cfg.Rand = newSeededRand(1)
	cfg.Send = func(p Peer, b []byte) { h.out = append(h.out, sentMsg{p, append([]byte(nil), b...), h.now}) }
	cfg.Events = EventFuncs{
		OnTunnelUp: func(e TunnelEvent) {
			h.pair("+", fmt.Sprintf("t%d", e.LocalID))
			h.events = append(h.events, fmt.Sprintf("tunnel-up %d", e.PeerID))
		},
		OnTunnelDown: func(e TunnelEvent) {
			h.pair("-", fmt.Sprintf("t%d", e.LocalID))
			h.events = append(h.events, fmt.Sprintf("tunnel-down %d %s", e.PeerID, e.Reason))
		},
		OnSessionUp: func(e SessionEvent) {
			h.pair("+", fmt.Sprintf("s%d/%d", e.LocalTunnelID, e.LocalID))
			h.events = append(h.events, fmt.Sprintf("session-up %d", e.PeerID))
		},
		OnSessionDown: func(e SessionEvent) {
			h.pair("-", fmt.Sprintf("s%d/%d", e.LocalTunnelID, e.LocalID))
			h.events = append(h.events, fmt.Sprintf("session-down %d %s", e.PeerID, e.Reason))
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	return h
}

// pair checks that every Up is matched by one Down and vice versa.
func (h *harness) pair(dir, key string) {
	if (dir == "+") == h.up[key] {
		h.t.Errorf("event %s%s out of pairing", dir, key)
	}
	h.up[key] = dir == "+"
}

// advance moves the clock and runs due timers.
func (h *harness) advance(d time.Duration) {
	h.now = h.now.Add(d)
	h.srv.Tick(h.now)
}

// runUntil advances to each deadline up to now+d.
func (h *harness) runUntil(d time.Duration) {
	end := h.now.Add(d)
	for {
		next := h.srv.NextDeadline()
		if next.IsZero() || next.After(end) {
			h.now = end
			return
		}
		h.now = next
		h.srv.Tick(h.now)
	}
}

// lac is a scripted LAC: it speaks through the codec and keeps its own
// sequence numbers, so tests can also make it misbehave.
type lac struct {
	h         *harness
	peer      Peer
	tid       uint16 // its own tunnel id
	serverTID uint16 // learned from SCCRP
	ns, nr    uint16
	secret    []byte
	inbox     []*Message
}

func (h *harness) newLAC(addr string, tid uint16) *lac {
	return &lac{h: h, peer: Peer{Addr: netip.MustParseAddrPort(addr)}, tid: tid}
}

// send fills in the header and feeds m to the server.
func (l *lac) send(m *Message) {
	l.h.t.Helper()
	if m.TunnelID == 0 && m.Type != MsgSCCRQ {
		m.TunnelID = l.serverTID
	}
	m.Ns, m.Nr = l.ns, l.nr
	b, err := m.Append(nil, l.secret, newSeededRand(9))
	if err != nil {
		l.h.t.Fatal(err)
	}
	if !m.IsZLB() {
		l.ns++
	}
	l.h.srv.Input(l.peer, b, l.h.now)
}

// msg builds a message of type t with the attributes set by f.
func msg(t MessageType, f func(m *Message)) *Message {
	m := &Message{Type: t}
	if f != nil {
		f(m)
	}
	return m
}

// recv collects what the server sent this LAC since the last call, in
// order, advancing Nr over in-order messages.
func (l *lac) recv() []*Message {
	l.h.t.Helper()
	var got []*Message
	var keep []sentMsg
	for _, s := range l.h.out {
		if s.peer.Addr.Addr() != l.peer.Addr.Addr() {
			keep = append(keep, s)
			continue
		}
		m, err := ParseControl(s.b, l.secret)
		if err != nil {
			l.h.t.Fatalf("server sent unparseable message %x: %v", s.b, err)
		}
		if m.TunnelID != l.tid {
			keep = append(keep, s)
			continue
		}
		if !m.IsZLB() && m.Ns == l.nr {
			l.nr++
		}
		got = append(got, m)
	}
	l.h.out = keep
	l.inbox = append(l.inbox, got...)
	return got
}

// expect receives and checks the message types, ZLBs included.
func (l *lac) expect(types ...MessageType) []*Message {
	l.h.t.Helper()
	got := l.recv()
	if len(got) != len(types) {
		l.h.t.Fatalf("got %v, want %v", typesOf(got), types)
	}
	for i := range got {
		if got[i].Type != types[i] {
			l.h.t.Fatalf("got %v, want %v", typesOf(got), types)
		}
	}
	return got
}

func typesOf(ms []*Message) []MessageType {
	var ts []MessageType
	for _, m := range ms {
		ts = append(ts, m.Type)
	}
	return ts
}

func sccrq(tid uint16) *Message {
	return msg(MsgSCCRQ, func(m *Message) {
		m.ProtocolVersion = 1
		m.FramingCapabilities = FramingSync | FramingAsync
		m.HostName = []byte("lac")
		m.AssignedTunnelID = tid
		m.ReceiveWindowSize = 4
		m.Add(AVPProtocolVersion, AVPFramingCapabilities, AVPHostName, AVPAssignedTunnelID, AVPReceiveWindowSize)
	})
}

// open runs SCCRQ/SCCRP/SCCCN and returns the SCCRP.
func (l *lac) open() *Message {
	l.h.t.Helper()
	l.send(sccrq(l.tid))
	rp := l.expect(MsgSCCRP)[0]
	l.serverTID = rp.AssignedTunnelID
	l.send(msg(MsgSCCCN, nil))
	return rp
}

func icrq(sid uint16, serial uint32) *Message {
	return msg(MsgICRQ, func(m *Message) {
		m.AssignedSessionID = sid
		m.CallSerialNumber = serial
		m.Add(AVPAssignedSessionID, AVPCallSerialNumber)
	})
}

func iccn(serverSID uint16) *Message {
	return msg(MsgICCN, func(m *Message) {
		m.SessionID = serverSID
		m.TxConnectSpeed = 10000000
		m.FramingType = FramingAsync
		m.Add(AVPTxConnectSpeed, AVPFramingType)
	})
}

// call runs ICRQ/ICRP/ICCN and returns the server's session id.
func (l *lac) call(sid uint16) uint16 {
	l.h.t.Helper()
	l.send(icrq(sid, uint32(sid)))
	rp := l.expect(MsgICRP)[0]
	if rp.SessionID != sid {
		l.h.t.Fatalf("ICRP to session %d, want %d", rp.SessionID, sid)
	}
	l.send(iccn(rp.AssignedSessionID))
	return rp.AssignedSessionID
}

// ack sends a ZLB for everything received.
func (l *lac) ack() { l.send(&Message{}) }
