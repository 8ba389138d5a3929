package control

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/mem"
	"github.com/sluicenet/sluice/ipsec"
	"github.com/sluicenet/sluice/l2tp"
)

// Test helpers for the LNS: a lab configuration, a scripted LAC that
// speaks through l2tp's codec and our ipsec package (both checked against
// xl2tpd, tshark and scapy in their own packages), and a rig that runs a
// mem-port worker and the LNS in lock step on a fake clock.

// lnsLab describes a lab configuration: clients 1..n with an SA pair each
// (in-cI SPI 0xc000+I, out-cI SPI 0xd000+I), the seed's ruleset (or one
// that also accepts cleartext L2TP), and l2tp lns settings.
type lnsLab struct {
	clients   []int
	natt      map[int]bool // clients whose SAs are ESP in UDP/4500
	noPair    map[int]bool // clients whose inbound SA has no pair
	cleartext bool         // rule 20: accept udp 1701 match-none
	lns       string       // extra l2tp lns settings, YAML flow items
	static    string       // l2tp static section body, YAML
	extraRule string       // one more rule line
	extraSA   string       // more ipsec sa lines, YAML
}

func (lab lnsLab) yaml() string {
	var b strings.Builder
	b.WriteString("interfaces:\n  eth0: {driver: mem, address: [10.99.0.1]}\n")
	b.WriteString("firewall:\n  name:\n    WAN_LOCAL:\n      default-action: drop\n      rule:\n")
	b.WriteString("        10: {action: accept, protocol: udp, destination: {port: 1701}, ipsec: match-ipsec}\n")
	if lab.cleartext {
		b.WriteString("        20: {action: accept, protocol: udp, destination: {port: 1701}, ipsec: match-none}\n")
	}
	if lab.extraRule != "" {
		b.WriteString("        " + lab.extraRule + "\n")
	}
	b.WriteString("  interface:\n    eth0: {local: WAN_LOCAL}\n")
	if len(lab.clients) > 0 || lab.extraSA != "" {
		b.WriteString("ipsec:\n  sa:\n")
	}
	for _, i := range lab.clients {
		enc := ""
		if lab.natt[i] {
			enc = ", encapsulation: udp, source-port: 4500, destination-port: 4500"
		}
		pair := fmt.Sprintf(", pair: out-c%d", i)
		if lab.noPair[i] {
			pair = ""
		}
		fmt.Fprintf(&b, "    in-c%d: {spi: 0x%08x, direction: in, source: %s, destination: 10.99.0.1, proposal: aes128gcm16, enc-key: %s%s%s}\n",
			i, 0xc000+i, clientAddr(i), keyHex(i), enc, pair)
		fmt.Fprintf(&b, "    out-c%d: {spi: 0x%08x, direction: out, source: 10.99.0.1, destination: %s, proposal: aes128gcm16, enc-key: %s%s}\n",
			i, 0xd000+i, clientAddr(i), keyHex(500+i), enc)
	}
	b.WriteString(lab.extraSA)
	b.WriteString("l2tp:\n  lns: {hostname: sluice-lab, hello-interval: 1s" + lab.lns + "}\n")
	if lab.static != "" {
		b.WriteString("  static:\n" + lab.static)
	}
	return b.String()
}

// testLAC is a scripted LAC behind client i's SAs (or in the clear). It
// keeps its own sequence numbers so tests can make it misbehave.
type testLAC struct {
	tb        testing.TB
	addr      netip.Addr
	port      uint16            // inner UDP source port
	natPort   uint16            // outer UDP source port of its ESP-in-UDP (its NAT's mapping); 0: plain ESP
	out       *ipsec.OutboundSA // nil: cleartext
	in        *ipsec.InboundSA
	mac       [6]byte
	vlan      uint16 // the tag's control information; 0: untagged
	vlanType  uint16 // the tag's EtherType: 0x8100 (the default) or 0x88a8
	tid       uint16 // its tunnel id
	serverTID uint16 // learnt from SCCRP
	ns, nr    uint16
	secret    []byte
}

