package main

import (
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/afxdp"
)

func TestReserveCPUs(t *testing.T) {
	all, err := afxdp.CPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 2 {
		t.Skip("one CPU: none to reserve")
	}
	t.Setenv("GOMAXPROCS", "")
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() {
		runtime.GOMAXPROCS(prev)
		if err := afxdp.ConfineThreads(all); err != nil {
			t.Error(err)
		}
	})
	worker, rest := all[len(all)-1], all[:len(all)-1]
	var logged strings.Builder
	reserveCPUs(slog.New(slog.NewTextHandler(&logged, nil)), []int{worker})
	if warned := strings.Contains(logged.String(), "level=WARN"); warned != (len(rest) < minHousekeepingCPUs) {
		t.Errorf("%d CPUs left to the control plane, warned %v:\n%s", len(rest), warned, logged.String())
	}
	if got, want := runtime.GOMAXPROCS(0), dataplane.Procs(1, len(rest)); got != want {
		t.Errorf("GOMAXPROCS %d, want %d", got, want)
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	if set.IsSet(worker) || set.Count() != len(rest) {
		t.Errorf("this thread may run on %d CPUs (worker's %d: %v), want the %d others", set.Count(), worker, set.IsSet(worker), len(rest))
	}
	// Not pinned: the defaults stay.
	runtime.GOMAXPROCS(prev)
	if err := afxdp.ConfineThreads(all); err != nil {
		t.Fatal(err)
	}
	reserveCPUs(slog.New(slog.DiscardHandler), nil)
	if got := runtime.GOMAXPROCS(0); got != prev {
		t.Errorf("unpinned workers: GOMAXPROCS %d, want %d", got, prev)
	}
	if got, _ := afxdp.CPUs(); !slices.Equal(got, all) {
		t.Errorf("unpinned workers: CPUs %v, want %v", got, all)
	}
}
