package dptest

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// capSets reads the calling thread's capability sets (permitted, effective)
// as 64-bit masks. Linux capabilities are per thread; every thread of a Go
// test process normally has the same sets.
func capSets() (permitted, effective uint64, err error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, 0, fmt.Errorf("capget: %w", err)
	}
	permitted = uint64(data[0].Permitted) | uint64(data[1].Permitted)<<32
	effective = uint64(data[0].Effective) | uint64(data[1].Effective)<<32
	return permitted, effective, nil
}

// HasCaps reports whether the calling thread has every capability in caps
// (unix.CAP_NET_ADMIN, unix.CAP_BPF, ...) in its effective set.
func HasCaps(caps ...int) bool {
	_, eff, err := capSets()
	if err != nil {
		return false
	}
	for _, c := range caps {
		if eff&(1<<uint(c)) == 0 {
			return false
		}
	}
	return true
}

// RequireCaps skips the test unless the process has every capability in
// caps; under CI=true it fails instead, like RequireRoot.
func RequireCaps(tb testing.TB, caps ...int) {
	tb.Helper()
	if HasCaps(caps...) {
		return
	}
	if InCI() {
		tb.Fatalf("test needs capabilities %v (CI=true, so it may not skip)", caps)
	}
	tb.Skipf("test needs capabilities %v", caps)
}

// WithCapabilities runs fn on a fresh OS thread whose permitted and
// effective capability sets are reduced to caps, and returns fn's error.
// It proves that caps are enough (or not) for what fn does (cilium's
// testutils.WithCapabilities idea). The thread is never handed back to the
// Go scheduler: its goroutine exits while still locked, so the runtime
// destroys it together with its reduced capabilities. fn must do its work
// synchronously on the calling goroutine and must not call t.Fatal.
func WithCapabilities(caps []int, fn func() error) error {
	return DoWithCapabilities(nil, caps, fn)
}

// DoWithCapabilities is WithCapabilities inside the namespace ns (nil: the
// caller's). The thread enters ns first, since setns itself needs
// CAP_SYS_ADMIN, and drops capabilities after.
func DoWithCapabilities(ns *Netns, caps []int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Locked and never unlocked: the thread dies with this goroutine.
		runtime.LockOSThread()
		if ns != nil {
			if err := netns.Set(ns.Handle()); err != nil {
				errc <- fmt.Errorf("setns: %w", err)
				return
			}
		}
		if err := setThreadCaps(caps); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// setThreadCaps reduces the calling thread's permitted and effective sets
// to caps.
func setThreadCaps(caps []int) error {
	var mask uint64
	for _, c := range caps {
		mask |= 1 << uint(c)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(mask), Permitted: uint32(mask)},
		{Effective: uint32(mask >> 32), Permitted: uint32(mask >> 32)},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}