var boxMAC = [6]byte{0x02, 0, 0, 0, 0, 1}

// newTestLAC returns client i's LAC; cleartext skips the SAs. natPort, when
// not 0, makes its SAs ESP in UDP from that port (a NAT's mapping) to 4500.
func newTestLAC(tb testing.TB, i int, cleartext bool, natPort uint16) *testLAC {
	c := &testLAC{tb: tb, addr: clientAddr(i), port: 1701, natPort: natPort, mac: [6]byte{0x02, 0, 0, 0, byte(i >> 8), byte(i)}, tid: uint16(100 + i)}
	if cleartext {
		return c
	}
	// Behind a NAT the client sends ESP in UDP from 4500 to 4500, and the
	// NAT maps its source port to natPort (frame rewrites it).
	enc, sp, dp := ipsec.EncapNone, uint16(0), uint16(0)
	if natPort != 0 {
		enc, sp, dp = ipsec.EncapUDP, 4500, 4500
	}
	var err error
	c.out, err = ipsec.NewOutboundSA(ipsec.SASpec{Name: fmt.Sprintf("lac%d-out", i), SPI: uint32(0xc000 + i), Direction: ipsec.Out,
		Mode: ipsec.Transport, Source: c.addr, Destination: boxAddr, Encapsulation: enc, SourcePort: sp, DestinationPort: dp,
		Proposal: ipsec.AES128GCM16, EncKey: mustKey(tb, keyHex(i))})
	if err != nil {
		tb.Fatal(err)
	}
	c.in, err = ipsec.NewInboundSA(ipsec.SASpec{Name: fmt.Sprintf("lac%d-in", i), SPI: uint32(0xd000 + i), Direction: ipsec.In,
		Mode: ipsec.Transport, Source: boxAddr, Destination: c.addr, Encapsulation: enc, SourcePort: dp, DestinationPort: sp,
		Proposal: ipsec.AES128GCM16, EncKey: mustKey(tb, keyHex(500+i)), ReplayWindow: 64})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// encode fills in the header (tunnel id, Ns, Nr) and encodes m.
func (c *testLAC) encode(m *l2tp.Message) []byte {
	c.tb.Helper()
	if m.TunnelID == 0 && m.Type != l2tp.MsgSCCRQ {
		m.TunnelID = c.serverTID
	}
	m.Ns, m.Nr = c.ns, c.nr
	b, err := m.Append(nil, c.secret, nil)
	if err != nil {
		c.tb.Fatal(err)
	}
	if !m.IsZLB() {
		c.ns++
	}
	return b
}

// frame wraps an L2TP message (control or data) in UDP, IP, ESP and
// Ethernet, as the LAC's stack would send it.
func (c *testLAC) frame(l2 []byte) []byte {
	c.tb.Helper()
	inner := udpPacket(c.tb, c.addr, boxAddr, c.port, 1701, l2)
	if c.out == nil {
		return append(c.eth(), inner...)
	}
	head, tail := c.out.Overhead()
	buf := make([]byte, head+len(inner)+tail)
	copy(buf[head:], inner)
	off, n, r := c.out.Encap(buf, head, len(inner), 0)
	if r != ipsec.OK {
		c.tb.Fatalf("Encap: %v", r)
	}
	pkt := buf[off : off+n]
	if c.natPort != 0 {
		binary.BigEndian.PutUint16(pkt[20:], c.natPort) // the NAT's mapping; the IPv4 NAT-T checksum is 0
	}
	return append(c.eth(), pkt...)
}

// tagType is the EtherType of the LAC's VLAN tag.
func (c *testLAC) tagType() uint16 {
	if c.vlanType == 0 {
		return 0x8100
	}
	return c.vlanType
}

func (c *testLAC) eth() []byte {
	b := append(append([]byte(nil), boxMAC[:]...), c.mac[:]...)
	if c.vlan != 0 {
		b = binary.BigEndian.AppendUint16(b, c.tagType())
		b = append(b, byte(c.vlan>>8), byte(c.vlan))
	}
	return append(b, 0x08, 0x00)
}

// send encodes m and returns its frame.
func (c *testLAC) send(m *l2tp.Message) []byte { return c.frame(c.encode(m)) }

// data returns a data message for (the server's tunnel, session sid) with
// an n-byte PPP frame (RFC 2661 section 3.1, L bit set).
func (c *testLAC) data(sid uint16, n int) []byte {
	ppp := make([]byte, n)
	ppp[0], ppp[1], ppp[2], ppp[3] = 0xff, 0x03, 0xc0, 0x21
	l := 8 + n
	b := []byte{0x40, 0x02, byte(l >> 8), byte(l), byte(c.serverTID >> 8), byte(c.serverTID), byte(sid >> 8), byte(sid)}
	return c.frame(append(b, ppp...))
}

// reply is one frame from the box, taken apart.
type reply struct {
	udp     *layers.UDP // the L2TP datagram's UDP header (inner)
	outer   *layers.UDP // ESP-in-UDP header, when NAT-T
	src     netip.Addr
	payload []byte
	msg     *l2tp.Message
}

// decode checks that frame is for this LAC (MACs, addresses), decrypts it
// with the LAC's inbound SA, checks the IP and UDP checksums with gopacket,
// and parses the L2TP control message. ok is false for a frame to another
// peer.
func (c *testLAC) decode(frame []byte) (reply, bool) {
	c.tb.Helper()
	var r reply
	if [6]byte(frame[0:6]) != c.mac || [6]byte(frame[6:12]) != boxMAC {
		return r, false
	}
	l3 := 14
	if et := binary.BigEndian.Uint16(frame[12:]); et == 0x8100 || et == 0x88a8 {
		if tci := binary.BigEndian.Uint16(frame[14:]); tci != c.vlan {
			c.tb.Errorf("reply tagged %#04x, want %#04x", tci, c.vlan)
		}
		if et != c.tagType() {
			c.tb.Errorf("reply tag EtherType %#04x, want %#04x (the peer's)", et, c.tagType())
		}
		l3 = 18
	} else if c.vlan != 0 {
		c.tb.Errorf("reply untagged, want VLAN tag %#04x", c.vlan)
	}
	if binary.BigEndian.Uint16(frame[l3-2:]) != 0x0800 {
		return r, false
	}
	ip := frame[l3:]
	if netip.AddrFrom4([4]byte(ip[16:20])) != c.addr {
		return r, false
	}
	if c.in != nil {
		pkt := gopacket.NewPacket(ip, layers.LayerTypeIPv4, gopacket.Default)
		if u, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
			cp := *u
			r.outer = &cp
		}
		buf := append([]byte(nil), ip...)
		espOff := int(ip[0]&15) * 4
		if r.outer != nil {
			espOff += 8
		}
		off, n, res := c.in.Decap(buf, 0, espOff, len(buf), 1)
		if res != ipsec.OK {
			c.tb.Fatalf("LAC %s: decrypt reply: %v", c.addr, res)
		}
		ip = buf[off : off+n]
	}
	pkt := gopacket.NewPacket(ip, layers.LayerTypeIPv4, gopacket.Default)
	ip4, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	u, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if ip4 == nil || u == nil {
		c.tb.Fatalf("reply is not IPv4/UDP: %x", ip)
	}
	// Checksums as the LAC's stack checks them: recompute and compare.
	chk := gopacket.NewSerializeBuffer()
	ipc, uc := *ip4, *u
	_ = uc.SetNetworkLayerForChecksum(&ipc)
	if err := gopacket.SerializeLayers(chk, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, &ipc, &uc, gopacket.Payload(u.Payload)); err != nil {
		c.tb.Fatal(err)
	}
	re := gopacket.NewPacket(chk.Bytes(), layers.LayerTypeIPv4, gopacket.Default)
	if want := re.Layer(layers.LayerTypeIPv4).(*layers.IPv4).Checksum; want != ip4.Checksum {
		c.tb.Errorf("reply IPv4 checksum %#04x, want %#04x", ip4.Checksum, want)
	}
	// NAT-T transport decapsulation zeroes the inner UDP checksum over IPv4
	// (RFC 3948 3.1.2 option 3, see ipsec.Decap); otherwise it must verify.
	if want := re.Layer(layers.LayerTypeUDP).(*layers.UDP).Checksum; want != u.Checksum && (r.outer == nil || u.Checksum != 0) {
		c.tb.Errorf("reply UDP checksum %#04x, want %#04x", u.Checksum, want)
	}
	r.udp, r.src, r.payload = u, netip.AddrFrom4([4]byte(ip4.SrcIP.To4())), u.Payload
	m, err := l2tp.ParseControl(u.Payload, c.secret)
	if err != nil {
		c.tb.Fatalf("reply does not parse: %v (%x)", err, u.Payload)
	}
	r.msg = m
	return r, true
}

