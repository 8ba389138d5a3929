package dptest

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// TestOpenTun: the device is up in its namespace only, the kernel routes a
// datagram into it as one bare IPv4 packet, and Close both wakes a blocked
// Read and removes the link.
func TestOpenTun(t *testing.T) {
	RequireRoot(t)
	ns, err := NewPrivateNetns()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Delete()
	name := "sltun" + RandomSuffix(6)
	tun, err := OpenTun(ns, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.InterfaceByName(name); err == nil {
		t.Fatalf("%s visible in the test's own namespace", name)
	}
	local, remote := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddrPort("192.0.2.2:9")
	var udp *net.UDPConn
	if err := ns.Do(func() error {
		link, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		if link.Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("%s is not up", name)
		}
		if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: netlink.NewIPNet(local.AsSlice())}); err != nil {
			return err
		}
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index,
			Dst: &net.IPNet{IP: remote.Addr().AsSlice(), Mask: net.CIDRMask(32, 32)}}); err != nil {
			return err
		}
		udp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: local.AsSlice()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	payload := []byte("sluice dptest tun")
	if _, err := udp.WriteToUDPAddrPort(payload, remote); err != nil {
		t.Fatalf("send: %v", err)
	}
	buf := make([]byte, 2048)
	if err := tun.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatalf("SetReadDeadline (not on the poller?): %v", err)
	}
	for {
		n, err := tun.Read(buf)
		if err != nil {
			t.Fatalf("the datagram did not reach the TUN device: %v", err)
		}
		ip := buf[:n]
		if n >= 28 && ip[0]>>4 == 4 && ip[9] == 17 && netip.AddrFrom4([4]byte(ip[16:20])) == remote.Addr() {
			if got := ip[int(ip[0]&15)*4+8:]; !bytes.Equal(got, payload) {
				t.Errorf("got payload %q, want %q", got, payload)
			}
			break
		}
	}

	_ = tun.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() { _, err := tun.Read(buf); errc <- err }()
	time.Sleep(50 * time.Millisecond)
	tun.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("Read after Close: got %v, want os.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not wake the blocked Read")
	}
	if err := ns.Do(func() error {
		_, err := netlink.LinkByName(name)
		return err
	}); err == nil {
		t.Errorf("%s left behind after Close", name)
	}
}

// TestPacketSocketRecvAny: a capture sees the frames its host sends,
// flagged outgoing, and those it receives; Recv sees only the latter. (The
// kernel never loops a packet socket's own frames back to it, so the
// capture is a socket of its own, as a tap on a namespace's traffic is.)
func TestPacketSocketRecvAny(t *testing.T) {
	RequireRoot(t)
	lab := NewVethLab(t, nil)
	srv := packetSocket(t, lab.Server)
	cli := packetSocket(t, lab.Client)
	capture := packetSocket(t, lab.Client)
	frame := func(dst, src net.HardwareAddr, text string) []byte {
		f := make([]byte, 60)
		copy(f, dst)
		copy(f[6:], src)
		f[12], f[13] = 0x88, 0xb5 // IEEE 802 local experimental: no stack answers it
		copy(f[14:], text)
		return f
	}
	toSrv := frame(lab.Server.MAC, lab.Client.MAC, "client to server")
	toCli := frame(lab.Client.MAC, lab.Server.MAC, "server to client")
	if err := cli.Send(toSrv); err != nil {
		t.Fatalf("client send: %v", err)
	}
	if err := srv.Send(toCli); err != nil {
		t.Fatalf("server send: %v", err)
	}
	buf := make([]byte, 2048)
	var sawOut, sawIn bool
	for !sawOut || !sawIn {
		n, out, err := capture.RecvAny(buf, 2*time.Second)
		if err != nil {
			t.Fatalf("capture on the client: %v (outgoing seen %v, incoming seen %v)", err, sawOut, sawIn)
		}
		switch {
		case bytes.Equal(buf[:n], toSrv):
			if !out {
				t.Error("the client's own frame was not flagged outgoing")
			}
			sawOut = true
		case bytes.Equal(buf[:n], toCli):
			if out {
				t.Error("the server's frame was flagged outgoing")
			}
			sawIn = true
		}
	}
	// Recv on the client's capture: the client's own frame skipped, the
	// server's received.
	if err := cli.Send(toSrv); err != nil {
		t.Fatalf("client send: %v", err)
	}
	if err := srv.Send(toCli); err != nil {
		t.Fatalf("server send: %v", err)
	}
	for {
		n, err := capture.Recv(buf, 2*time.Second)
		if err != nil {
			t.Fatalf("the client did not receive the server's frame: %v", err)
		}
		if bytes.Equal(buf[:n], toSrv) {
			t.Fatal("Recv returned a frame the host sent")
		}
		if bytes.Equal(buf[:n], toCli) {
			break
		}
	}
	if _, _, err := capture.RecvAny(buf, 0); !errors.Is(err, ErrTimeout) {
		t.Errorf("RecvAny with no time left: got %v, want ErrTimeout", err)
	}
}

// packetSocket opens a PacketSocket on e's interface, closed in t.Cleanup
// (before the lab's teardown, which was registered first).
func packetSocket(t *testing.T, e End) *PacketSocket {
	t.Helper()
	s, err := OpenPacketSocket(e.NS, e.If)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
