package afxdp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/dptest"
)

// udpFrom opens a UDP socket in ns connected to addr:port.
func udpFrom(t *testing.T, ns *dptest.Netns, network, addr string, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := ns.Do(func() error {
		var err error
		c, err = net.DialUDP(network, nil, &net.UDPAddr{IP: net.ParseIP(addr), Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// udpListen opens a kernel UDP socket in ns on port.
func udpListen(t *testing.T, ns *dptest.Netns, network string, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := ns.Do(func() error {
		var err error
		c, err = net.ListenUDP(network, &net.UDPAddr{Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// espFrom opens a raw IP socket for protocol 50 in ns: the kernel (which
// has no ESP here) builds the IP header, we write an ESP header and body.
func espFrom(t *testing.T, ns *dptest.Netns, network string) *net.IPConn {
	t.Helper()
	var c *net.IPConn
	if err := ns.Do(func() error {
		var err error
		c, err = net.ListenIP(network+":50", nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// kernelGot reads from a kernel socket until it sees marker or timeout.
func kernelGot(c net.Conn, marker []byte, timeout time.Duration) bool {
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(timeout))
	for {
		n, err := c.Read(buf)
		if err != nil {
			return false
		}
		if bytes.Contains(buf[:n], marker) {
			return true
		}
	}
}

// containsMarker reports whether any frame contains marker.
func containsMarker(frames [][]byte, marker []byte) bool {
	for _, f := range frames {
		if bytes.Contains(f, marker) {
			return true
		}
	}
	return false
}

// TestPortSteering sends the dataplane's traffic and the kernel's from the
// client namespace and checks where each lands: ESP and UDP/4500, UDP/1701
// on the AF_XDP socket (and not on kernel sockets bound to those ports);
// UDP/500, TCP and ping at the server's kernel, so the box stays reachable.
func TestPortSteering(t *testing.T) {
	dptest.RequireRoot(t)
	for _, mode := range []Mode{ModeNative, ModeGeneric} {
		t.Run(mode.String(), func(t *testing.T) {
			lab := dptest.NewVethLab(t, nil)
			o := DefaultOptions(lab.Server.If)
			o.XDPMode = mode
			p := openIn(t, lab.Server.NS, o)
			if got := p.Stats().Mode; got != mode.String() {
				t.Fatalf("mode %q, want %q", got, mode)
			}
			srv4, srv6 := dptest.ServerAddr4.Addr().String(), dptest.ServerAddr6.Addr().String()

			// Ours: UDP 4500 and 1701 (IPv4, IPv6), ESP (IPv4, IPv6).
			type ours struct {
				name   string
				send   func(marker []byte) error
				kernel net.Conn // a kernel socket that must NOT see it
			}
			var cases []ours
			for _, port := range []int{4500, 1701} {
				for _, fam := range []struct{ network, addr string }{{"udp4", srv4}, {"udp6", srv6}} {
					c := udpFrom(t, lab.Client.NS, fam.network, fam.addr, port)
					k := udpListen(t, lab.Server.NS, fam.network, port)
					cases = append(cases, ours{fmt.Sprintf("%s/%d", fam.network, port), func(m []byte) error { _, err := c.Write(m); return err }, k})
				}
			}
			for _, fam := range []struct{ network, addr string }{{"ip4", srv4}, {"ip6", srv6}} {
				c := espFrom(t, lab.Client.NS, fam.network)
				dst := &net.IPAddr{IP: net.ParseIP(fam.addr)}
				cases = append(cases, ours{fam.network + "/esp", func(m []byte) error {
					esp := append([]byte{0, 0, 0xc0, 0x01, 0, 0, 0, 1}, m...) // SPI, sequence number (RFC 4303)
					_, err := c.WriteTo(esp, dst)
					return err
				}, nil})
			}
			for _, c := range cases {
				marker := []byte("sluice-" + c.name + "-" + dptest.RandomSuffix(8))
				var got [][]byte
				for try := 0; try < 3 && !containsMarker(got, marker); try++ {
					if err := c.send(marker); err != nil {
						t.Fatalf("%s: send: %v", c.name, err)
					}
					got = append(got, recvN(p, 1, time.Second)...)
				}
				if !containsMarker(got, marker) {
					t.Errorf("%s: did not arrive on the AF_XDP socket", c.name)
				}
				if c.kernel != nil && kernelGot(c.kernel, marker, 50*time.Millisecond) {
					t.Errorf("%s: reached the server's kernel socket too", c.name)
				}
			}

			// The kernel's: IKE on UDP/500, TCP, ICMP echo.
			marker := []byte("ike-" + dptest.RandomSuffix(8))
			ike := udpListen(t, lab.Server.NS, "udp4", 500)
			c500 := udpFrom(t, lab.Client.NS, "udp4", srv4, 500)
			if _, err := c500.Write(marker); err != nil {
				t.Fatal(err)
			}
			if !kernelGot(ike, marker, 2*time.Second) {
				t.Error("UDP/500 did not reach the server's kernel")
			}
			if containsMarker(recvN(p, 1, 100*time.Millisecond), marker) {
				t.Error("UDP/500 arrived on the AF_XDP socket")
			}
			checkTCP(t, lab)
			checkPing(t, lab)

			c, err := p.Program().Counters()
			if err != nil {
				t.Fatal(err)
			}
			if c.Redirected < uint64(len(cases)) || c.Passed == 0 {
				t.Errorf("program counters %+v: want >= %d redirected and some passed", c, len(cases))
			}
			if s := p.Stats(); s.RxDropped != 0 || s.RxInvalidDescs != 0 {
				t.Errorf("kernel dropped frames: %+v", s)
			}
		})
	}
}

// checkTCP opens a TCP connection from client to server and echoes a line.
func checkTCP(t *testing.T, lab *dptest.VethLab) {
	t.Helper()
	var ln net.Listener
	if err := lab.Server.NS.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", ":2222")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	var conn net.Conn
	if err := lab.Client.NS.Do(func() error {
		var err error
		conn, err = net.DialTimeout("tcp4", dptest.ServerAddr4.Addr().String()+":2222", 2*time.Second)
		return err
	}); err != nil {
		t.Fatalf("TCP to the server: %v", err)
	}
	defer conn.Close()
	msg := []byte("still reachable\n")
	conn.Write(msg)
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, buf); err != nil || !bytes.Equal(buf, msg) {
		t.Errorf("TCP echo: %q, %v", buf, err)
	}
}

// checkPing sends an ICMP echo request from the client and waits for the
// server kernel's reply.
func checkPing(t *testing.T, lab *dptest.VethLab) {
	t.Helper()
	var c *net.IPConn
	if err := lab.Client.NS.Do(func() error {
		var err error
		c, err = net.ListenIP("ip4:icmp", nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := uint16(time.Now().UnixNano())
	echo := []byte{8, 0, 0, 0, byte(id >> 8), byte(id), 0, 1, 's', 'l', 'u', 'i', 'c', 'e'}
	binary.BigEndian.PutUint16(echo[2:], inetChecksum(echo))
	dst := &net.IPAddr{IP: dptest.ServerAddr4.Addr().AsSlice()}
	buf := make([]byte, 1500)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	for try := 0; ; try++ {
		if try < 3 {
			c.WriteTo(echo, dst)
		}
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Errorf("no echo reply from the server: %v", err)
			return
		}
		if n >= 8 && buf[0] == 0 && binary.BigEndian.Uint16(buf[4:]) == id {
			return
		}
	}
}

// inetChecksum is the RFC 1071 Internet checksum.
func inetChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// buildUDP4 serializes an Ethernet/IPv4/UDP frame with gopacket, which
// computes lengths and checksums independently of our code.
func buildUDP4(t testing.TB, srcMAC, dstMAC net.HardwareAddr, src, dst net.IP, sport, dport int, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src, DstIP: dst}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPortTransmit builds frames in Alloc'd UMEM frames and sends them: the
// client captures them byte for byte (AF_PACKET) and its kernel accepts
// them as UDP (so lengths and checksums are right); then it checks that
// the completions came back to the free stack.
func TestPortTransmit(t *testing.T) {
	dptest.RequireRoot(t)
	lab := dptest.NewVethLab(t, nil)
	p := openIn(t, lab.Server.NS, DefaultOptions(lab.Server.If))
	capture, err := dptest.OpenPacketSocket(lab.Client.NS, lab.Client.If)
	if err != nil {
		t.Fatal(err)
	}
	defer capture.Close()
	sink := udpListen(t, lab.Client.NS, "udp4", 40000)

	freeBefore := len(p.free)
	const n = 8
	fs := make([]dataplane.Frame, n)
	if got := p.Alloc(fs); got != n {
		t.Fatalf("Alloc: %d frames, want %d", got, n)
	}
	want := make([][]byte, n)
	for i := range fs {
		if fs[i].Off != DefaultHeadroom || fs[i].Len != 0 || len(fs[i].Buf) != DefaultFrameSize {
			t.Fatalf("Alloc frame %d: Off %d Len %d len(Buf) %d", i, fs[i].Off, fs[i].Len, len(fs[i].Buf))
		}
		want[i] = buildUDP4(t, lab.Server.MAC, lab.Client.MAC, dptest.ServerAddr4.Addr().AsSlice(), dptest.ClientAddr4.Addr().AsSlice(),
			4500, 40000, []byte(fmt.Sprintf("tx-%d-%s", i, dptest.RandomSuffix(6))))
		fs[i].Len = copy(fs[i].Buf[fs[i].Off:], want[i])
	}
	if got := p.Send(fs); got != n {
		t.Fatalf("Send accepted %d of %d", got, n)
	}
	buf := make([]byte, 2048)
	for i := 0; i < n; {
		k, err := capture.Recv(buf, 2*time.Second)
		if err != nil {
			t.Fatalf("client captured %d of %d frames: %v", i, n, err)
		}
		if buf[12] != 0x08 || buf[13] != 0x00 { // ARP, IPv6 ND from the kernels
			continue
		}
		if !bytes.Equal(buf[:k], want[i]) {
			t.Fatalf("frame %d differs:\n got %x\nwant %x", i, buf[:k], want[i])
		}
		i++
	}
	for i := 0; i < n; i++ {
		if !kernelGot(sink, []byte(fmt.Sprintf("tx-%d-", i)), 2*time.Second) {
			t.Errorf("client kernel did not accept frame %d as UDP", i)
		}
	}
	// Completions return the frames: a Recv reaps them.
	deadline := time.Now().Add(time.Second)
	for len(p.free)+p.rxOwned-p.fillTarget != freeBefore && time.Now().Before(deadline) {
		p.Recv(fs[:0])
		time.Sleep(time.Millisecond)
	}
	if got := p.Stats().TxCompleted; got != n {
		t.Errorf("TxCompleted %d, want %d", got, n)
	}
	if got := len(p.free); got != freeBefore {
		t.Errorf("free frames %d after completion, want %d", got, freeBefore)
	}
}

// TestPortReflect receives UDP/4500 datagrams, swaps addresses and ports
// in place (which keeps the IPv4 checksum valid) and sends the same UMEM
// frames back: the client's kernel gets the replies.
func TestPortReflect(t *testing.T) {
	dptest.RequireRoot(t)
	lab := dptest.NewVethLab(t, nil)
	p := openIn(t, lab.Server.NS, DefaultOptions(lab.Server.If))
	c := udpFrom(t, lab.Client.NS, "udp4", dptest.ServerAddr4.Addr().String(), 4500)
	fs := make([]dataplane.Frame, dataplane.BatchSize)
	reply := make([]byte, 2048)
	for i := 0; i < 4; i++ {
		marker := []byte(fmt.Sprintf("reflect-%d-%s", i, dptest.RandomSuffix(6)))
		if _, err := c.Write(marker); err != nil {
			t.Fatal(err)
		}
		var n int
		for deadline := time.Now().Add(2 * time.Second); n == 0 && time.Now().Before(deadline); {
			p.Wait(10 * time.Millisecond)
			n = p.Recv(fs)
		}
		if n != 1 {
			t.Fatalf("received %d frames, want 1", n)
		}
		f := fs[0].Data()
		if fs[0].Off != DefaultHeadroom {
			t.Errorf("RX frame Off %d, want XDP_PACKET_HEADROOM %d", fs[0].Off, DefaultHeadroom)
		}
		var mac [6]byte
		copy(mac[:], f[0:6])
		copy(f[0:6], f[6:12])
		copy(f[6:12], mac[:])
		var ip [4]byte
		copy(ip[:], f[26:30])
		copy(f[26:30], f[30:34])
		copy(f[30:34], ip[:])
		sp := binary.BigEndian.Uint16(f[34:])
		binary.BigEndian.PutUint16(f[34:], binary.BigEndian.Uint16(f[36:]))
		binary.BigEndian.PutUint16(f[36:], sp)
		// The client's UDP checksum may be left to veth's offload; zero
		// means "none" for UDP over IPv4 (RFC 768).
		f[40], f[41] = 0, 0
		if got := p.Send(fs[:1]); got != 1 {
			t.Fatalf("Send accepted %d", got)
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		k, err := c.Read(reply)
		if err != nil || !bytes.Equal(reply[:k], marker) {
			t.Fatalf("reply %q, %v; want %q", reply[:k], err, marker)
		}
	}
}

// TestPortFrameOwnership: Release and Send refuse frames the port did not
// lend (and count them), so a double release cannot corrupt the UMEM.
func TestPortFrameOwnership(t *testing.T) {
	dptest.RequireRoot(t)
	lab := dptest.NewVethLab(t, nil)
	p := openIn(t, lab.Server.NS, DefaultOptions(lab.Server.If))
	fs := make([]dataplane.Frame, 2)
	if p.Alloc(fs) != 2 {
		t.Fatal("Alloc failed")
	}
	free := len(p.free)
	p.Release(fs[:1])
	p.Release(fs[:1]) // double release
	if got := p.Counters().BadFrames; got != 1 {
		t.Errorf("BadFrames %d after a double release, want 1", got)
	}
	if len(p.free) != free+1 {
		t.Errorf("free stack grew by %d, want 1", len(p.free)-free)
	}
	fs[0].Len = 60
	if got := p.Send(fs[:1]); got != 0 {
		t.Errorf("Send of a released frame accepted %d", got)
	}
	bogus := []dataplane.Frame{{Handle: 1 << 40, Len: 60}, {Handle: 3, Len: 60}, {Handle: fs[1].Handle, Off: 10, Len: DefaultFrameSize}}
	for i := range bogus {
		if got := p.Send(bogus[i : i+1]); got != 0 {
			t.Errorf("Send of bogus frame %d accepted", i)
		}
	}
	if got := p.Counters().BadFrames; got != 5 {
		t.Errorf("BadFrames %d, want 5", got)
	}
	p.Release(fs[1:2])
}

// TestPortCloseDetaches: Close detaches the port's own program, twice is
// harmless, and afterwards Recv returns nothing and Stats the final values.
func TestPortCloseDetaches(t *testing.T) {
	dptest.RequireRoot(t)
	lab := dptest.NewVethLab(t, nil)
	var p *Port
	if err := lab.Server.NS.Do(func() error {
		var err error
		p, err = Open(DefaultOptions(lab.Server.If))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	id, _, err := lab.Server.XDPProgID()
	if err != nil || id == 0 {
		t.Fatalf("no program attached after Open: id %d, %v", id, err)
	}
	if name := progName(id); name != steerProgName {
		t.Errorf("attached program %q, want %q", name, steerProgName)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if id, _, _ := lab.Server.XDPProgID(); id != 0 {
		t.Errorf("program %d still attached after Close", id)
	}
	fs := make([]dataplane.Frame, 4)
	if p.Recv(fs) != 0 || p.Alloc(fs) != 0 || p.Send(fs) != 0 {
		t.Error("port usable after Close")
	}
	p.Release(fs)
	p.Wait(time.Second) // returns at once
	if s := p.Stats(); s.Mode != "native" {
		t.Errorf("final stats %+v", s)
	}
	// The queue is free again: a new port binds it.
	openIn(t, lab.Server.NS, DefaultOptions(lab.Server.If))
}

// TestPortWait: Wait returns on traffic, on timeout and on Close.
func TestPortWait(t *testing.T) {
	dptest.RequireRoot(t)
	lab := dptest.NewVethLab(t, nil)
	p := openIn(t, lab.Server.NS, DefaultOptions(lab.Server.If))
	start := time.Now()
	p.Wait(50 * time.Millisecond)
	if d := time.Since(start); d < 40*time.Millisecond || d > time.Second {
		t.Errorf("Wait(50ms) took %v", d)
	}
	c := udpFrom(t, lab.Client.NS, "udp4", dptest.ServerAddr4.Addr().String(), 1701)
	go func() {
		time.Sleep(20 * time.Millisecond)
		c.Write([]byte("wake"))
	}()
	start = time.Now()
	p.Wait(5 * time.Second)
	if d := time.Since(start); d > time.Second {
		t.Errorf("Wait did not return on traffic: %v", d)
	}
	if len(recvN(p, 1, time.Second)) != 1 {
		t.Error("no frame after Wait")
	}

	done := make(chan time.Duration)
	go func() {
		start := time.Now()
		p.Wait(10 * time.Second)
		done <- time.Since(start)
	}()
	time.Sleep(50 * time.Millisecond)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-done:
		if d > 2*time.Second {
			t.Errorf("Wait returned %v after Close", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake Wait")
	}
}
