package control

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/sluicenet/sluice/control/api/types"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/l2tp"
)

// Unit tests of the LNS glue on a mem-port worker: every frame crosses the
// real pipeline (ESP decap, rules, punt, inject, transmit); the LAC side
// is l2tp's codec and our ipsec package, both checked against independent
// implementations in their own packages (xl2tpd, tshark, scapy). The
// xl2tpd and scapy labs of this package check the LNS itself against them.

func sessionKeys(dp *dataplane.Dataplane) []uint32 {
	return slices.Sorted(maps.Keys(dp.Tables().Sessions))
}

// TestLNSEstablishOverESP: tunnel and session through ESP, data delivered
// to the published session, data of the session from another SA refused as
// l2tp-wrong-sa, HELLO answered, operator data, tear-down by the LAC.
func TestLNSEstablishOverESP(t *testing.T) {
	r := newLNSRig(t, lnsLab{clients: []int{1, 2}}, LNSOptions{})
	c := newTestLAC(t, 1, false, 0)
	r.open(c)
	sid := r.call(c, 7)
	key := dataplane.SessionKey(c.serverTID, sid)
	s := r.ctrl.Dataplane().Tables().Sessions[key]
	if s == nil || s.SA == nil || s.SA.Name() != "in-c1" || s.PeerTunnel != c.tid || s.PeerSession != 7 {
		t.Fatalf("published session %+v, want bound to in-c1, peer ids %d/7", s, c.tid)
	}

	// Data: 5 messages of 60-byte PPP frames are delivered and counted.
	for range 5 {
		r.exchange(c.data(sid, 60))
	}
	if p, b := s.Counter.Load(); p != 5 || b != 300 {
		t.Errorf("session counter %d packets %d bytes, want 5, 300", p, b)
	}
	// The same session's data from client 2's SA: the tunnel is bound to in-c1.
	c2 := newTestLAC(t, 2, false, 0)
	c2.serverTID = c.serverTID
	r.exchange(c2.data(sid, 60))
	if got := r.drops(); !maps.Equal(got, map[string]uint64{"l2tp-wrong-sa": 1}) {
		t.Errorf("drops %v, want exactly one l2tp-wrong-sa", got)
	}

	// HELLO after 1 s of quiet (hello-interval 1s); the LAC acks it.
	got := c.take(r.advance(1100 * time.Millisecond))
	got = slices.DeleteFunc(got, func(r reply) bool { return r.msg.IsZLB() }) // the ICCN's delayed ack
	if len(got) != 1 || got[0].msg.Type != l2tp.MsgHELLO {
		t.Fatalf("after 1.1s got %v, want [HELLO]", typesOfReplies(got))
	}
	r.exchange(c.send(&l2tp.Message{}))

	// Operator data through the controller's views.
	ts := r.ctrl.L2TPTunnels()
	if len(ts) != 1 {
		t.Fatalf("tunnels %+v", ts)
	}
	tt := ts[0]
	if tt.Source != types.SourceLNS || tt.LocalID != c.serverTID || tt.PeerID != c.tid || tt.SA != "in-c1" ||
		tt.HostName != "lac" || tt.State != "established" || tt.Sessions != 1 || tt.Peer != "10.99.1.2:1701" ||
		tt.Control == nil || tt.Control.HellosSent != 1 || tt.Control.HellosAcked != 1 || tt.UptimeSeconds < 1 {
		t.Errorf("tunnel %+v control %+v", tt, tt.Control)
	}
	ss := r.ctrl.L2TPSessions(Raw)
	if len(ss) != 1 || ss[0].SessionID != sid || ss[0].PeerSessionID != 7 || ss[0].CallSerial != 7 ||
		ss[0].State != "established" || ss[0].Packets != 5 || ss[0].Bytes != 300 || ss[0].TxPackets != 0 || ss[0].SA != "in-c1" {
		t.Errorf("sessions %+v", ss)
	}

	// The LAC hangs up the call, then stops the tunnel.
	cdn := &l2tp.Message{Type: l2tp.MsgCDN, SessionID: sid, AssignedSessionID: 7, Result: l2tp.ResultCode{Result: l2tp.CDNAdmin}}
	cdn.Add(l2tp.AVPResultCode, l2tp.AVPAssignedSessionID)
	r.exchange(c.send(cdn))
	r.advance(time.Millisecond)
	if _, ok := r.ctrl.Dataplane().Tables().Sessions[key]; ok {
		t.Error("session still published after CDN")
	}
	r.exchange(c.data(sid, 60))
	stop := &l2tp.Message{Type: l2tp.MsgStopCCN, AssignedTunnelID: c.tid, Result: l2tp.ResultCode{Result: l2tp.StopClear}}
	stop.Add(l2tp.AVPAssignedTunnelID, l2tp.AVPResultCode)
	got = c.take(r.exchange(c.send(stop)))
	if len(got) == 0 || !got[len(got)-1].msg.IsZLB() {
		t.Errorf("StopCCN answered with %v, want a ZLB", typesOfReplies(got))
	}
	want := map[string]uint64{"l2tp-wrong-sa": 1, "l2tp-unknown-session": 1}
	if got := r.drops(); !maps.Equal(got, want) {
		t.Errorf("drops %v, want %v", got, want)
	}
	st := r.lns.Stats()
	if st.SessionsUp != 1 || st.SessionsDown != 1 || st.TunnelsUp != 1 || st.TunnelsDown != 1 || st.ReplyDrops != [NumReplyDrops]uint64{} {
		t.Errorf("stats %+v", st)
	}
	// What the dataplane counted and what the LNS saw agree.
	cn := r.ctrl.Dataplane().Counts()
	if cn[dataplane.StatPuntedL2TPControl] != st.Punts || cn[dataplane.StatInjected] != st.Replies {
		t.Errorf("punted %d / LNS took %d; injected %d / LNS sent %d", cn[dataplane.StatPuntedL2TPControl], st.Punts, cn[dataplane.StatInjected], st.Replies)
	}
}

