package dptest

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nsInode returns the inode of the calling thread's network namespace.
func nsInode(t *testing.T) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		t.Fatalf("stat own netns: %v", err)
	}
	return st.Ino
}

func TestNetnsDo(t *testing.T) {
	RequireRoot(t)
	ns, err := NewNetns("sluice-test-" + RandomSuffix(6))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := ns.Delete(); err != nil {
			t.Error(err)
		}
		if ns.Exists() {
			t.Errorf("namespace %s left behind", ns.Name)
		}
	}()
	var want unix.Stat_t
	if err := unix.Fstat(int(ns.Handle()), &want); err != nil {
		t.Fatal(err)
	}
	before := nsInode(t)
	var inside uint64
	if err := ns.Do(func() error {
		var st unix.Stat_t
		err := unix.Stat("/proc/thread-self/ns/net", &st)
		inside = st.Ino
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inside != want.Ino {
		t.Errorf("Do ran in netns inode %d, want %d", inside, want.Ino)
	}
	if inside == before {
		t.Errorf("Do ran in the caller's namespace (inode %d)", before)
	}
	if after := nsInode(t); after != before {
		t.Errorf("caller's netns changed from %d to %d", before, after)
	}
}

func TestVethLab(t *testing.T) {
	RequireRoot(t)
	var lab *VethLab
	t.Run("lab", func(t *testing.T) {
		lab = NewVethLab(t, nil)
		if !lab.Server.NS.Exists() || !lab.Client.NS.Exists() {
			t.Fatal("namespaces not created")
		}
		if _, err := os.Stat(filepath.Join(netnsDir, lab.Server.NS.Name)); err != nil {
			t.Fatalf("server namespace not visible to ip netns: %v", err)
		}
		if _, err := net.InterfaceByName(lab.Server.If); err == nil {
			t.Fatalf("%s visible in the test's own namespace", lab.Server.If)
		}
		srv, err := OpenPacketSocket(lab.Server.NS, lab.Server.If)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		cli, err := OpenPacketSocket(lab.Client.NS, lab.Client.If)
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		// A frame with a private EtherType (IEEE 802 local experimental
		// 0x88b5), so the kernel stacks ignore it and only we see it.
		frame := make([]byte, 60)
		copy(frame, lab.Server.MAC)
		copy(frame[6:], lab.Client.MAC)
		frame[12], frame[13] = 0x88, 0xb5
		copy(frame[14:], "sluice dptest")
		if err := cli.Send(frame); err != nil {
			t.Fatalf("send: %v", err)
		}
		buf := make([]byte, 2048)
		for {
			n, err := srv.Recv(buf, 2*time.Second)
			if err != nil {
				t.Fatalf("server did not receive the frame: %v", err)
			}
			if bytes.Equal(buf[:n], frame) {
				break
			}
		}
	})
	// The subtest's cleanup has run: nothing of the lab may remain.
	for _, e := range []End{lab.Server, lab.Client} {
		if e.NS.Exists() {
			t.Errorf("namespace %s left behind", e.NS.Name)
		}
		if _, err := net.InterfaceByName(e.If); err == nil {
			t.Errorf("link %s left behind", e.If)
		}
	}
}

func TestDoWithCapabilities(t *testing.T) {
	RequireRoot(t)
	ns, err := NewNetns("sluice-test-" + RandomSuffix(6))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Delete()
	var want unix.Stat_t
	if err := unix.Fstat(int(ns.Handle()), &want); err != nil {
		t.Fatal(err)
	}
	err = DoWithCapabilities(ns, []int{unix.CAP_NET_RAW}, func() error {
		var st unix.Stat_t
		if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
			return err
		}
		if st.Ino != want.Ino {
			t.Errorf("ran in netns %d, want %d", st.Ino, want.Ino)
		}
		if !HasCaps(unix.CAP_NET_RAW) {
			t.Error("CAP_NET_RAW dropped")
		}
		if HasCaps(unix.CAP_NET_ADMIN) {
			t.Error("CAP_NET_ADMIN kept")
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			t.Errorf("AF_PACKET with CAP_NET_RAW: %v", err)
		} else {
			unix.Close(fd)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The test's own threads keep their capabilities.
	if !HasCaps(unix.CAP_NET_ADMIN) {
		t.Error("capabilities leaked out of the thread")
	}
	err = WithCapabilities(nil, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	})
	if err != unix.EPERM {
		t.Errorf("AF_PACKET without capabilities: got %v, want EPERM", err)
	}
}
