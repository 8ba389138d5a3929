package control

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/sluicenet/sluice/dataplane/dptest"
	"github.com/sluicenet/sluice/ipsec"
	"github.com/sluicenet/sluice/l2tp/l2tptest"
)

// espShim is the test-only IPsec of the LAC's namespace: this kernel has
// no ESP (no xfrm), so xl2tpd's UDP/1701 is routed into a TUN device; the
// shim encrypts each packet with the client's outbound SA (our ipsec
// package, transport mode; checked against scapy in ipsec's tests) and
// sends it out of the veth as an Ethernet frame (AF_PACKET); ESP frames
// arriving on the veth are decrypted with the client's inbound SA and
// written to the TUN device, where xl2tpd's socket receives them.
//
//	xl2tpd ─UDP/1701→ 10.99.0.1 ─route─► tun ─► shim: Encap ─► AF_PACKET ─► veth ─► sluice
//	xl2tpd ◄─ tun ◄─ shim: Decap ◄─ AF_PACKET (ESP from 10.99.0.1) ◄─ veth ◄─ sluice
//
// It counts what it carries, by L2TP message kind, as an account of the
// exchange that does not come from sluice.
type espShim struct {
	t        *testing.T
	tun      *os.File
	pkt      *dptest.PacketSocket
	raw      *net.IPConn // absorbs ESP in the LAC's kernel (no ICMP protocol-unreachable)
	out      *ipsec.OutboundSA
	in       *ipsec.InboundSA
	srcMAC   [6]byte
	dstMAC   [6]byte
	local    netip.Addr
	remote   netip.Addr
	stop     atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	sentCtl  int               // L2TP control messages encrypted and sent
	sentData map[[2]uint16]int // data messages sent, by (tunnel, session) as the header names them
	replies  int               // ESP packets from sluice decrypted and handed to xl2tpd
	badESP   int               // ESP packets from sluice that did not decrypt
}

