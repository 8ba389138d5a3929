package control

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/afxdp"
	"github.com/sluicenet/sluice/dataplane/dptest"
	"github.com/sluicenet/sluice/ipsec"
	"github.com/sluicenet/sluice/l2tp/l2tptest"
)

// The LNS against Debian's xl2tpd through the real dataplane: the server
// end of a veth pair runs an AF_XDP port (generic mode) with a worker, a
// Controller and the LNS, in this process; the LAC's namespace runs
// xl2tpd (l2tptest.StartLAC: a private mount namespace with a stand-in
// pppd speaking LCP over async HDLC, echo requests every 0.3 s,
// bind-mounted over /usr/sbin/pppd, since this kernel has no /dev/ppp).

// lnsLabDP is the server side of a lab.
type lnsLabDP struct {
	lab    *dptest.VethLab
	ctrl   *Controller
	dp     *dataplane.Dataplane
	lns    *LNS
	logs   *logBuffer
	cancel context.CancelFunc
	done   chan error
}

// startLNSLab builds the veth lab, opens the AF_XDP port on the server end,
// commits yaml (IFACE replaced by the server interface's name) and starts
// the worker and the LNS.
func startLNSLab(t *testing.T, yaml func(iface string) string) *lnsLabDP {
	t.Helper()
	dptest.RequireRoot(t)
	requireLabTool(t, "xl2tpd", "unshare", "ip", "/usr/bin/python3")
	s := &lnsLabDP{lab: dptest.NewVethLab(t, nil), dp: dataplane.New(), logs: &logBuffer{}, done: make(chan error, 1)}
	opts := afxdp.DefaultOptions(s.lab.Server.If)
	opts.XDPMode = afxdp.ModeGeneric
	var port *afxdp.Port
	if err := s.lab.Server.NS.Do(func() error {
		var err error
		port, err = afxdp.Open(opts)
		return err
	}); err != nil {
		t.Fatalf("AF_XDP port on %s: %v", s.lab.Server.If, err)
	}
	t.Cleanup(func() {
		if err := port.Close(); err != nil {
			t.Errorf("close port: %v", err)
		}
	})
	s.dp.AddWorker(dataplane.WorkerOptions{Port: port, CPU: -1})
	s.ctrl = NewController(s.dp, Options{Logger: s.logs.logger()})
	s.commit(t, yaml(s.lab.Server.If))
	s.dp.Start()
	t.Cleanup(s.dp.Stop)
	s.lns = NewLNS(s.ctrl, LNSOptions{Logger: s.logs.logger()})
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- s.lns.Run(ctx) }()
	t.Cleanup(func() {
		s.cancel()
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Error("LNS did not stop")
		}
		if t.Failed() {
			t.Logf("sluice log:\n%s", s.logs.String())
		}
	})
	return s
}

func (s *lnsLabDP) commit(t *testing.T, yaml string) {
	t.Helper()
	if _, err := s.ctrl.Commit(mustTree(t, yaml), "lab", ""); err != nil {
		t.Fatalf("commit: %v\n%s", err, yaml)
	}
}

func requireLabTool(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if dptest.InCI() {
				t.Fatalf("%s missing (CI installs it: make deps)", n)
			}
			t.Skipf("%s missing", n)
		}
	}
}

// lnsLabYAML is the lab configuration: the seed's rule 10 with default
// drop (plus rule 20 accepting match-none L2TP when cleartext), an
// aes128gcm16 SA pair for the LAC, and the LNS with a secret and 1 s
// hellos.
func lnsLabYAML(iface string, cleartext bool) string {
	rule20 := ""
	if cleartext {
		rule20 = "        20: {action: accept, protocol: udp, destination: {port: 1701}, ipsec: match-none}\n"
	}
	return fmt.Sprintf(`interfaces:
  %[1]s: {driver: afxdp, xdp-mode: generic, address: [10.99.0.1]}
firewall:
  name:
    WAN_LOCAL:
      default-action: drop
      rule:
        10: {action: accept, protocol: udp, destination: {port: 1701}, ipsec: match-ipsec}
%[2]s  interface:
    %[1]s: {local: WAN_LOCAL}
ipsec:
  sa:
    in-lac: {spi: 0x0000c0de, direction: in, source: 10.99.0.2, destination: 10.99.0.1, proposal: aes128gcm16, enc-key: %[3]s, pair: out-lac}
    out-lac: {spi: 0x0000d0de, direction: out, source: 10.99.0.1, destination: 10.99.0.2, proposal: aes128gcm16, enc-key: %[4]s}
l2tp:
  lns: {hostname: sluice-lab, hello-interval: 1s, secret: 0x%[5]s}
`, iface, rule20, keyHex(41), keyHex(42), hex.EncodeToString([]byte(lnsSecret)))
}

