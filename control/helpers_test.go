package control

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sluicenet/sluice/control/config"
	"github.com/sluicenet/sluice/control/controltest"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/mem"
)

// Thin names for the shared lab helpers (control/controltest).
var (
	boxAddr       = controltest.BoxAddr
	clientAddr    = controltest.ClientAddr
	keyHex        = controltest.KeyHex
	mustKey       = controltest.MustKey
	labYAML       = controltest.LabYAML
	clientSA      = controltest.ClientSA
	ethHdr        = controltest.EthHdr
	l2tpData      = controltest.L2TPData
	udpPacket     = controltest.UDPPacket
	espFrame      = controltest.ESPFrame
	l2tpOverESP   = controltest.L2TPOverESP
	cleartextL2TP = controltest.CleartextL2TP
	inject        = controltest.Inject
	waitFor       = controltest.WaitFor
)

func mustTree(t testing.TB, text string) *config.Tree {
	t.Helper()
	tr, err := config.Parse([]byte(text), config.FormatAuto)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	return tr
}

// rigWorkers returns a dataplane with one worker per mem port.
func rigWorkers(n int) (*dataplane.Dataplane, []*mem.Port) {
	dp := dataplane.New()
	ports := make([]*mem.Port, n)
	for i := range ports {
		ports[i] = mem.New(mem.Options{Name: "eth0", Queue: i, Frames: 4096})
		dp.AddWorker(dataplane.WorkerOptions{Port: ports[i], CPU: -1, IdleWait: time.Millisecond})
	}
	return dp, ports
}

// fakeTimers is an Options.AfterFunc whose timers fire only when the test
// says so.
type fakeTimers struct {
	mu     sync.Mutex
	timers []*fakeTimer
}

type fakeTimer struct {
	d       time.Duration
	f       func()
	stopped bool
}

func (ft *fakeTimers) AfterFunc(d time.Duration, f func()) Stopper {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	t := &fakeTimer{d: d, f: f}
	ft.timers = append(ft.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool { was := !t.stopped; t.stopped = true; return was }

// fire runs timer i's function as the runtime would (even if stopped: a
// real timer may fire just as it is stopped, and the controller must
// ignore a stale one).
func (ft *fakeTimers) fire(i int) {
	ft.mu.Lock()
	f := ft.timers[i].f
	ft.mu.Unlock()
	f()
}

// logBuffer is a slog JSON handler writing to a buffer, for checking what
// is logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
