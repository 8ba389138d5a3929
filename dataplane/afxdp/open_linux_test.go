package afxdp

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/dataplane/dptest"
)

// TestPortZeroCopy: veth has no zero-copy AF_XDP, so ZeroCopyRequire fails
// with ErrNotSupported and the default runs in copy mode. (Should a future
// kernel give veth zero-copy, the test accepts that and says so.)
func TestPortZeroCopy(t *testing.T) {
	dptest.RequireRoot(t)
	lab := dptest.NewVethLab(t, nil)
	o := DefaultOptions(lab.Server.If)
	o.ZeroCopy = ZeroCopyRequire
	err := lab.Server.NS.Do(func() error {
		p, err := Open(o)
		if err == nil {
			t.Logf("veth offers zero-copy AF_XDP on this kernel")
			if !p.ZeroCopy() {
				t.Error("ZeroCopyRequire gave a copy-mode socket")
			}
			return p.Close()
		}
		return err
	})
	if err != nil && !errors.Is(err, ErrNotSupported) {
		t.Errorf("ZeroCopyRequire on veth: %v, want ErrNotSupported", err)
	}
	if id, _, _ := lab.Server.XDPProgID(); id != 0 {
		t.Errorf("failed Open left program %d attached", id)
	}
	o.ZeroCopy = ZeroCopyOff
	p := openIn(t, lab.Server.NS, o)
	if p.ZeroCopy() || p.Stats().ZeroCopy {
		t.Error("ZeroCopyOff gave a zero-copy socket")
	}
}

// TestOpenErrors: the conditions the daemon refuses to start on are told
// apart by sentinel errors.
func TestOpenErrors(t *testing.T) {
	dptest.RequireRoot(t)
	lab := dptest.NewVethLab(t, nil)
	open := func(o Options) error {
		return lab.Server.NS.Do(func() error {
			p, err := Open(o)
			if err == nil {
				p.Close()
			}
			return err
		})
	}
	if err := open(DefaultOptions("nonexistent0")); !errors.Is(err, ErrNoInterface) {
		t.Errorf("missing interface: %v, want ErrNoInterface", err)
	}
	o := DefaultOptions(lab.Server.If)
	o.Queue = 3
	if err := open(o); err == nil || !strings.Contains(err.Error(), "has 1 queues") {
		t.Errorf("queue 3 of a 1-queue veth: %v", err)
	}
	o = DefaultOptions(lab.Server.If)
	o.FrameSize = 3000
	if err := open(o); err == nil {
		t.Error("frame size 3000 accepted")
	}
	// Without CAP_NET_RAW no AF_XDP socket.
	err := dptest.DoWithCapabilities(lab.Server.NS, []int{capNetAdmin, capBPF, capIPCLock}, func() error {
		p, err := Open(DefaultOptions(lab.Server.If))
		if err == nil {
			p.Close()
		}
		return err
	})
	if !errors.Is(err, ErrPermission) {
		t.Errorf("without CAP_NET_RAW: %v, want ErrPermission", err)
	}
	if id, _, _ := lab.Server.XDPProgID(); id != 0 {
		t.Errorf("failed Open left program %d attached", id)
	}
}

// TestOpenWithMinimalCapabilities proves that CAP_NET_ADMIN, CAP_NET_RAW,
// CAP_BPF and CAP_IPC_LOCK are enough to run a port (the daemon's
// systemd unit can grant just these).
func TestOpenWithMinimalCapabilities(t *testing.T) {
	dptest.RequireRoot(t)
	lab := dptest.NewVethLab(t, nil)
	c := udpFrom(t, lab.Client.NS, "udp4", dptest.ServerAddr4.Addr().String(), 4500)
	err := dptest.DoWithCapabilities(lab.Server.NS, []int{capNetAdmin, capNetRaw, capBPF, capIPCLock}, func() error {
		if err := CheckSupport(lab.Server.If); err != nil {
			return fmt.Errorf("CheckSupport: %w", err)
		}
		p, err := Open(DefaultOptions(lab.Server.If))
		if err != nil {
			return err
		}
		defer p.Close()
		c.Write([]byte("minimal"))
		if len(recvN(p, 1, 2*time.Second)) != 1 {
			return errors.New("nothing received")
		}
		return p.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}