// lacSAs returns the LAC's side of the lab's SA pair.
func lacSAs(t *testing.T) (*ipsec.OutboundSA, *ipsec.InboundSA) {
	t.Helper()
	lac, lns := netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.99.0.1")
	out, err := ipsec.NewOutboundSA(ipsec.SASpec{Name: "lac-out", SPI: 0xc0de, Direction: ipsec.Out, Mode: ipsec.Transport,
		Source: lac, Destination: lns, Proposal: ipsec.AES128GCM16, EncKey: mustKey(t, keyHex(41))})
	if err != nil {
		t.Fatal(err)
	}
	in, err := ipsec.NewInboundSA(ipsec.SASpec{Name: "lac-in", SPI: 0xd0de, Direction: ipsec.In, Mode: ipsec.Transport,
		Source: lns, Destination: lac, Proposal: ipsec.AES128GCM16, EncKey: mustKey(t, keyHex(42)), ReplayWindow: 1024})
	if err != nil {
		t.Fatal(err)
	}
	return out, in
}

// startXl2tpdLAC starts xl2tpd in the lab's client namespace, calling the
// LNS at the server's address with the lab's tunnel secret.
func startXl2tpdLAC(t *testing.T, ns string) *l2tptest.LAC {
	t.Helper()
	return l2tptest.StartLAC(t, ns, l2tptest.LACOptions{LNS: dptest.ServerAddr4.Addr(), Secret: lnsSecret})
}

