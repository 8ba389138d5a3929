package afxdp

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/dataplane/dptest"
)

func TestCheckSupport(t *testing.T) {
	dptest.RequireRoot(t)
	lab := dptest.NewVethLab(t, nil)
	cases := []struct {
		name string
		caps []int // nil: all of root's
		ifn  string
		want error
	}{
		{"ok", nil, lab.Server.If, nil},
		{"no-interface", nil, "nonexistent0", ErrNoInterface},
		{"minimal-caps", []int{capNetAdmin, capNetRaw, capBPF}, lab.Server.If, nil},
		{"no-net-raw", []int{capNetAdmin, capBPF, capSysAdmin}, lab.Server.If, ErrPermission},
		{"no-bpf", []int{capNetAdmin, capNetRaw}, lab.Server.If, ErrPermission},
		{"no-net-admin", []int{capNetRaw, capBPF}, lab.Server.If, ErrPermission},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			check := func() error { return CheckSupport(tc.ifn) }
			var err error
			if tc.caps == nil {
				err = lab.Server.NS.Do(check)
			} else {
				err = dptest.DoWithCapabilities(lab.Server.NS, tc.caps, check)
			}
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
			if err != nil {
				t.Logf("message: %v", err)
			}
		})
	}
}

func TestQueueCount(t *testing.T) {
	dptest.RequireRoot(t)
	for _, queues := range []int{1, 3} {
		lab := dptest.NewVethLab(t, &dptest.VethOptions{Queues: queues})
		var got int
		if err := lab.Server.NS.Do(func() error {
			var err error
			got, err = QueueCount(lab.Server.If)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got != queues {
			t.Errorf("QueueCount of a %d-queue veth: %d", queues, got)
		}
	}
	if _, err := QueueCount("nonexistent0"); !errors.Is(err, ErrNoInterface) {
		t.Errorf("QueueCount of a missing interface: %v, want ErrNoInterface", err)
	}
}

func TestQueueCountSysfs(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"rx-0", "rx-1", "rx-2", "tx-0", "tx-1"} {
		if err := os.MkdirAll(filepath.Join(root, "eth9", "queues", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "empty", "queues"), 0o755); err != nil {
		t.Fatal(err)
	}
	if n, err := queueCountSysfs(root, "eth9"); n != 3 || err != nil {
		t.Errorf("got %d, %v; want 3", n, err)
	}
	if _, err := queueCountSysfs(root, "eth8"); !errors.Is(err, ErrNoInterface) {
		t.Errorf("missing interface: %v", err)
	}
	if _, err := queueCountSysfs(root, "empty"); err == nil {
		t.Error("no rx queues accepted")
	}
}

func TestPinCPU(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		// This goroutine's thread gets pinned: lock it and never unlock,
		// so the pinned thread dies with the goroutine.
		runtime.LockOSThread()
		var orig unix.CPUSet
		if err := unix.SchedGetaffinity(0, &orig); err != nil {
			t.Error(err)
			return
		}
		last := -1
		for c := 0; c < 1024; c++ {
			if orig.IsSet(c) {
				last = c
			}
		}
		if err := PinCPU(last); err != nil {
			t.Error(err)
			return
		}
		var got unix.CPUSet
		if err := unix.SchedGetaffinity(0, &got); err != nil {
			t.Error(err)
			return
		}
		if got.Count() != 1 || !got.IsSet(last) {
			t.Errorf("affinity after PinCPU(%d): %d CPUs, cpu %d set: %v", last, got.Count(), last, got.IsSet(last))
		}
		if err := PinCPU(-1); err == nil {
			t.Error("PinCPU(-1) accepted")
		}
	}()
	<-done
}

func TestConfineThreads(t *testing.T) {
	all, err := CPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 {
		t.Fatal("CPUs: none")
	}
	t.Cleanup(func() {
		if err := ConfineThreads(all); err != nil {
			t.Error(err)
		}
	})
	if err := ConfineThreads(all[:1]); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		var tid int
		if _, err := fmt.Sscan(e.Name(), &tid); err != nil {
			continue
		}
		var got unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &got); err != nil {
			continue // ended meanwhile
		}
		if got.Count() != 1 || !got.IsSet(all[0]) {
			t.Errorf("thread %d: %d CPUs, cpu %d set: %v", tid, got.Count(), all[0], got.IsSet(all[0]))
		}
	}
	for _, bad := range [][]int{nil, {-1}, {1024}} {
		if err := ConfineThreads(bad); err == nil {
			t.Errorf("ConfineThreads(%v) accepted", bad)
		}
	}
}