// take decodes the frames for this LAC, advancing Nr over in-order messages.
func (c *testLAC) take(frames [][]byte) []reply {
	c.tb.Helper()
	var got []reply
	for _, f := range frames {
		r, ok := c.decode(f)
		if !ok {
			continue
		}
		if r.udp.SrcPort != 1701 || uint16(r.udp.DstPort) != c.port || r.src != boxAddr {
			c.tb.Errorf("reply %s:%d → :%d, want %s:1701 → :%d", r.src, r.udp.SrcPort, r.udp.DstPort, boxAddr, c.port)
		}
		if r.msg.TunnelID != c.tid {
			c.tb.Errorf("reply to tunnel %d, want %d", r.msg.TunnelID, c.tid)
		}
		if !r.msg.IsZLB() && r.msg.Ns == c.nr {
			c.nr++
		}
		got = append(got, r)
	}
	return got
}

// types lists the message types of rs.
func typesOfReplies(rs []reply) []l2tp.MessageType {
	var ts []l2tp.MessageType
	for _, r := range rs {
		ts = append(ts, r.msg.Type)
	}
	return ts
}

func sccrqMsg(tid uint16, host string) *l2tp.Message {
	m := &l2tp.Message{Type: l2tp.MsgSCCRQ, ProtocolVersion: 1, FramingCapabilities: l2tp.FramingSync | l2tp.FramingAsync,
		HostName: []byte(host), AssignedTunnelID: tid, ReceiveWindowSize: 8}
	m.Add(l2tp.AVPProtocolVersion, l2tp.AVPFramingCapabilities, l2tp.AVPHostName, l2tp.AVPAssignedTunnelID, l2tp.AVPReceiveWindowSize)
	return m
}