// waitLong polls cond for up to d.
func waitLong(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// drops returns the dataplane's non-zero drop counters by reason.
func (s *lnsLabDP) drops() map[string]uint64 {
	out := map[string]uint64{}
	c := s.dp.Counts()
	for d := dataplane.DropReason(0); d < dataplane.NumDropReasons; d++ {
		if n := c.Drop(d); n != 0 {
			out[d.String()] = n
		}
	}
	return out
}

func (s *lnsLabDP) established() (tunnels, sessions int) {
	for _, t := range s.ctrl.L2TPTunnels() {
		if t.State == "established" {
			tunnels++
		}
	}
	for _, ss := range s.ctrl.L2TPSessions(Raw) {
		if ss.State == "established" {
			sessions++
		}
	}
	return
}

// TestLNSXl2tpdESPLab: xl2tpd establishes a tunnel (with challenge and
// response both ways) and a session with sluice inside ESP, its data
// messages reach the session, our HELLOs are answered, and tear-down works
// from either side; the shim's own account of what xl2tpd sent and got
// matches sluice's counters exactly.
func TestLNSXl2tpdESPLab(t *testing.T) {
	s := startLNSLab(t, func(iface string) string { return lnsLabYAML(iface, false) })
	out, in := lacSAs(t)
	shim := startESPShim(t, s.lab, out, in)
	lac := startXl2tpdLAC(t, s.lab.Client.NS.Name)

	// 1. Tunnel and session, inside ESP.
	lac.Connect(t)
	waitLong(t, 20*time.Second, "tunnel and session established", func() bool {
		tn, sn := s.established()
		return tn == 1 && sn == 1
	})
	tun := s.ctrl.L2TPTunnels()[0]
	sess := s.ctrl.L2TPSessions(Raw)[0]
	if tun.SA != "in-lac" || tun.HostName != "xl2tpd-lac" || sess.SA != "in-lac" || sess.CallSerial != 1 {
		t.Errorf("tunnel %+v session %+v", tun, sess)
	}
	for _, line := range []string{
		fmt.Sprintf("Connection established to 10.99.0.1, 1701.  Local: %d, Remote: %d", tun.PeerID, tun.LocalID),
		fmt.Sprintf("Local: %d, Remote: %d, Serial: 1", sess.PeerSessionID, sess.SessionID),
	} {
		if !strings.Contains(lac.Log(), line) {
			t.Errorf("xl2tpd log lacks %q", line)
		}
	}
	key := dataplane.SessionKey(tun.LocalID, sess.SessionID)
	pub := s.dp.Tables().Sessions[key]
	if pub == nil || pub.SA == nil || pub.SA.Name() != "in-lac" {
		t.Fatalf("published session %+v", pub)
	}

	// 2. xl2tpd's data messages (the fake pppd's LCP) reach the session:
	// its counter catches up with what the shim saw xl2tpd send for it.
	waitLong(t, 10*time.Second, "LCP data delivered", func() bool {
		p, _ := pub.Counter.Load()
		return p >= 4
	})
	waitLong(t, 5*time.Second, "session counter = data messages xl2tpd sent", func() bool {
		_, data, _, _ := shim.counts()
		p, _ := pub.Counter.Load()
		return p == uint64(data[[2]uint16{tun.LocalID, sess.SessionID}])
	})

	// 3. HELLOs (1 s) acknowledged by xl2tpd.
	waitLong(t, 10*time.Second, "HELLOs acknowledged", func() bool {
		ts := s.ctrl.L2TPTunnels()
		return len(ts) == 1 && ts[0].Control.HellosAcked >= 2
	})

	// 4. We hang up the call: xl2tpd takes the CDN and ends its pppd.
	if !s.lns.CloseSession(tun.LocalID, sess.SessionID) {
		t.Fatal("CloseSession")
	}
	// xl2tpd closes the pty and signals its pppd: the fake one logs
	// whichever it notices first.
	waitLong(t, 10*time.Second, "xl2tpd to end the call", func() bool {
		return lac.PPPDEnded()
	})
	if !strings.Contains(lac.Log(), "Connection closed to 10.99.0.1, serial 1") {
		t.Error("xl2tpd did not log the call's end")
	}
	waitLong(t, time.Second, "session unpublished", func() bool { return s.dp.Tables().Sessions[key] == nil })

	// 5. We stop the tunnel: xl2tpd acknowledges the StopCCN.
	if !s.lns.CloseTunnel(tun.LocalID) {
		t.Fatal("CloseTunnel")
	}
	waitLong(t, 10*time.Second, "StopCCN acknowledged", func() bool {
		ts := s.ctrl.L2TPTunnels()
		return len(ts) == 1 && ts[0].State == "closing" && ts[0].Control.Outstanding == 0
	})
	stopLine := fmt.Sprintf("Connection closed to 10.99.0.1, port 1701 (), Local: %d, Remote: %d", tun.PeerID, tun.LocalID)
	waitLong(t, 5*time.Second, "xl2tpd to log the StopCCN", func() bool { return strings.Contains(lac.Log(), stopLine) })

	// 6. Again, and now xl2tpd tears down (CDN and StopCCN from its side).
	lac.Connect(t)
	waitLong(t, 20*time.Second, "second tunnel and session", func() bool {
		_, sn := s.established()
		return sn == 1
	})
	waitLong(t, 10*time.Second, "data on the second session", func() bool {
		ss := s.ctrl.L2TPSessions(Raw)
		return len(ss) == 1 && ss[0].Packets >= 2
	})
	lac.Disconnect(t)
	waitLong(t, 15*time.Second, "the peer's StopCCN", func() bool {
		for _, tt := range s.ctrl.L2TPTunnels() {
			if tt.Reason == "peer-stopccn" {
				return true
			}
		}
		return false
	})
	waitLong(t, time.Second, "no session published", func() bool { return len(s.dp.Tables().Sessions) == 0 })

	// 7. The exact account, once traffic has settled: every ESP packet the
	// shim sent authenticated (in-lac's packets); control messages were
	// punted and taken by the LNS; data messages were delivered or, sent
	// after a session's end, refused as l2tp-unknown-session; every frame
	// the LNS injected was decrypted by the shim.
	time.Sleep(500 * time.Millisecond)
	ctl, data, replies, bad := shim.counts()
	sent := ctl
	for _, n := range data {
		sent += n
	}
	c := s.dp.Counts()
	st := s.lns.Stats()
	inSA := s.ctrl.live.Load().inbound["in-lac"].Stats()
	outSA := s.ctrl.live.Load().outbound["out-lac"].Stats()
	dr := s.drops()
	unknown := dr["l2tp-unknown-session"]
	delete(dr, "l2tp-unknown-session")
	if len(dr) != 0 {
		t.Errorf("drops %v, want none but l2tp-unknown-session", dr)
	}
	for _, chk := range []struct {
		what      string
		got, want uint64
	}{
		{"in-lac packets = ESP the shim sent", inSA.Packets, uint64(sent)},
		{"punted l2tp-control = control messages xl2tpd sent", c[dataplane.StatPuntedL2TPControl], uint64(ctl)},
		{"LNS punts = punted", st.Punts, c[dataplane.StatPuntedL2TPControl]},
		{"delivered + l2tp-unknown-session = data messages xl2tpd sent", c[dataplane.StatDelivered] + unknown, uint64(sent - ctl)},
		{"injected = LNS replies", c[dataplane.StatInjected], st.Replies},
		{"out-lac packets = LNS replies", outSA.Packets, st.Replies},
		{"replies the shim decrypted = LNS replies", uint64(replies), st.Replies},
		{"ESP the shim could not decrypt", uint64(bad), 0},
		{"replies dropped by the LNS", sumDrops(st.ReplyDrops), 0},
	} {
		if chk.got != chk.want {
			t.Errorf("%s: got %d, want %d", chk.what, chk.got, chk.want)
		}
	}
	t.Logf("xl2tpd sent %d control and %d data messages; delivered %d, after a session's end %d; %d replies",
		ctl, sent-ctl, c[dataplane.StatDelivered], unknown, replies)
}

// TestLNSXl2tpdCleartextLab: with a lab ruleset that also accepts
// match-none L2TP, xl2tpd's whole exchange works without ESP. Then the
// seed's ruleset (rule 10 match-ipsec, default drop) is committed: xl2tpd
// gets no answer at all, and every packet it sends, as tshark counts them
// on its interface, is counted as l2tp-cleartext.
func TestLNSXl2tpdCleartextLab(t *testing.T) {
	s := startLNSLab(t, func(iface string) string { return lnsLabYAML(iface, true) })
	lac := startXl2tpdLAC(t, s.lab.Client.NS.Name)
	lac.Connect(t)
	waitLong(t, 20*time.Second, "cleartext tunnel and session", func() bool {
		tn, sn := s.established()
		return tn == 1 && sn == 1
	})
	sess := s.ctrl.L2TPSessions(Raw)[0]
	if sess.SA != "" {
		t.Errorf("session bound to %q, want cleartext", sess.SA)
	}
	waitLong(t, 10*time.Second, "cleartext data delivered", func() bool {
		ss := s.ctrl.L2TPSessions(Raw)
		return len(ss) == 1 && ss[0].Packets >= 3
	})
	lac.Disconnect(t)
	waitLong(t, 15*time.Second, "the peer's StopCCN", func() bool {
		ts := s.ctrl.L2TPTunnels()
		return len(ts) == 1 && ts[0].Reason == "peer-stopccn"
	})
	if d := s.drops(); len(d) != 0 {
		t.Errorf("drops before the seed's ruleset: %v", d)
	}

	// A fresh xl2tpd for the second attempt: one that just tore a tunnel
	// down may still hold it for a while and place its next call in it.
	lac.Stop()
	if n := strings.Count(lac.Log(), "Connection established"); n != 1 {
		t.Errorf("xl2tpd established %d connections, want 1", n)
	}
	s.commit(t, lnsLabYAML(s.lab.Server.If, false))
	lac = startXl2tpdLAC(t, s.lab.Client.NS.Name)
	tap := startTap(t, s.lab.Client.NS, s.lab.Client.If)
	before, punts := s.drops()["l2tp-cleartext"], s.lns.Stats().Punts
	injected := s.dp.Counts()[dataplane.StatInjected]
	lac.Connect(t)
	// xl2tpd retransmits its SCCRQ (1 s, 2 s, 4 s, ...); after two
	// retransmissions it is stopped, so that the wire goes quiet and the
	// counts can be compared exactly.
	waitLong(t, 10*time.Second, "xl2tpd to retransmit twice", func() bool { return len(tap.frames(true)) >= 3 })
	lac.Stop()
	time.Sleep(300 * time.Millisecond)
	sent, answers := tap.frames(true), tap.frames(false)
	tap.close()
	got := s.drops()["l2tp-cleartext"] - before
	if got != uint64(len(sent)) {
		t.Errorf("l2tp-cleartext %d, want the %d packets xl2tpd sent", got, len(sent))
	}
	if len(answers) != 0 || s.dp.Counts()[dataplane.StatInjected] != injected {
		t.Errorf("sluice answered: %d UDP/1701 packets reached xl2tpd", len(answers))
	}
	// What xl2tpd sent, as Wireshark decodes it: SCCRQs (and at most a
	// StopCCN as it was stopped).
	types := tsharkL2TPTypes(t, sent)
	if len(types) == 0 || types[0] != "1" {
		t.Errorf("xl2tpd sent message types %v, want SCCRQs (1)", types)
	}
	if s.lns.Stats().Punts != punts {
		t.Error("the LNS saw a refused message")
	}
	if strings.Contains(lac.Log(), "Connection established") {
		t.Error("xl2tpd established a connection under the seed's ruleset")
	}
	t.Logf("after the seed's ruleset: xl2tpd sent %d packets (message types %v), all counted as l2tp-cleartext", len(sent), types)
}
