package afxdp

import (
	"bufio"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/dptest"
)

// openIn opens a port inside ns and closes it in t.Cleanup (which runs
// before the lab's teardown checks that nothing is left attached).
func openIn(tb testing.TB, ns *dptest.Netns, o Options) *Port {
	tb.Helper()
	var p *Port
	if err := ns.Do(func() error {
		var err error
		p, err = Open(o)
		return err
	}); err != nil {
		tb.Fatalf("open %s queue %d: %v", o.Ifname, o.Queue, err)
	}
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Errorf("close port: %v", err)
		}
	})
	return p
}

// loadIn loads a program and attaches it inside ns (unless mode is
// ModeAuto and attach is false), closing it in t.Cleanup.
func loadIn(tb testing.TB, ns *dptest.Netns, ifname string, po ProgramOptions, attach bool, mode Mode) *Program {
	tb.Helper()
	prog, err := LoadProgram(po)
	if err != nil {
		tb.Fatalf("load program: %v", err)
	}
	tb.Cleanup(func() {
		if err := prog.Close(); err != nil {
			tb.Errorf("close program: %v", err)
		}
	})
	if attach {
		if err := ns.Do(func() error { return prog.Attach(ifname, mode) }); err != nil {
			tb.Fatalf("attach: %v", err)
		}
	}
	return prog
}

// recvN receives until n frames arrived or timeout passed, copying each
// frame's bytes, and releases the frames.
func recvN(p *Port, n int, timeout time.Duration) [][]byte {
	var out [][]byte
	fs := make([]dataplane.Frame, dataplane.BatchSize)
	deadline := time.Now().Add(timeout)
	for len(out) < n && time.Now().Before(deadline) {
		k := p.Recv(fs)
		for i := 0; i < k; i++ {
			out = append(out, append([]byte(nil), fs[i].Data()...))
		}
		p.Release(fs[:k])
		if k == 0 {
			p.Wait(10 * time.Millisecond)
		}
	}
	return out
}

// labelledFrame is one line of testdata/steer_frames.txt.
type labelledFrame struct {
	name  string
	steer bool
	data  []byte
}

// readLabelledFrames reads the scapy-built frames and their hand-written
// labels (see testdata/gen_steer_frames.py).
func readLabelledFrames(tb testing.TB) []labelledFrame {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", "steer_frames.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []labelledFrame
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 || (fields[0] != "steer" && fields[0] != "pass") {
			tb.Fatalf("bad line %q", sc.Text())
		}
		b, err := hex.DecodeString(fields[2])
		if err != nil {
			tb.Fatalf("%s: %v", fields[1], err)
		}
		out = append(out, labelledFrame{name: fields[1], steer: fields[0] == "steer", data: b})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(out) < 100 {
		tb.Fatalf("only %d labelled frames", len(out))
	}
	return out
}

// readFuzzCorpus reads every []byte value of the go-fuzz corpus files
// matching glob (format "go test fuzz v1").
func readFuzzCorpus(tb testing.TB, glob string) [][]byte {
	tb.Helper()
	files, _ := filepath.Glob(glob)
	var out [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(line, "[]byte(") || !strings.HasSuffix(line, ")") {
				continue
			}
			s, err := strconv.Unquote(line[len("[]byte(") : len(line)-1])
			if err != nil {
				tb.Fatalf("%s: %v", name, err)
			}
			out = append(out, []byte(s))
		}
	}
	return out
}