// TestLNSNATTFloat: a client behind a NAT whose mapping is not the
// configured port 4500: replies go to the port its ESP came from.
func TestLNSNATTFloat(t *testing.T) {
	r := newLNSRig(t, lnsLab{clients: []int{3}, natt: map[int]bool{3: true}}, LNSOptions{})
	c := newTestLAC(t, 3, false, 31337)
	c.port = 40000 // and an inner source port other than 1701
	got := c.take(r.exchange(c.send(sccrqMsg(c.tid, "natted"))))
	if len(got) != 1 || got[0].msg.Type != l2tp.MsgSCCRP {
		t.Fatalf("got %v, want [SCCRP]", typesOfReplies(got))
	}
	if o := got[0].outer; o == nil || o.SrcPort != 4500 || o.DstPort != 31337 || o.Checksum != 0 {
		t.Fatalf("outer UDP %+v, want 4500 → 31337 with checksum 0 (RFC 3948 2.1)", o)
	}
	// The mapping changes (NAT rebinding): the next reply follows it.
	c.serverTID = got[0].msg.AssignedTunnelID
	c.natPort = 31400
	r.exchange(c.send(&l2tp.Message{Type: l2tp.MsgSCCCN}))
	got = c.take(r.advance(200 * time.Millisecond)) // the delayed ZLB ack
	if len(got) != 1 || !got[0].msg.IsZLB() || got[0].outer == nil || got[0].outer.DstPort != 31400 {
		t.Fatalf("got %v, want a ZLB to port 31400", typesOfReplies(got))
	}
}

// TestLNSNoPair: an inbound SA without a pair cannot be answered: the
// reply is counted and dropped, and the missing pair logged once.
func TestLNSNoPair(t *testing.T) {
	var logs logBuffer
	r := newLNSRig(t, lnsLab{clients: []int{4}, noPair: map[int]bool{4: true}}, LNSOptions{Logger: logs.logger()})
	c := newTestLAC(t, 4, false, 0)
	r.exchange(c.send(sccrqMsg(c.tid, "a")))
	r.advance(time.Second) // the SCCRP is retransmitted, and dropped again
	st := r.lns.Stats()
	if st.ReplyDrops[ReplyNoPair] != 2 || st.Replies != 0 {
		t.Errorf("reply drops %v, replies %d; want 2 no-pair, 0 sent", st.ReplyDrops, st.Replies)
	}
	if n := strings.Count(logs.String(), "it has no pair"); n != 1 {
		t.Errorf("missing pair logged %d times, want once:\n%s", n, logs.String())
	}
}

