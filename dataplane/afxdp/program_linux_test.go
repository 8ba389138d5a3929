package afxdp

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/dataplane/dptest"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger() (*slog.Logger, *syncBuffer) {
	var buf syncBuffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

// leaveAttached attaches prog to ifname in ns with raw netlink in the given
// flags and closes our handles to it, as a crashed run would: the kernel
// keeps it attached. It returns the program's id.
func leaveAttached(t *testing.T, ns *dptest.Netns, ifname string, prog *ebpf.Program, flags int) uint32 {
	t.Helper()
	info, err := prog.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	if err := ns.Do(func() error {
		l, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		return netlink.LinkSetXdpFdWithFlags(l, prog.FD(), flags)
	}); err != nil {
		t.Fatalf("attach stale program: %v", err)
	}
	prog.Close()
	return uint32(id)
}

// foreignProgram loads someone else's XDP program (passes everything).
func foreignProgram(t *testing.T) *ebpf.Program {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "foreign", Type: ebpf.XDP, License: "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, xdpPass), asm.Return()},
	})
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

// TestStaleProgramReplaced: a program left on the interface by a crashed
// run (ours, or anyone's) is replaced at start, whatever mode it runs in,
// and the replacement is logged with the old program's id and name.
func TestStaleProgramReplaced(t *testing.T) {
	dptest.RequireRoot(t)
	cases := []struct {
		name       string
		staleFlags int
		mode       Mode
		foreign    bool
	}{
		{"ours-generic-then-generic", unix.XDP_FLAGS_SKB_MODE, ModeGeneric, false},
		{"ours-generic-then-auto", unix.XDP_FLAGS_SKB_MODE, ModeAuto, false},
		{"ours-native-then-generic", unix.XDP_FLAGS_DRV_MODE, ModeGeneric, false},
		{"foreign-native-then-native", unix.XDP_FLAGS_DRV_MODE, ModeNative, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lab := dptest.NewVethLab(t, nil)
			var stale *ebpf.Program
			wantName := "foreign"
			if tc.foreign {
				stale = foreignProgram(t)
			} else {
				old, err := LoadProgram(ProgramOptions{})
				if err != nil {
					t.Fatal(err)
				}
				stale, err = old.BPF().Clone()
				if err != nil {
					t.Fatal(err)
				}
				old.Close()
				wantName = steerProgName
			}
			staleID := leaveAttached(t, lab.Server.NS, lab.Server.If, stale, tc.staleFlags)

			log, buf := testLogger()
			o := DefaultOptions(lab.Server.If)
			o.XDPMode = tc.mode
			o.Logger = log
			p := openIn(t, lab.Server.NS, o)
			id, _, err := lab.Server.XDPProgID()
			if err != nil {
				t.Fatal(err)
			}
			if id == 0 || id == staleID || progName(id) != steerProgName {
				t.Fatalf("attached program %d (%q), stale was %d", id, progName(id), staleID)
			}
			logs := buf.String()
			if !strings.Contains(logs, "replacing XDP program") || !strings.Contains(logs, "prog_name="+wantName) {
				t.Errorf("replacement not logged with the stale program's name:\n%s", logs)
			}
			if tc.mode == ModeAuto && p.Stats().Mode != "native" {
				t.Errorf("auto mode on veth gave %q", p.Stats().Mode)
			}
		})
	}
}

// TestDetachLeavesForeignProgram: if someone replaced our program, Close
// leaves theirs attached.
func TestDetachLeavesForeignProgram(t *testing.T) {
	dptest.RequireRoot(t)
	lab := dptest.NewVethLab(t, nil)
	log, buf := testLogger()
	prog, err := LoadProgram(ProgramOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Server.NS.Do(func() error { return prog.Attach(lab.Server.If, ModeGeneric) }); err != nil {
		t.Fatal(err)
	}
	theirs := foreignProgram(t)
	defer theirs.Close()
	id := leaveAttached(t, lab.Server.NS, lab.Server.If, theirs, unix.XDP_FLAGS_SKB_MODE)
	if err := prog.Close(); err != nil {
		t.Fatal(err)
	}
	got, _, err := lab.Server.XDPProgID()
	if err != nil {
		t.Fatal(err)
	}
	if got != id {
		t.Errorf("attached program %d after our Close, want theirs (%d)", got, id)
	}
	if !strings.Contains(buf.String(), "not ours any more") {
		t.Errorf("leaving a foreign program not logged:\n%s", buf.String())
	}
	// Clean up for the lab's leak check.
	if err := lab.Server.NS.Do(func() error {
		l, err := netlink.LinkByName(lab.Server.If)
		if err != nil {
			return err
		}
		return netlink.LinkSetXdpFdWithFlags(l, -1, unix.XDP_FLAGS_SKB_MODE)
	}); err != nil {
		t.Fatal(err)
	}
}

// TestSharedProgram: one program serves the ports of all queues of a
// multi-queue interface; each port registers its queue, closing a port
// unregisters it and leaves the program attached, closing the program
// detaches it.
func TestSharedProgram(t *testing.T) {
	dptest.RequireRoot(t)
	lab := dptest.NewVethLab(t, &dptest.VethOptions{Queues: 4})
	var nq int
	if err := lab.Server.NS.Do(func() error {
		var err error
		nq, err = QueueCount(lab.Server.If)
		return err
	}); err != nil || nq != 4 {
		t.Fatalf("QueueCount %d, %v; want 4", nq, err)
	}
	prog, err := LoadProgram(ProgramOptions{MaxQueues: nq})
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Server.NS.Do(func() error { return prog.Attach(lab.Server.If, ModeNative) }); err != nil {
		t.Fatal(err)
	}
	var ports []*Port
	for q := 0; q < nq; q++ {
		o := DefaultOptions(lab.Server.If)
		o.Queue, o.Program = q, prog
		o.NumFrames, o.FillRingSize, o.RxRingSize = 512, 256, 256
		var p *Port
		if err := lab.Server.NS.Do(func() error {
			var err error
			p, err = Open(o)
			return err
		}); err != nil {
			t.Fatalf("queue %d: %v", q, err)
		}
		ports = append(ports, p)
	}
	for q := 0; q < nq; q++ {
		var v uint32
		if err := prog.XDP().Queues.Lookup(uint32(q), &v); err != nil || v != 1 {
			t.Errorf("queue %d registered %d, %v", q, v, err)
		}
	}
	if err := ports[2].Close(); err != nil {
		t.Fatal(err)
	}
	var v uint32
	if err := prog.XDP().Queues.Lookup(uint32(2), &v); err != nil || v != 0 {
		t.Errorf("queue 2 still registered after Close: %d, %v", v, err)
	}
	if id, _, _ := lab.Server.XDPProgID(); id == 0 {
		t.Error("closing a port detached the shared program")
	}
	for _, p := range ports {
		p.Close()
	}
	if err := prog.Close(); err != nil {
		t.Fatal(err)
	}
	if id, _, _ := lab.Server.XDPProgID(); id != 0 {
		t.Errorf("program %d attached after Close", id)
	}
	if err := prog.Attach(lab.Server.If, ModeGeneric); !errors.Is(err, ErrClosed) {
		t.Errorf("Attach after Close: %v, want ErrClosed", err)
	}
}
