package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns a pseudo-terminal pair (Linux /dev/ptmx, pty(7)).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 50, Col: 200}); err != nil {
		t.Fatal(err)
	}
	return m, s
}

// screen collects what the shell writes to the terminal.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *screen) since(mark int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()[mark:]
}

// TestInteractiveShellOnPTY runs the sluice binary on a real terminal:
// readline's line editing, tab completion from the schema, `?` help and
// the history file, against the real API server.
func TestInteractiveShellOnPTY(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the shell with")
	}
	bin := filepath.Join(t.TempDir(), "sluice")
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	d := newDaemon(t)
	master, slave := openPTY(t)
	defer master.Close()
	history := filepath.Join(d.dir, "history")
	cmd := exec.Command(bin, "--socket", d.socket, "--history", history)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	cmd.Env = append(os.Environ(), "TERM=xterm")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := false
	defer func() {
		if !exited {
			cmd.Process.Kill()
			<-done
		}
	}()
	scr := &screen{}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			scr.Write(buf[:n])
			if err != nil {
				scr.Write([]byte(fmt.Sprintf("\n[read: %v]", err)))
				return
			}
		}
	}()
	// expect waits until want appears after mark and returns the
	// position just past it.
	expect := func(mark int, want string) int {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			if i := strings.Index(scr.since(mark), want); i >= 0 {
				return mark + i + len(want)
			}
			time.Sleep(10 * time.Millisecond)
		}
		select {
		case err := <-done:
			t.Fatalf("the shell exited (%v) before showing %q; it showed:\n%q", err, want, scr.since(0))
		default:
		}
		t.Fatalf("the terminal never showed %q; it shows:\n%q", want, scr.since(mark))
		return 0
	}
	send := func(s string) {
		t.Helper()
		if _, err := master.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}

	m := expect(0, "sluice> ")
	send("show ipsec sa\r")
	m = expect(m, "0x0000c001")
	m = expect(m, "sluice> ")
	send("show ip\t") // completes to "show ipsec "
	m = expect(m, "sec ")
	send("\x15") // Ctrl-U: clear the line
	send("configure\r")
	m = expect(m, "sluice# ")
	send("set firewall na\t")
	m = expect(m, "me ")
	send("WAN_LOCAL rule 10 ?")
	m = expect(m, "What happens to a matching packet")
	send("description 'typed after help'\r")
	m = expect(m, "sluice# ")
	send("exit\r")
	m = expect(m, "uncommitted changes")
	send("exit discard\r")
	m = expect(m, "sluice> ")
	send("exit\r")
	select {
	case err := <-done:
		exited = true
		if err != nil {
			t.Fatalf("the shell exited with %v; screen:\n%q", err, scr.since(0))
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the shell did not exit; screen:\n%q", scr.since(m))
	}
	// The help did not leave a '?' in the line: the description was set
	// on rule 10 and then discarded, so nothing was committed.
	if d.ctrl.Running().N != 1 {
		t.Fatalf("running revision %d: exit discard committed", d.ctrl.Running().N)
	}
	h, err := os.ReadFile(history)
	if err != nil || !strings.Contains(string(h), "show ipsec sa") || !strings.Contains(string(h), "configure") {
		t.Fatalf("history file: %v\n%s", err, h)
	}
}