// TestLNSCommitRemovesSA: a commit that removes the inbound SA a tunnel is
// bound to tears the tunnel down: its session leaves the tables with the
// commit, and the LAC gets a StopCCN (the outbound SA is still there).
func TestLNSCommitRemovesSA(t *testing.T) {
	lab := lnsLab{clients: []int{5, 6}}
	r := newLNSRig(t, lab, LNSOptions{})
	c5, c6 := newTestLAC(t, 5, false, 0), newTestLAC(t, 6, false, 0)
	r.open(c5)
	r.open(c6)
	sid5, sid6 := r.call(c5, 1), r.call(c6, 1)
	if len(sessionKeys(r.ctrl.Dataplane())) != 2 {
		t.Fatalf("sessions %v", sessionKeys(r.ctrl.Dataplane()))
	}
	// The new configuration keeps out-c5 but not in-c5.
	yaml := strings.Replace(lab.yaml(), "    in-c5:", "    unused-in-c5:", 1)
	yaml = strings.Replace(yaml, "spi: 0x0000c005", "spi: 0x0000e005", 1)
	if _, err := r.ctrl.Commit(mustTree(t, yaml), "test", ""); err != nil {
		t.Fatal(err)
	}
	if keys := sessionKeys(r.ctrl.Dataplane()); !slices.Equal(keys, []uint32{dataplane.SessionKey(c6.serverTID, sid6)}) {
		t.Errorf("after the commit sessions %v, want only client 6's", keys)
	}
	got := c5.take(r.exchange())
	if len(got) != 1 || got[0].msg.Type != l2tp.MsgStopCCN || got[0].msg.Result.Result != l2tp.StopClear {
		t.Fatalf("client 5 got %v, want [StopCCN result 1]", typesOfReplies(got))
	}
	if got := c6.take(r.exchange()); len(got) != 0 {
		t.Errorf("client 6 got %v, want nothing", typesOfReplies(got))
	}
	if st := r.lns.Stats(); st.SATeardowns != 1 {
		t.Errorf("SA teardowns %d, want 1", st.SATeardowns)
	}
	r.exchange(c5.data(sid5, 40)) // SPI 0xc005 is unknown now
	if got := r.drops(); !maps.Equal(got, map[string]uint64{"esp-unknown-spi": 1}) {
		t.Errorf("drops %v", got)
	}
}

// TestLNSConfigChangeRestarts: a changed l2tp.lns restarts the server: live
// tunnels get StopCCN Result Code 6, new ones the new settings.
func TestLNSConfigChangeRestarts(t *testing.T) {
	lab := lnsLab{clients: []int{7}}
	r := newLNSRig(t, lab, LNSOptions{})
	c := newTestLAC(t, 7, false, 0)
	r.open(c)
	sid := r.call(c, 1)
	lab.lns = ", receive-window: 9"
	yaml := strings.Replace(lab.yaml(), "hostname: sluice-lab", "hostname: sluice-new", 1)
	if _, err := r.ctrl.Commit(mustTree(t, yaml), "test", ""); err != nil {
		t.Fatal(err)
	}
	got := c.take(r.exchange())
	if len(got) != 1 || got[0].msg.Type != l2tp.MsgStopCCN || got[0].msg.Result.Result != l2tp.StopShuttingDown {
		t.Fatalf("got %v, want [StopCCN result 6]", typesOfReplies(got))
	}
	r.advance(time.Millisecond)
	if _, ok := r.ctrl.Dataplane().Tables().Sessions[dataplane.SessionKey(c.serverTID, sid)]; ok {
		t.Error("session of the stopped tunnel still published")
	}
	// The LAC acks the StopCCN: the draining server takes the ack.
	r.exchange(c.send(&l2tp.Message{}))
	if ts := r.ctrl.L2TPTunnels(); len(ts) != 1 || ts[0].Control.Outstanding != 0 || ts[0].State != "closing" {
		t.Errorf("tunnels %+v", ts)
	}
	c2 := *c // the same SAs (their sequence numbers go on), a new tunnel
	c2.tid, c2.ns, c2.nr = 999, 0, 0
	got = c2.take(r.exchange(c2.send(sccrqMsg(c2.tid, "again"))))
	if len(got) != 1 || got[0].msg.Type != l2tp.MsgSCCRP || string(got[0].msg.HostName) != "sluice-new" || got[0].msg.ReceiveWindowSize != 9 {
		t.Fatalf("got %v, want SCCRP from sluice-new with window 9", typesOfReplies(got))
	}
	if st := r.lns.Stats(); st.Restarts != 1 {
		t.Errorf("restarts %d", st.Restarts)
	}
}