func icrqMsg(sid uint16, serial uint32) *l2tp.Message {
	m := &l2tp.Message{Type: l2tp.MsgICRQ, AssignedSessionID: sid, CallSerialNumber: serial}
	m.Add(l2tp.AVPAssignedSessionID, l2tp.AVPCallSerialNumber)
	return m
}

func iccnMsg(serverSID uint16) *l2tp.Message {
	m := &l2tp.Message{Type: l2tp.MsgICCN, SessionID: serverSID, TxConnectSpeed: 10000000, FramingType: l2tp.FramingAsync}
	m.Add(l2tp.AVPTxConnectSpeed, l2tp.AVPFramingType)
	return m
}

// lnsRig is a controller, one mem-port worker and an LNS, run in lock step
// on the test's goroutine: inject frames, let the worker punt them, let the
// LNS answer, let the worker transmit, collect what left.
type lnsRig struct {
	tb   testing.TB
	ctrl *Controller
	port *mem.Port
	w    *dataplane.Worker
	lns  *LNS
	now  time.Time
	mu   sync.Mutex
}

func newLNSRig(tb testing.TB, lab lnsLab, opts LNSOptions) *lnsRig {
	tb.Helper()
	dp := dataplane.New()
	r := &lnsRig{tb: tb, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r.port = mem.New(mem.Options{Name: "eth0", Frames: 512})
	r.w = dp.AddWorker(dataplane.WorkerOptions{Port: r.port, CPU: -1})
	r.ctrl = NewController(dp, Options{})
	r.commit(lab)
	if opts.Clock == nil {
		opts.Clock = func() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.now }
	}
	r.lns = NewLNS(r.ctrl, opts)
	r.exchange() // the LNS follows the commit
	return r
}

