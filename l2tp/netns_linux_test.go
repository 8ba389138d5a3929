package l2tp

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/sluicenet/sluice/l2tp/l2tptest"
)

// requireRoot skips a privileged test on a developer machine without root,
// and fails it in CI, which runs as root and must run it.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root; CI runs as root")
	}
	t.Skip("needs root (network namespaces, bind mounts)")
}

// sh runs a command and fails the test with its output on error.
func sh(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// veth builds two named network namespaces joined by a veth pair, with
// addresses a and b (CIDR) on either end, and removes them on cleanup.
type vethPair struct {
	nsA, nsB string
}

func newVethPair(t *testing.T, tag, a, b string) vethPair {
	t.Helper()
	l2tptest.RequireTool(t, "ip")
	p := vethPair{nsA: "sl-" + tag + "-a", nsB: "sl-" + tag + "-b"}
	ifA, ifB := "sl"+tag+"a", "sl"+tag+"b" // at most 15 bytes
	for _, ns := range []string{p.nsA, p.nsB} {
		_ = exec.Command("ip", "netns", "del", ns).Run() // a leftover from a killed run
		sh(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	sh(t, "ip", "link", "add", ifA, "netns", p.nsA, "type", "veth", "peer", "name", ifB, "netns", p.nsB)
	sh(t, "ip", "-n", p.nsA, "addr", "add", a, "dev", ifA)
	sh(t, "ip", "-n", p.nsB, "addr", "add", b, "dev", ifB)
	for _, x := range [][2]string{{p.nsA, ifA}, {p.nsB, ifB}, {p.nsA, "lo"}, {p.nsB, "lo"}} {
		sh(t, "ip", "-n", x[0], "link", "set", x[1], "up")
	}
	return p
}

// setnsNR is setns(2)'s number: the frozen syscall package lacks it on
// some architectures.
var setnsNR = map[string]uintptr{"amd64": 308, "arm64": 268, "riscv64": 268, "loong64": 268, "386": 346, "arm": 375,
	"ppc64le": 350, "ppc64": 350, "s390x": 339}[runtime.GOARCH]

// inNetns runs f on an OS thread switched into the named namespace.
// Sockets f opens stay in that namespace after the thread switches back.
func inNetns(name string, f func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := os.Open("/var/run/netns/" + name)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if _, _, e := syscall.RawSyscall(setnsNR, target.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", name, e)
	}
	ferr := f()
	if _, _, e := syscall.RawSyscall(setnsNR, orig.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
		// Leave the thread locked: the runtime discards it when the goroutine ends.
		return fmt.Errorf("setns back: %w", e)
	}
	runtime.UnlockOSThread()
	return ferr
}