// TestLNSSessionsSurviveCommits: a dynamic session stays published across
// commits that do not concern it and across republishing, and keeps its
// counter.
func TestLNSSessionsSurviveCommits(t *testing.T) {
	lab := lnsLab{clients: []int{8, 9}}
	r := newLNSRig(t, lab, LNSOptions{})
	c := newTestLAC(t, 8, false, 0)
	r.open(c)
	sid := r.call(c, 1)
	key := dataplane.SessionKey(c.serverTID, sid)
	ctr := r.ctrl.Dataplane().Tables().Sessions[key].Counter
	r.exchange(c.data(sid, 10))
	lab.extraRule = "30: {action: accept, protocol: tcp, destination: {port: 22}}"
	if _, err := r.ctrl.Commit(mustTree(t, lab.yaml()), "test", ""); err != nil {
		t.Fatal(err)
	}
	r.exchange(c.data(sid, 10))
	// Another client's sessions come and go: each change republishes.
	c9 := newTestLAC(t, 9, false, 0)
	r.open(c9)
	for i := range 5 {
		s9 := r.call(c9, uint16(10+i))
		cdn := &l2tp.Message{Type: l2tp.MsgCDN, SessionID: s9, AssignedSessionID: uint16(10 + i), Result: l2tp.ResultCode{Result: l2tp.CDNAdmin}}
		cdn.Add(l2tp.AVPResultCode, l2tp.AVPAssignedSessionID)
		r.exchange(c9.send(cdn))
		r.advance(time.Millisecond)
		r.exchange(c.data(sid, 10))
	}
	s := r.ctrl.Dataplane().Tables().Sessions[key]
	if s == nil || s.Counter != ctr {
		t.Fatalf("session %+v lost its counter", s)
	}
	if p, b := ctr.Load(); p != 7 || b != 70 {
		t.Errorf("counter %d/%d, want 7/70", p, b)
	}
	if st := r.lns.Stats(); st.Publishes < 11 || st.PublishedSessions != 1 {
		t.Errorf("publishes %d, published %d", st.Publishes, st.PublishedSessions)
	}
	// Replacing the SA (new key, same name) rebinds the session to it.
	yaml := strings.Replace(lab.yaml(), keyHex(8), keyHex(77), 1)
	if _, err := r.ctrl.Commit(mustTree(t, yaml), "test", ""); err != nil {
		t.Fatal(err)
	}
	s2 := r.ctrl.Dataplane().Tables().Sessions[key]
	if s2 == nil || s2.SA == s.SA || s2.SA.Name() != "in-c8" || s2.Counter != ctr {
		t.Errorf("after the SA's rekey session %+v (old SA %p)", s2, s.SA)
	}
}

// countingRand returns the same byte forever: the server's ids become
// 0x0101, so a static tunnel 257 session 257 collides.
type constRand byte

