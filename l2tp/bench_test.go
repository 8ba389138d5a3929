package l2tp

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

// benchLAC drives a Server through complete tunnel+session lifetimes with
// pre-encoded messages whose ids and sequence numbers are patched in
// place, so the measurement is the Server's work, not the LAC's.
type benchLAC struct {
	srv                               *Server
	now                               time.Time
	sccrq, scccn, icrq, iccn, stopccn []byte
	offTID, offSID                    int // value offsets of the Assigned Tunnel/Session ID in sccrq/icrq
	gotTID, gotSID                    uint16
	bytes                             int64
	n                                 int
}

// avpValueOffset finds the value offset of attribute t in an encoded message.
func avpValueOffset(b []byte, t AVPType) int {
	for off := ctrlHeaderLen; off+avpHeaderLen <= len(b); {
		n := int(binary.BigEndian.Uint16(b[off:]) & avpLenMask)
		if AVPType(binary.BigEndian.Uint16(b[off+4:])) == t {
			return off + avpHeaderLen
		}
		off += n
	}
	panic("attribute not found")
}

func mustAppend(m *Message) []byte {
	b, err := m.Append(nil, nil, nil)
	if err != nil {
		panic(err)
	}
	return b
}

func newBenchLAC(tb testing.TB) *benchLAC {
	l := &benchLAC{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg := DefaultServerConfig()
	cfg.HelloInterval = 0 // keep the held and pre-populated tunnels quiet
	cfg.SCCRQRate, cfg.SCCRQBurst = 1e9, 1<<30
	cfg.MaxTunnels, cfg.MaxTunnelsPerPeer, cfg.MaxSessions = 0, 0, 0
	cfg.Send = func(_ Peer, b []byte) {
		l.bytes += int64(len(b))
		if len(b) < 20 {
			return // a ZLB
		}
		switch MessageType(binary.BigEndian.Uint16(b[18:])) {
		case MsgSCCRP:
			l.gotTID = binary.BigEndian.Uint16(b[avpValueOffset(b, AVPAssignedTunnelID):])
		case MsgICRP:
			l.gotSID = binary.BigEndian.Uint16(b[avpValueOffset(b, AVPAssignedSessionID):])
		}
	}
	srv, err := NewServer(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	l.srv = srv
	l.sccrq = mustAppend(sccrq(1))
	l.scccn = mustAppend(msg(MsgSCCCN, nil))
	l.icrq = mustAppend(icrq(1, 1))
	l.iccn = mustAppend(iccn(1))
	l.stopccn = mustAppend(msg(MsgStopCCN, func(m *Message) {
		m.AssignedTunnelID = 1
		m.Result.Result = StopClear
		m.Add(AVPAssignedTunnelID, AVPResultCode)
	}))
	l.offTID = avpValueOffset(l.sccrq, AVPAssignedTunnelID)
	l.offSID = avpValueOffset(l.icrq, AVPAssignedSessionID)
	return l
}

// input patches a template's header and hands it to the server.
func (l *benchLAC) input(p Peer, b []byte, tunnel, session, ns, nr uint16) {
	binary.BigEndian.PutUint16(b[4:], tunnel)
	binary.BigEndian.PutUint16(b[6:], session)
	binary.BigEndian.PutUint16(b[offNs:], ns)
	binary.BigEndian.PutUint16(b[offNr:], nr)
	l.bytes += int64(len(b))
	l.srv.Input(p, b, l.now)
}

// establish brings up tunnel i with one session and, if stop, has the LAC
// send StopCCN right after. Every 1024 lifetimes the clock jumps a
// retransmission cycle, so held state is released and the ids recycle.
func (l *benchLAC) establish(tb testing.TB, i int, stop bool) {
	p := Peer{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 1701)}
	tid := uint16(i%0xfffe + 1)
	binary.BigEndian.PutUint16(l.sccrq[l.offTID:], tid)
	l.gotTID, l.gotSID = 0, 0
	l.input(p, l.sccrq, 0, 0, 0, 0)
	l.input(p, l.scccn, l.gotTID, 0, 1, 1)
	binary.BigEndian.PutUint16(l.icrq[l.offSID:], 1)
	l.input(p, l.icrq, l.gotTID, 0, 2, 1)
	l.input(p, l.iccn, l.gotTID, l.gotSID, 3, 2)
	if l.gotTID == 0 || l.gotSID == 0 {
		tb.Fatalf("lifetime %d: no tunnel or session", i)
	}
	if stop {
		l.input(p, l.stopccn, l.gotTID, 0, 4, 2)
	}
	if l.n++; l.n%1024 == 0 {
		l.now = l.now.Add(l.srv.rel.cycle() + time.Second)
		l.srv.Tick(l.now)
	}
}

// codecRound parses the five messages the LAC sends and the SCCRP, and
// encodes the two requests the server answers: the codec's share of one
// lifetime, the baseline the Server's cost is compared with.
func codecRound(l *benchLAC, rp []byte) {
	for _, b := range [][]byte{l.sccrq, l.scccn, l.icrq, l.iccn, l.stopccn, rp} {
		m, err := ParseControl(b, nil)
		if err != nil {
			panic(err)
		}
		if m.Type == MsgSCCRP || m.Type == MsgICRQ {
			_, _ = m.Append(nil, nil, nil)
		}
	}
}

// BenchmarkEstablish measures complete tunnel+session lifetimes through the
// Server (SCCRQ, SCCCN, ICRQ, ICCN from a scripted LAC, the SCCRP, ICRP and
// acks back, then the LAC's StopCCN), on an empty server and on one holding
// 10,000 established sessions.
//
// The machine is shared and noisy, so each iteration interleaves the
// measured lifetime with its baselines and times each part; ns/op covers
// all of them, the custom metrics the parts:
//
//	ns/lifetime, sessions/s  the measured lifetime alone
//	vs-codec                 lifetime / parsing and encoding its messages alone
//	vs-empty                 (10000 case) lifetime / the same on an empty server:
//	                         ~1 means per-message work does not grow with sessions
func BenchmarkEstablish(b *testing.B) {
	for _, existing := range []int{0, 10000} {
		name := "tunnel+session/empty"
		if existing > 0 {
			name = "tunnel+session/10000-sessions"
		}
		b.Run(name, func(b *testing.B) {
			l := newBenchLAC(b)
			for i := range existing {
				l.establish(b, 1<<23+i, false)
			}
			l.srv.Tick(l.now.Add(time.Second))
			if got := len(l.srv.Sessions()); got != existing {
				b.Fatalf("%d sessions pre-populated", got)
			}
			var e *benchLAC
			if existing > 0 {
				e = newBenchLAC(b)
			}
			rp := mustAppend(msg(MsgSCCRP, func(m *Message) {
				m.ProtocolVersion, m.FramingCapabilities, m.HostName = 1, 3, []byte("sluice")
				m.AssignedTunnelID, m.ReceiveWindowSize, m.VendorName = 7, 16, []byte("sluice")
				m.Add(AVPProtocolVersion, AVPFramingCapabilities, AVPHostName, AVPVendorName, AVPAssignedTunnelID, AVPReceiveWindowSize)
			}))
			var measured, codec, empty time.Duration
			l.bytes = 0
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				t0 := time.Now()
				l.establish(b, i, true)
				t1 := time.Now()
				codecRound(l, rp)
				t2 := time.Now()
				measured += t1.Sub(t0)
				codec += t2.Sub(t1)
				if e != nil {
					e.establish(b, i, true)
					empty += time.Since(t2)
				}
				i++
			}
			n := float64(max(b.N, 1))
			b.SetBytes(l.bytes / int64(max(b.N, 1)))
			b.ReportMetric(float64(measured.Nanoseconds())/n, "ns/lifetime")
			b.ReportMetric(n/measured.Seconds(), "sessions/s")
			b.ReportMetric(float64(measured)/float64(codec), "vs-codec")
			if e != nil {
				b.ReportMetric(float64(measured)/float64(empty), "vs-empty")
			}
		})
	}
}

// BenchmarkParseControl/SCCRQ-xl2tpd measures the codec on a real xl2tpd
// SCCRQ; vs-header is the ratio to the header parse alone (same run).
func BenchmarkParseControl(b *testing.B) {
	msg := readHex(b, "testdata/xl2tpd/sccrq.hex")
	b.Run("SCCRQ-xl2tpd/101B", func(b *testing.B) {
		const n = 100000
		start := time.Now()
		for range n {
			if _, err := ParseHeader(msg); err != nil {
				b.Fatal(err)
			}
		}
		hdr := float64(time.Since(start).Nanoseconds()) / n
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			if _, err := ParseControl(msg, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/hdr, "vs-header")
	})
}
