package l2tptest

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// fakePPPD is the stand-in pppd (see the package doc). It is embedded, not
// read from the source tree, so that tests of any package, and test
// binaries built with -trimpath or run elsewhere, find it.
//
//go:embed fake-pppd
var fakePPPD []byte

// LACName is the [lac] section of the configuration StartLAC writes: the
// name xl2tpd's control commands take ("c sluice", "d sluice").
const LACName = "sluice"

// LACHostName is the Host Name AVP xl2tpd sends in its SCCRQ.
const LACHostName = "xl2tpd-lac"

// LACOptions is what differs between the LACs of two tests.
type LACOptions struct {
	// LNS is the address xl2tpd calls, on port 1701. Required.
	LNS netip.Addr
	// Secret is the tunnel secret (l2tp-secrets, "* * secret"). With one,
	// xl2tpd sends a Challenge and checks the LNS's Challenge Response
	// (RFC 2661 section 5.1.1) and answers the LNS's Challenge; empty turns
	// tunnel authentication off ("challenge = no").
	Secret string
}

// LAC is xl2tpd running as the LAC in a test's network namespace. Its
// methods are for the test's goroutine.
type LAC struct {
	dir, ctl, log string
	cmd           *exec.Cmd
	logf          *os.File
	stopped       bool
}

// StartLAC starts xl2tpd in the named network namespace (one `ip netns
// exec` accepts) with the options o, waits for its control FIFO, and stops
// it in t.Cleanup. The caller must be root. A missing tool (xl2tpd, unshare,
// ip, /usr/bin/python3) skips the test, or fails it when CI=true.
func StartLAC(t testing.TB, netns string, o LACOptions) *LAC {
	t.Helper()
	if !o.LNS.IsValid() {
		t.Fatal("l2tptest: LACOptions.LNS is required")
	}
	xl2tpd := RequireTool(t, "xl2tpd")
	unshare := RequireTool(t, "unshare")
	ip := RequireTool(t, "ip")
	RequireTool(t, "/usr/bin/python3") // the fake pppd's interpreter
	dir := t.TempDir()
	l := &LAC{dir: dir, ctl: filepath.Join(dir, "l2tp-control"), log: filepath.Join(dir, "xl2tpd.log")}
	challenge := "no"
	if o.Secret != "" {
		challenge = "yes"
	}
	conf := fmt.Sprintf(`[global]
port = 1701
access control = no
auth file = %[1]s/l2tp-secrets

[lac %[2]s]
lns = %[3]s
autodial = no
redial = no
hostname = %[4]s
challenge = %[5]s
length bit = yes
tunnel rws = 4
require authentication = no
ppp debug = no
pppoptfile = %[1]s/options
`, dir, LACName, o.LNS, LACHostName, challenge)
	fake := filepath.Join(dir, "fake-pppd")
	for _, f := range []struct {
		name, body string
		mode       os.FileMode
	}{
		{"xl2tpd.conf", conf, 0o600},
		{"l2tp-secrets", fmt.Sprintf("* * %s\n", o.Secret), 0o600}, // them, us, secret
		{"options", "noauth\n", 0o600},
		{"fake-pppd", string(fakePPPD), 0o755},
	} {
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.body), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if l.logf, err = os.Create(l.log); err != nil {
		t.Fatal(err)
	}
	// A private mount namespace, so the bind mount over pppd is seen by this
	// xl2tpd alone; /var/run/xl2tpd gets a private tmpfs for the same reason.
	// The fake pppd runs from the temporary directory, which therefore must
	// not be on a noexec mount (TMPDIR chooses it).
	script := fmt.Sprintf(`set -e
mount --bind %s /usr/sbin/pppd
mkdir -p /var/run/xl2tpd && mount -t tmpfs tmpfs /var/run/xl2tpd
exec %s -D -c %[3]s/xl2tpd.conf -s %[3]s/l2tp-secrets -p %[3]s/xl2tpd.pid -C %[4]s`, fake, xl2tpd, dir, l.ctl)
	l.cmd = exec.Command(ip, "netns", "exec", netns, unshare, "--mount", "--propagation", "private", "sh", "-c", script)
	l.cmd.Stdout, l.cmd.Stderr = l.logf, l.logf
	// Its own process group, so that Stop reaches xl2tpd and its fake
	// pppds and nothing else.
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := l.cmd.Start(); err != nil {
		l.logf.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.Stop()
		l.logf.Close()
		if t.Failed() {
			t.Logf("xl2tpd log:\n%s", l.Log())
			ev, _ := os.ReadFile(filepath.Join(dir, "pppd-events.jsonl"))
			t.Logf("fake pppd events:\n%s", ev)
		}
	})
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(l.ctl); err == nil {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for xl2tpd control pipe %s", l.ctl)
		}
	}
	return l
}

// Stop ends xl2tpd and its fake pppds (only the process group StartLAC
// started), SIGTERM first and SIGKILL after 3 s. It is idempotent; cleanup
// calls it too. The log stays readable.
func (l *LAC) Stop() {
	if l.stopped {
		return
	}
	l.stopped = true
	_ = syscall.Kill(-l.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = l.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-l.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// Connect asks xl2tpd to place a call to the LNS: a tunnel, unless one is
// up, and a session in it.
func (l *LAC) Connect(t testing.TB) { t.Helper(); l.Command(t, "c "+LACName) }

// Disconnect asks xl2tpd to hang up: CDN and StopCCN from its side.
func (l *LAC) Disconnect(t testing.TB) { t.Helper(); l.Command(t, "d "+LACName) }

// Command writes one line to xl2tpd's control FIFO ("c sluice", "d
// sluice").
func (l *LAC) Command(t testing.TB, line string) {
	t.Helper()
	var f *os.File
	var err error
	// xl2tpd makes the FIFO before it opens it for reading; until then a
	// non-blocking open for writing fails with ENXIO.
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		f, err = os.OpenFile(l.ctl, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil || !errors.Is(err, syscall.ENXIO) || time.Now().After(end) {
			break
		}
	}
	if err != nil {
		t.Fatalf("control pipe: %v", err)
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		t.Fatalf("control pipe: %v", err)
	}
}

// Log returns what xl2tpd has logged so far (it runs with -D: its log goes
// to stderr).
func (l *LAC) Log() string {
	b, _ := os.ReadFile(l.log)
	return string(b)
}

// PPPDEvent is one line of the fake pppd's event log.
type PPPDEvent struct {
	Event string `json:"event"` // start, sent, frame, eof, terminated
	PID   int    `json:"pid"`
	FCS   string `json:"fcs"`   // frame: "ok" or "bad"
	Proto int    `json:"proto"` // frame: PPP protocol (0xc021 LCP)
	Code  *int   `json:"code"`  // frame and sent: LCP code
	Hex   string `json:"hex"`   // frame: the unescaped frame between its flags, FCS included
}

// PPPDEvents returns every event the fake pppds of this LAC logged so far,
// in order (nil before the first call).
func (l *LAC) PPPDEvents() []PPPDEvent {
	f, err := os.Open(filepath.Join(l.dir, "pppd-events.jsonl"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var evs []PPPDEvent
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e PPPDEvent
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			evs = append(evs, e)
		}
	}
	return evs
}

// PPPDEnded reports whether a fake pppd has ended, as it does when xl2tpd
// ends the call: xl2tpd closes the pty and signals pppd, and the fake logs
// "terminated" or "eof", whichever it notices first.
func (l *LAC) PPPDEnded() bool {
	for _, e := range l.PPPDEvents() {
		if e.Event == "terminated" || e.Event == "eof" {
			return true
		}
	}
	return false
}