func (c constRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// TestLNSStaticCollision: a negotiated session whose ids a static session
// already has is hung up (CDN); the static one stays.
func TestLNSStaticCollision(t *testing.T) {
	lab := lnsLab{clients: []int{10}, static: "    tunnel:\n      257: {peer-tunnel: 5, sa: in-c10, session: {257: {peer-session: 5}}}\n"}
	r := newLNSRig(t, lab, LNSOptions{Rand: constRand(1)})
	c := newTestLAC(t, 10, false, 0)
	r.open(c)
	if c.serverTID != 257 {
		t.Fatalf("server tunnel id %d, want 257 from the constant random source", c.serverTID)
	}
	got := c.take(r.exchange(c.send(icrqMsg(3, 3))))
	if len(got) != 1 || got[0].msg.Type != l2tp.MsgICRP || got[0].msg.AssignedSessionID != 257 {
		t.Fatalf("got %v", typesOfReplies(got))
	}
	got = c.take(r.exchange(c.send(iccnMsg(257))))
	if len(got) == 0 || got[0].msg.Type != l2tp.MsgCDN || got[0].msg.Result.Result != l2tp.CDNAdmin {
		t.Fatalf("got %v, want [CDN result 3]", typesOfReplies(got))
	}
	if s := r.ctrl.Dataplane().Tables().Sessions[dataplane.SessionKey(257, 257)]; s == nil || s.PeerSession != 5 {
		t.Errorf("static session %+v replaced", s)
	}
	if st := r.lns.Stats(); st.StaticCollisions != 1 || st.SessionsUp != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestLNSCleartext: with a ruleset that accepts match-none L2TP (labs
// only), a cleartext tunnel works and its session has no SA; once the
// seed's ruleset is committed, the same messages are refused as
// l2tp-cleartext and the LNS sees nothing.
func TestLNSCleartext(t *testing.T) {
	lab := lnsLab{cleartext: true}
	r := newLNSRig(t, lab, LNSOptions{})
	c := newTestLAC(t, 11, true, 0)
	r.open(c)
	sid := r.call(c, 1)
	s := r.ctrl.Dataplane().Tables().Sessions[dataplane.SessionKey(c.serverTID, sid)]
	if s == nil || s.SA != nil {
		t.Fatalf("session %+v, want a cleartext one", s)
	}
	r.exchange(c.data(sid, 20))
	if p, _ := s.Counter.Load(); p != 1 {
		t.Errorf("delivered %d", p)
	}
	lab.cleartext = false
	r.commit(lab)
	before := r.lns.Stats().Punts
	out := r.exchange(c.data(sid, 20), c.send(&l2tp.Message{Type: l2tp.MsgHELLO}), newTestLAC(t, 12, true, 0).send(sccrqMsg(5, "x")))
	if got := c.take(out); len(got) != 0 {
		t.Errorf("answered %v", typesOfReplies(got))
	}
	if got := r.drops(); !maps.Equal(got, map[string]uint64{"l2tp-cleartext": 3}) {
		t.Errorf("drops %v, want 3 l2tp-cleartext", got)
	}
	if r.lns.Stats().Punts != before {
		t.Error("the LNS saw a refused message")
	}
}

// TestLNSIKEPunt: IKE punts are counted and dropped (no IKE daemon).
func TestLNSIKEPunt(t *testing.T) {
	r := newLNSRig(t, lnsLab{}, LNSOptions{})
	ike := udpPacket(t, clientAddr(1), boxAddr, 4500, 4500, []byte{0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	frame := append(newTestLAC(t, 1, true, 0).eth(), ike...)
	if out := r.exchange(frame, frame); len(out) != 0 {
		t.Errorf("transmitted %d frames", len(out))
	}
	if st := r.lns.Stats(); st.IKE != 2 || st.Punts != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestLNSKeysNeverShown: the secret never appears in operator data or the
// LNS's stats.
func TestLNSKeysNeverShown(t *testing.T) {
	lab := lnsLab{clients: []int{13}, lns: ", secret: 0x5ec2e75ec2e7"}
	r := newLNSRig(t, lab, LNSOptions{})
	c := newTestLAC(t, 13, false, 0)
	c.secret = []byte{0x5e, 0xc2, 0xe7, 0x5e, 0xc2, 0xe7}
	m := sccrqMsg(c.tid, "auth")
	m.Challenge = []byte("0123456789abcdef")
	m.Add(l2tp.AVPChallenge)
	got := c.take(r.exchange(c.send(m)))
	if len(got) != 1 || got[0].msg.Type != l2tp.MsgSCCRP || !got[0].msg.Has(l2tp.AVPChallengeResponse) {
		t.Fatalf("got %v", typesOfReplies(got))
	}
	want := l2tp.ChallengeResponse(l2tp.MsgSCCRP, c.secret, m.Challenge)
	if got[0].msg.ChallengeResponse != want {
		t.Error("SCCRP's challenge response is not MD5(2, secret, challenge)")
	}
	c.serverTID = got[0].msg.AssignedTunnelID
	cn := &l2tp.Message{Type: l2tp.MsgSCCCN, ChallengeResponse: l2tp.ChallengeResponse(l2tp.MsgSCCCN, c.secret, got[0].msg.Challenge)}
	cn.Add(l2tp.AVPChallengeResponse)
	r.exchange(c.send(cn))
	blob, _ := json.Marshal([]any{r.ctrl.L2TPTunnels(), r.ctrl.L2TPSessions(Raw), r.lns.Stats()})
	if bytes.Contains(blob, []byte("5ec2e7")) || bytes.Contains(blob, c.secret) {
		t.Errorf("secret in %s", blob)
	}
	if ts := r.ctrl.L2TPTunnels(); len(ts) != 1 || ts[0].State != "established" {
		t.Errorf("tunnels %+v", ts)
	}
}

// TestLNSReplyNoAlloc: once a peer's route and its SA binding are known,
// building, encrypting and injecting a reply allocates nothing, and
// neither does parsing a punted packet.
func TestLNSReplyNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	r := newLNSRig(t, lnsLab{clients: []int{1}}, LNSOptions{})
	c := newTestLAC(t, 1, false, 0)
	r.open(c)
	peer := l2tp.Peer{Addr: netip.AddrPortFrom(c.addr, 1701), Binding: "in-c1"}
	payload := c.encode(&l2tp.Message{Type: l2tp.MsgHELLO})
	pkt := udpPacket(t, c.addr, boxAddr, 1701, 1701, payload)
	in := r.w.Inject()
	l := r.lns
	l.mu.Lock()
	defer l.mu.Unlock()
	sent := l.st.Replies
	allocs := testing.AllocsPerRun(200, func() {
		l.sendLocked(peer, payload)
		in.Advance()
		if _, ok := parseUDP(pkt); !ok {
			t.Fatal("parse")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per reply", allocs)
	}
	if l.st.Replies-sent < 200 {
		t.Errorf("%d replies sent", l.st.Replies-sent)
	}
}

// TestLNSVLANReply: a peer behind an 802.1Q or an 802.1ad tag is answered
// on the same VLAN with the same kind of tag (the tag control information,
// priority bits included, and EtherType as the punt saw them; the test
// LAC's decode checks both).
func TestLNSVLANReply(t *testing.T) {
	for _, tpid := range []uint16{0x8100, 0x88a8} {
		t.Run(fmt.Sprintf("%#04x", tpid), func(t *testing.T) {
			r := newLNSRig(t, lnsLab{clients: []int{1}}, LNSOptions{})
			c := newTestLAC(t, 1, false, 0)
			c.vlan, c.vlanType = 0x2000|42, tpid // priority 1, VLAN 42
			got := c.take(r.exchange(c.send(sccrqMsg(c.tid, "tagged"))))
			if len(got) != 1 || got[0].msg.Type != l2tp.MsgSCCRP {
				t.Fatalf("got %v, want [SCCRP] on VLAN 42", typesOfReplies(got))
			}
		})
	}
}

// TestWriteIPUDPChecksums checks the reply headers against gopacket's
// checksums (IPv4 header and UDP over IPv4 and IPv6, RFC 768/8200), and
// the NAT-T port float's incremental UDP checksum update (RFC 1624)
// against a full recomputation.
func TestWriteIPUDPChecksums(t *testing.T) {
	payload := []byte("\xc8\x02 some L2TP control message bytes, odd length")
	for _, tc := range []struct {
		name     string
		src, dst netip.Addr
	}{
		{"ipv4", netip.MustParseAddr("10.99.0.1"), netip.MustParseAddr("198.51.100.7")},
		{"ipv6", netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8:ffff::7")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hl := 20
			if tc.src.Is6() {
				hl = 40
			}
			b := make([]byte, hl+8+len(payload))
			writeIPUDP(b, tc.src, tc.dst, 1701, 40000, 7, payload)
			want := referenceIPUDP(t, tc.src, tc.dst, 1701, 40000, payload)
			if tc.src.Is4() {
				b[4], b[5] = 0, 0 // identification: ours is a counter
				binary.BigEndian.PutUint16(b[10:], 0)
				binary.BigEndian.PutUint16(b[10:], ^fold(sumBytes(0, b[:20])))
			}
			if !bytes.Equal(b, want) {
				t.Fatalf("got  %x\nwant %x", b, want)
			}
			// NAT-T: the same bytes as an ESP-in-UDP packet, ports floated:
			// the checksum updated as if recomputed...
			pkt := append([]byte(nil), want...)
			floatNATT(pkt, 4501, 31337)
			ref := referenceIPUDP(t, tc.src, tc.dst, 4501, 31337, payload)
			if !bytes.Equal(pkt[hl:], ref[hl:]) {
				t.Fatalf("floated %x\nwant    %x", pkt[hl:], ref[hl:])
			}
			// ...and a zero IPv4 checksum (RFC 3948 2.1) left zero.
			if tc.src.Is4() {
				binary.BigEndian.PutUint16(pkt[hl+6:], 0)
				floatNATT(pkt, 4500, 4500)
				if p, cs := binary.BigEndian.Uint16(pkt[hl+2:]), binary.BigEndian.Uint16(pkt[hl+6:]); p != 4500 || cs != 0 {
					t.Fatalf("port %d checksum %#04x, want 4500, 0", p, cs)
				}
			}
		})
	}
}

// referenceIPUDP builds the packet with gopacket (identification 0).
func referenceIPUDP(t *testing.T, src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	t.Helper()
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	var ip gopacket.SerializableLayer
	if src.Is4() {
		ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		_ = udp.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	} else {
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		_ = udp.SetNetworkLayerForChecksum(ip6)
		ip = ip6
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