func (r *lnsRig) commit(lab lnsLab) {
	r.tb.Helper()
	if _, err := r.ctrl.Commit(mustTree(r.tb, lab.yaml()), "test", ""); err != nil {
		r.tb.Fatalf("commit: %v", err)
	}
}

// exchange injects frames, runs worker and LNS until nothing moves, and
// returns every frame the worker transmitted.
func (r *lnsRig) exchange(frames ...[]byte) [][]byte {
	r.tb.Helper()
	for _, f := range frames {
		if !r.port.Inject(f) {
			r.tb.Fatal("mem port full")
		}
	}
	var out [][]byte
	for range 8 {
		for r.w.Burst() > 0 {
		}
		r.lns.mu.Lock()
		n := r.lns.passLocked(r.clock())
		r.lns.mu.Unlock()
		r.w.Burst()
		k := r.port.Drain(func(p []byte) { out = append(out, append([]byte(nil), p...)) })
		if n == 0 && k == 0 {
			break
		}
	}
	return out
}

func (r *lnsRig) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now
}

// advance moves the fake clock by d, one second at a time, collecting what
// the LNS's timers send.
func (r *lnsRig) advance(d time.Duration) [][]byte {
	var out [][]byte
	for d > 0 {
		step := min(d, time.Second)
		d -= step
		r.mu.Lock()
		r.now = r.now.Add(step)
		r.mu.Unlock()
		out = append(out, r.exchange()...)
	}
	return out
}

// open runs SCCRQ/SCCRP/SCCCN for c and checks the SCCRP.
func (r *lnsRig) open(c *testLAC) {
	r.tb.Helper()
	got := c.take(r.exchange(c.send(sccrqMsg(c.tid, "lac"))))
	if len(got) != 1 || got[0].msg.Type != l2tp.MsgSCCRP {
		r.tb.Fatalf("SCCRQ answered with %v, want [SCCRP]", typesOfReplies(got))
	}
	c.serverTID = got[0].msg.AssignedTunnelID
	r.exchange(c.send(&l2tp.Message{Type: l2tp.MsgSCCCN}))
}

// call runs ICRQ/ICRP/ICCN and returns the server's session id.
func (r *lnsRig) call(c *testLAC, sid uint16) uint16 {
	r.tb.Helper()
	got := c.take(r.exchange(c.send(icrqMsg(sid, uint32(sid)))))
	if len(got) != 1 || got[0].msg.Type != l2tp.MsgICRP || got[0].msg.SessionID != sid {
		r.tb.Fatalf("ICRQ answered with %v, want [ICRP] to session %d", typesOfReplies(got), sid)
	}
	serverSID := got[0].msg.AssignedSessionID
	r.exchange(c.send(iccnMsg(serverSID)))
	r.advance(time.Millisecond) // the coalescing interval: the session is published
	return serverSID
}

// drops returns the workers' drop counters by name, non-zero only.
func (r *lnsRig) drops() map[string]uint64 {
	out := map[string]uint64{}
	c := r.ctrl.Dataplane().Counts()
	for d := dataplane.DropReason(0); d < dataplane.NumDropReasons; d++ {
		if n := c.Drop(d); n != 0 {
			out[d.String()] = n
		}
	}
	return out
}

// lnsSecret is the tunnel secret of the labs (xl2tpd's l2tp-secrets holds
// it as text; sluice's configuration as 0x-hex).
const lnsSecret = "sluice-lab-secret"

func sumDrops(d [NumReplyDrops]uint64) uint64 {
	var n uint64
	for _, v := range d {
		n += v
	}
	return n
}
