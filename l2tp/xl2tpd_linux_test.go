package l2tp

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicenet/sluice/l2tp/l2tptest"
)

// lnsUnderTest runs a Server on a UDP socket, as the control plane will:
// one goroutine owns the Server, reads datagrams, feeds control messages
// to Input and calls Tick. Data messages (PPP) are handled by the harness
// itself: it plays the LNS's PPP peer just enough to answer LCP echoes.
type lnsUnderTest struct {
	t    *testing.T
	conn *net.UDPConn
	srv  *Server
	cmds chan func()
	done chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	events   []string
	peers    map[[2]uint16][2]uint16 // (local tunnel, local session) -> (peer tunnel, peer session)
	lcpCodes []byte                  // codes of the LCP frames received in data messages
	echoes   int                     // echo requests answered
	sent     [][]byte                // every control message sent, for tshark
	recvd    [][]byte                // every control message received, for tshark
}

func startLNS(t *testing.T, ns string, addr netip.AddrPort, cfg ServerConfig) *lnsUnderTest {
	t.Helper()
	l := &lnsUnderTest{t: t, cmds: make(chan func()), done: make(chan struct{}), peers: map[[2]uint16][2]uint16{}}
	err := inNetns(ns, func() error {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
		l.conn = c
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Send = func(p Peer, b []byte) {
		l.mu.Lock()
		l.sent = append(l.sent, append([]byte(nil), b...))
		l.mu.Unlock()
		if _, err := l.conn.WriteToUDPAddrPort(b, p.Addr); err != nil {
			t.Errorf("send: %v", err)
		}
	}
	record := func(format string, a ...any) {
		l.mu.Lock()
		l.events = append(l.events, fmt.Sprintf(format, a...))
		l.mu.Unlock()
	}
	cfg.Events = EventFuncs{
		OnTunnelUp:   func(e TunnelEvent) { record("tunnel-up %s", e.HostName) },
		OnTunnelDown: func(e TunnelEvent) { record("tunnel-down %s", e.Reason) },
		OnSessionUp: func(e SessionEvent) {
			l.mu.Lock()
			l.peers[[2]uint16{e.LocalTunnelID, e.LocalID}] = [2]uint16{e.PeerTunnelID, e.PeerID}
			l.mu.Unlock()
			record("session-up")
		},
		OnSessionDown: func(e SessionEvent) { record("session-down %s", e.Reason) },
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.srv = srv
	l.wg.Add(1)
	go l.run()
	t.Cleanup(l.stop)
	return l
}

func (l *lnsUnderTest) run() {
	defer l.wg.Done()
	buf := make([]byte, 65536)
	for {
		select {
		case <-l.done:
			return
		case f := <-l.cmds:
			f()
		default:
		}
		dl := time.Now().Add(20 * time.Millisecond)
		if nd := l.srv.NextDeadline(); !nd.IsZero() && nd.Before(dl) {
			dl = nd
		}
		_ = l.conn.SetReadDeadline(dl)
		n, from, err := l.conn.ReadFromUDPAddrPort(buf)
		now := time.Now()
		if err == nil {
			b := buf[:n]
			if h, herr := ParseHeader(b); herr == nil && !h.IsControl() {
				l.data(from, h, b)
			} else {
				l.mu.Lock()
				l.recvd = append(l.recvd, append([]byte(nil), b...))
				l.mu.Unlock()
				l.srv.Input(Peer{Addr: from}, b, now)
			}
		}
		l.srv.Tick(now)
	}
}

// data handles a data message: the PPP frame xl2tpd took off the pty,
// without HDLC framing or FCS. LCP Echo-Requests are answered.
func (l *lnsUnderTest) data(from netip.AddrPort, h Header, b []byte) {
	ppp := b[h.PayloadOff:h.End]
	if len(ppp) >= 2 && ppp[0] == 0xff && ppp[1] == 0x03 {
		ppp = ppp[2:] // address and control, unless compressed away
	}
	if len(ppp) < 6 || binary.BigEndian.Uint16(ppp) != 0xc021 {
		return
	}
	code, id := ppp[2], ppp[3]
	l.mu.Lock()
	l.lcpCodes = append(l.lcpCodes, code)
	peer, ok := l.peers[[2]uint16{h.TunnelID, h.SessionID}]
	l.mu.Unlock()
	if code != 9 || !ok || len(ppp) < 8 {
		return
	}
	// Echo-Reply (RFC 1661 5.8) with our magic number 0, in a data message
	// with no optional header fields (RFC 2661 3.1).
	body := append([]byte{0, 0, 0, 0}, ppp[8:]...)
	out := []byte{0x00, 0x02}
	out = binary.BigEndian.AppendUint16(out, peer[0])
	out = binary.BigEndian.AppendUint16(out, peer[1])
	out = append(out, 0xff, 0x03, 0xc0, 0x21, 10, id)
	out = binary.BigEndian.AppendUint16(out, uint16(4+len(body)))
	out = append(out, body...)
	if _, err := l.conn.WriteToUDPAddrPort(out, from); err != nil {
		l.t.Errorf("data send: %v", err)
	}
	l.mu.Lock()
	l.echoes++
	l.mu.Unlock()
}

// do runs f on the Server's goroutine and waits for it.
func (l *lnsUnderTest) do(f func(s *Server, now time.Time)) {
	ch := make(chan struct{})
	l.cmds <- func() { f(l.srv, time.Now()); close(ch) }
	<-ch
}

func (l *lnsUnderTest) tunnels() []TunnelInfo {
	var ts []TunnelInfo
	l.do(func(s *Server, _ time.Time) { ts = s.Tunnels() })
	return ts
}

func (l *lnsUnderTest) sessions() []SessionInfo {
	var ss []SessionInfo
	l.do(func(s *Server, _ time.Time) { ss = s.Sessions() })
	return ss
}

func (l *lnsUnderTest) eventList() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

func (l *lnsUnderTest) stop() {
	select {
	case <-l.done:
		return
	default:
	}
	close(l.done)
	l.wg.Wait()
	l.conn.Close()
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func countEvents(evs []string, prefix string) int {
	n := 0
	for _, e := range evs {
		if strings.HasPrefix(e, prefix) {
			n++
		}
	}
	return n
}

// TestXl2tpdLAC runs Debian's xl2tpd as the LAC against the Server over a
// veth pair between two network namespaces: tunnel establishment with
// tunnel authentication both ways, an incoming call, HELLOs answered, PPP
// (LCP) carried both ways in data messages, and tear-down from either side.
func TestXl2tpdLAC(t *testing.T) {
	requireRoot(t)
	tag := fmt.Sprintf("%d", os.Getpid()%100000)
	lnsAddr := netip.MustParseAddrPort("10.231.7.1:1701")
	pair := newVethPair(t, tag, "10.231.7.1/24", "10.231.7.2/24")
	const secret = "xl2tpd-interop-secret"
	cfg := DefaultServerConfig()
	cfg.HelloInterval = time.Second
	cfg.Secret = Secret(secret)
	lns := startLNS(t, pair.nsA, lnsAddr, cfg)
	lac := l2tptest.StartLAC(t, pair.nsB, l2tptest.LACOptions{LNS: lnsAddr.Addr(), Secret: secret})

	// 1. Tunnel (with challenge/response both ways) and session.
	lac.Connect(t)
	waitFor(t, 15*time.Second, "tunnel and session up", func() bool {
		return countEvents(lns.eventList(), "session-up") == 1
	})
	ts := lns.tunnels()
	if len(ts) != 1 || ts[0].HostName != "xl2tpd-lac" || ts[0].State != TunnelEstablished || ts[0].PeerWindow != 4 {
		t.Fatalf("tunnels %+v", ts)
	}
	if ev := lns.eventList(); ev[0] != "tunnel-up xl2tpd-lac" {
		t.Errorf("events %q", ev)
	}
	ss := lns.sessions()
	if len(ss) != 1 || ss[0].State != SessionEstablished || ss[0].PeerID == 0 {
		t.Fatalf("sessions %+v", ss)
	}
	// xl2tpd's own account: it read our Assigned Tunnel and Session IDs.
	for _, line := range []string{
		fmt.Sprintf("Connection established to %s, 1701.  Local: %d, Remote: %d", lnsAddr.Addr(), ts[0].PeerID, ts[0].LocalID),
		fmt.Sprintf("Local: %d, Remote: %d, Serial: 1", ss[0].PeerID, ss[0].LocalID),
	} {
		if !strings.Contains(lac.Log(), line) {
			t.Errorf("xl2tpd log lacks %q", line)
		}
	}

	// 2. PPP both ways: xl2tpd's echo requests reach us as data messages,
	// our replies reach the fake pppd with a good FCS (computed by xl2tpd).
	waitFor(t, 10*time.Second, "LCP echoes both ways", func() bool {
		good := 0
		for _, e := range lac.PPPDEvents() {
			if e.Event == "frame" && e.FCS == "ok" && e.Proto == 0xc021 && e.Code != nil && *e.Code == 10 {
				good++
			}
		}
		return good >= 3
	})
	for _, e := range lac.PPPDEvents() {
		if e.Event == "frame" && e.FCS != "ok" {
			t.Errorf("fake pppd got a frame with a bad FCS: %s", e.Hex)
		}
	}
	lns.mu.Lock()
	codes := append([]byte(nil), lns.lcpCodes...)
	lns.mu.Unlock()
	if len(codes) < 4 || codes[0] != 1 { // Configure-Request first, then Echo-Requests
		t.Errorf("LCP codes at the LNS: %v", codes)
	}

	// 3. HELLO: with a 1 s interval and an idle control channel, our HELLOs
	// go out and xl2tpd acknowledges them.
	waitFor(t, 10*time.Second, "HELLOs acknowledged", func() bool {
		ts := lns.tunnels()
		return len(ts) == 1 && ts[0].Control.HellosAcked >= 2
	})

	// 4. We hang up the call: xl2tpd takes the CDN and kills its pppd.
	lns.do(func(s *Server, now time.Time) {
		if !s.CloseSession(ss[0].TunnelID, ss[0].LocalID, now) {
			t.Error("CloseSession failed")
		}
	})
	// xl2tpd closes the pty and signals its pppd: the fake one logs
	// whichever it notices first (under load, often the EOF).
	waitFor(t, 10*time.Second, "xl2tpd to end the call (pppd terminated or saw EOF)", lac.PPPDEnded)
	if line := fmt.Sprintf("Connection closed to %s, serial 1", lnsAddr.Addr()); !strings.Contains(lac.Log(), line) {
		t.Errorf("xl2tpd log lacks %q", line)
	}

	// 5. We stop the tunnel: xl2tpd acknowledges the StopCCN.
	tid := ts[0].LocalID
	lns.do(func(s *Server, now time.Time) {
		if !s.CloseTunnel(tid, now) {
			t.Error("CloseTunnel failed")
		}
	})
	waitFor(t, 10*time.Second, "StopCCN acknowledged", func() bool {
		ts := lns.tunnels()
		return len(ts) == 1 && ts[0].State == TunnelClosing && ts[0].Outstanding == 0
	})
	stopLine := fmt.Sprintf("Connection closed to %s, port 1701 (), Local: %d, Remote: %d", lnsAddr.Addr(), ts[0].PeerID, ts[0].LocalID)
	waitFor(t, 5*time.Second, "xl2tpd to log the StopCCN", func() bool { return strings.Contains(lac.Log(), stopLine) })

	// 6. Again, and now xl2tpd tears down: CDN/StopCCN from its side.
	lac.Connect(t)
	waitFor(t, 15*time.Second, "second tunnel and session up", func() bool {
		return countEvents(lns.eventList(), "session-up") == 2
	})
	lac.Disconnect(t)
	waitFor(t, 15*time.Second, "peer tear-down observed", func() bool {
		ev := lns.eventList()
		return countEvents(ev, "tunnel-down peer-stopccn") == 1
	})
	ev := lns.eventList()
	want := []string{
		"tunnel-up xl2tpd-lac", "session-up", "session-down admin", "tunnel-down admin",
		"tunnel-up xl2tpd-lac", "session-up",
	}
	if len(ev) < len(want)+2 || strings.Join(ev[:len(want)], "|") != strings.Join(want, "|") {
		t.Fatalf("events %q", ev)
	}
	// xl2tpd hangs up the call (CDN) or lets the StopCCN take it down.
	if tail := ev[len(want)]; tail != "session-down peer-cdn" && tail != "session-down tunnel-down" {
		t.Errorf("session ended by %q", tail)
	}
	if !strings.Contains(lac.Log(), "Disconnecting from "+lnsAddr.Addr().String()) {
		t.Error("xl2tpd did not log its own disconnect")
	}

	// 7. Wireshark reads every control message of the exchange, both ways,
	// without complaint.
	lns.stop()
	lns.mu.Lock()
	all := append(append([][]byte(nil), lns.recvd...), lns.sent...)
	lns.mu.Unlock()
	rows := tsharkFields(t, all, "l2tp.avp.message_type")
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r["l2tp.avp.message_type"]] = true
	}
	for _, mt := range []string{"1", "2", "3", "4", "6", "10", "11", "12", "14"} {
		if !seen[mt] {
			t.Errorf("message type %s never exchanged", mt)
		}
	}
}