// startESPShim puts the shim in the LAC's namespace of lab, between
// xl2tpd and the veth, with the client SAs out and in.
func startESPShim(t *testing.T, lab *dptest.VethLab, out *ipsec.OutboundSA, in *ipsec.InboundSA) *espShim {
	t.Helper()
	s := &espShim{t: t, out: out, in: in, sentData: map[[2]uint16]int{},
		local: lab.Client.Addr4.Addr(), remote: lab.Server.Addr4.Addr()}
	copy(s.srcMAC[:], lab.Client.MAC)
	copy(s.dstMAC[:], lab.Server.MAC)
	name := "sltun" + dptest.RandomSuffix(6)
	var err error
	if s.tun, err = dptest.OpenTun(lab.Client.NS, name); err != nil {
		t.Fatal(err)
	}
	// Only xl2tpd's traffic to the LNS goes through the shim; the shim's
	// own ESP leaves by AF_PACKET, outside routing.
	args := []string{"-n", lab.Client.NS.Name, "route", "add", s.remote.String() + "/32", "dev", name, "src", s.local.String()}
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v\n%s", args, err, out)
	}
	if s.pkt, err = dptest.OpenPacketSocket(lab.Client.NS, lab.Client.If); err != nil {
		t.Fatal(err)
	}
	if err := lab.Client.NS.Do(func() error {
		var err error
		s.raw, err = net.ListenIP("ip4:50", &net.IPAddr{IP: s.local.AsSlice()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s.wg.Add(3)
	go s.outbound()
	go s.inbound()
	go s.absorb()
	t.Cleanup(s.close)
	return s
}

func (s *espShim) close() {
	if s.stop.Swap(true) {
		return
	}
	s.tun.Close()
	s.raw.Close()
	s.wg.Wait()
	s.pkt.Close()
}

// outbound: TUN → ESP → veth.
func (s *espShim) outbound() {
	defer s.wg.Done()
	head, tail := s.out.Overhead()
	buf := make([]byte, 14+head+2048+tail)
	for {
		n, err := s.tun.Read(buf[14+head : 14+head+2048])
		if err != nil {
			if !s.stop.Load() && !errors.Is(err, os.ErrClosed) {
				s.t.Errorf("shim: read tun: %v", err)
			}
			return
		}
		ip := buf[14+head : 14+head+n]
		if n < 28 || ip[0]>>4 != 4 || ip[9] != 17 || netip.AddrFrom4([4]byte(ip[16:20])) != s.remote {
			continue // IPv6 router solicitations and the like
		}
		ihl := int(ip[0]&15) * 4
		l2 := ip[ihl+8:]
		if binary.BigEndian.Uint16(ip[ihl+2:]) != 1701 || len(l2) < 6 {
			continue
		}
		s.count(l2)
		off, m, r := s.out.Encap(buf, 14+head, n, 0)
		if r != ipsec.OK {
			s.t.Errorf("shim: Encap: %v", r)
			continue
		}
		f := buf[off-14 : off+m]
		copy(f[0:6], s.dstMAC[:])
		copy(f[6:12], s.srcMAC[:])
		f[12], f[13] = 0x08, 0x00
		if err := s.pkt.Send(f); err != nil {
			s.t.Errorf("shim: send: %v", err)
		}
	}
}

// count records one L2TP message xl2tpd sent (RFC 2661 section 3.1: T bit
// first; tunnel and session ids after the optional length field).
func (s *espShim) count(l2 []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l2[0]&0x80 != 0 {
		s.sentCtl++
		return
	}
	off := 2
	if l2[0]&0x40 != 0 {
		off += 2
	}
	if len(l2) < off+4 {
		return
	}
	s.sentData[[2]uint16{binary.BigEndian.Uint16(l2[off:]), binary.BigEndian.Uint16(l2[off+2:])}]++
}

// inbound: veth → decrypt → TUN.
func (s *espShim) inbound() {
	defer s.wg.Done()
	buf := make([]byte, 4096)
	for !s.stop.Load() {
		n, err := s.pkt.Recv(buf, 100*time.Millisecond)
		if errors.Is(err, dptest.ErrTimeout) {
			continue
		}
		if err != nil {
			if !s.stop.Load() {
				s.t.Errorf("shim: recv: %v", err)
			}
			return
		}
		f := buf[:n]
		if n < 14+20+8 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[14+9] != 50 ||
			netip.AddrFrom4([4]byte(f[14+12:14+16])) != s.remote {
			continue
		}
		ihl := int(f[14]&15) * 4
		off, m, r := s.in.Decap(f, 14, 14+ihl, n, 0)
		s.mu.Lock()
		if r != ipsec.OK {
			s.badESP++
			s.mu.Unlock()
			continue
		}
		s.replies++
		s.mu.Unlock()
		if _, err := s.tun.Write(f[off : off+m]); err != nil && !s.stop.Load() {
			s.t.Errorf("shim: write tun: %v", err)
		}
	}
}

// absorb reads and discards the ESP the LAC's kernel delivers to raw
// sockets, so it never answers it with ICMP protocol unreachable.
func (s *espShim) absorb() {
	defer s.wg.Done()
	buf := make([]byte, 4096)
	for {
		if _, err := s.raw.Read(buf); err != nil {
			return
		}
	}
}

// counts returns the shim's account.
func (s *espShim) counts() (ctl int, data map[[2]uint16]int, replies, bad int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data = map[[2]uint16]int{}
	for k, v := range s.sentData {
		data[k] = v
	}
	return s.sentCtl, data, s.replies, s.badESP
}

// tap records the IPv4 UDP/1701 frames crossing an interface, both ways,
// from an AF_PACKET socket bound before the test goes on (so nothing is
// missed at the start): the kernel's own account of the wire.
type tap struct {
	sock *dptest.PacketSocket
	stop atomic.Bool
	mu   sync.Mutex
	out  [][]byte // sent by the namespace's host
	in   [][]byte // received
	done chan struct{}
}

func startTap(t *testing.T, ns *dptest.Netns, iface string) *tap {
	t.Helper()
	tp := &tap{done: make(chan struct{})}
	var err error
	if tp.sock, err = dptest.OpenPacketSocket(ns, iface); err != nil {
		t.Fatalf("tap on %s: %v", iface, err)
	}
	go tp.run()
	t.Cleanup(tp.close)
	return tp
}

func (tp *tap) run() {
	defer close(tp.done)
	buf := make([]byte, 4096)
	for {
		n, outgoing, err := tp.sock.RecvAny(buf, 50*time.Millisecond)
		if errors.Is(err, dptest.ErrTimeout) {
			if tp.stop.Load() {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		f := buf[:n]
		if n < 14+28 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[14+9] != 17 {
			continue
		}
		ihl := int(f[14]&15) * 4
		if binary.BigEndian.Uint16(f[14+ihl:]) != 1701 && binary.BigEndian.Uint16(f[14+ihl+2:]) != 1701 {
			continue
		}
		tp.mu.Lock()
		if outgoing {
			tp.out = append(tp.out, append([]byte(nil), f...))
		} else {
			tp.in = append(tp.in, append([]byte(nil), f...))
		}
		tp.mu.Unlock()
	}
}

// frames returns the UDP/1701 frames sent (out) or received so far.
func (tp *tap) frames(out bool) [][]byte {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if out {
		return append([][]byte(nil), tp.out...)
	}
	return append([][]byte(nil), tp.in...)
}

func (tp *tap) close() {
	if tp.stop.Swap(true) {
		return
	}
	<-tp.done // the reader sees stop at its next timeout
	tp.sock.Close()
}

// tsharkL2TPTypes decodes Ethernet frames with tshark and returns each
// one's L2TP message type (Wireshark's l2tp.avp.message_type).
func tsharkL2TPTypes(t *testing.T, frames [][]byte) []string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "*.pcap")
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, fr := range frames {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: len(fr), Length: len(fr)}, fr); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	var types []string
	for _, row := range l2tptest.TsharkFields(t, f.Name(), []string{"l2tp.avp.message_type"}) {
		types = append(types, row["l2tp.avp.message_type"])
	}
	return types
}
