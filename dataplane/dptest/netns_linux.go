package dptest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// netnsDir is where iproute2 and vishvananda/netns keep named namespaces,
// so `ip netns exec NAME ...` works on ours while a test runs.
const netnsDir = "/var/run/netns"

// Netns is a named network namespace created by a test.
type Netns struct {
	Name   string         // name under /var/run/netns (for `ip netns exec`)
	handle netns.NsHandle // open fd of the namespace
}

// RandomSuffix returns n random hex characters, so that labs of tests that
// run in parallel (or in several packages at once) never share a name.
func RandomSuffix(n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // cannot happen on Linux
	}
	return hex.EncodeToString(b)[:n]
}

// NewNetns creates a named network namespace. The caller owns it and must
// Delete it (NewVethLab does so in t.Cleanup).
func NewNetns(name string) (*Netns, error) {
	type result struct {
		h   netns.NsHandle
		err error
	}
	res := make(chan result, 1)
	go func() {
		// netns.NewNamed unshares the calling thread into the new namespace.
		// This goroutine stays locked and exits, so the runtime destroys the
		// thread instead of reusing it in the wrong namespace.
		runtime.LockOSThread()
		h, err := netns.NewNamed(name)
		res <- result{h, err}
	}()
	r := <-res
	if r.err != nil {
		return nil, fmt.Errorf("create netns %s: %w", name, r.err)
	}
	return &Netns{Name: name, handle: r.h}, nil
}

// NewPrivateNetns creates an unnamed network namespace with lo up. It
// lives as long as its fd (and whatever sockets were created in it), so
// nothing outlives the process even when it is killed without running its
// cleanups (as fuzzing workers are). `ip netns exec` cannot enter it.
func NewPrivateNetns() (*Netns, error) {
	type result struct {
		h   netns.NsHandle
		err error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies in the new namespace
		h, err := netns.New()
		res <- result{h, err}
	}()
	r := <-res
	if r.err != nil {
		return nil, fmt.Errorf("create private netns: %w", r.err)
	}
	n := &Netns{handle: r.h}
	err := n.Do(func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	})
	if err != nil {
		n.handle.Close()
		return nil, fmt.Errorf("private netns: lo up: %w", err)
	}
	return n, nil
}

// Handle returns the namespace's fd handle (owned by n; do not close it).
func (n *Netns) Handle() netns.NsHandle { return n.handle }

// Do runs fn on a fresh OS thread inside the namespace and returns its
// error. Sockets, netlink handles and AF_XDP ports created by fn belong to
// the namespace for their whole life and may be used from any goroutine
// afterwards. Goroutines that fn starts do NOT run in the namespace. fn
// must not call t.Fatal (it runs on another goroutine).
func (n *Netns) Do(fn func() error) error { return Do(n.handle, fn) }

// Do runs fn on a fresh OS thread that has entered the namespace ns. The
// thread is locked and never unlocked, so it is destroyed when fn returns:
// no goroutine can ever be scheduled on a thread left in the wrong
// namespace, even when fn panics.
func Do(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer func() {
			if r := recover(); r != nil {
				errc <- fmt.Errorf("panic in netns: %v", r)
			}
		}()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Delete closes the namespace's fd and removes its name. The kernel frees
// the namespace once nothing (socket, process, fd) refers to it any more.
func (n *Netns) Delete() error {
	var errs []error
	if n.handle.IsOpen() {
		if err := n.handle.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close netns %s: %w", n.Name, err))
		}
	}
	if n.Name == "" {
		return errors.Join(errs...) // private: nothing named to remove
	}
	if err := netns.DeleteNamed(n.Name); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("delete netns %s: %w", n.Name, err))
	}
	return errors.Join(errs...)
}

// Exists reports whether the namespace's name is still present.
func (n *Netns) Exists() bool {
	if n.Name == "" {
		return n.handle.IsOpen()
	}
	_, err := os.Stat(filepath.Join(netnsDir, n.Name))
	return err == nil
}
