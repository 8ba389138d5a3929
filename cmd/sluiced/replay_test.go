package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicenet/sluice/l2tp/l2tptest"
)

const corpus = "testdata/replay"

// runReplay runs `sluiced replay` on the scapy-built corpus and returns the
// paths of its outputs.
func runReplay(t *testing.T, cfg string) (dir string) {
	t.Helper()
	dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"replay", "--config", cfg, "--in", filepath.Join(corpus, "in.pcap"),
		"--out", filepath.Join(dir, "tx.pcap"), "--deliver", filepath.Join(dir, "deliver.pcap"),
		"--punt", filepath.Join(dir, "punt.pcap"), "--stats", filepath.Join(dir, "stats.json")}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("sluiced replay exited %d: %s", code, stderr.String())
	}
	return dir
}

func readJSON(t *testing.T, path string) any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// TestReplayMatchesScapyOracle replays the corpus make_corpus.py built with
// scapy and compares every output with what scapy and the scenario's design
// say (not with an earlier run of sluice): the counters document, the inner
// packets delivered (decrypted by scapy) and the packets punted, byte for
// byte.
func TestReplayMatchesScapyOracle(t *testing.T) {
	dir := runReplay(t, filepath.Join(corpus, "config.yaml"))
	got, want := readJSON(t, filepath.Join(dir, "stats.json")), readJSON(t, filepath.Join(corpus, "expected-stats.json"))
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("stats differ from the oracle:\n got %s\nwant %s", g, w)
	}
	for _, f := range []string{"deliver", "punt"} {
		g, err := os.ReadFile(filepath.Join(dir, f+".pcap"))
		if err != nil {
			t.Fatal(err)
		}
		w, err := os.ReadFile(filepath.Join(corpus, "expected-"+f+".pcap"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(g, w) {
			t.Errorf("%s.pcap differs from expected-%s.pcap (scapy's decryption)", f, f)
		}
	}
}

// TestReplayDeterministic runs the replay twice and wants identical outputs.
func TestReplayDeterministic(t *testing.T) {
	a, b := runReplay(t, filepath.Join(corpus, "config.yaml")), runReplay(t, filepath.Join(corpus, "config.yaml"))
	for _, f := range []string{"tx.pcap", "deliver.pcap", "punt.pcap", "stats.json"} {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, f))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs", f)
		}
	}
}

// TestReplayOutputDissectsInTshark has tshark, an independent dissector,
// read the delivered inner packets: every one must be IPv4/UDP/L2TP.
func TestReplayOutputDissectsInTshark(t *testing.T) {
	l2tptest.RequireTool(t, "tshark")
	dir := runReplay(t, filepath.Join(corpus, "config.yaml"))
	rows := l2tptest.TsharkFields(t, filepath.Join(dir, "deliver.pcap"), []string{"frame.protocols", "l2tp.tunnel", "l2tp.session"})
	if len(rows) != 22 {
		t.Fatalf("tshark read %d packets, want 22: %v", len(rows), rows)
	}
	for _, r := range rows {
		if !strings.HasPrefix(r["frame.protocols"], "raw:ip:udp:l2tp") || r["l2tp.tunnel"] == "" || r["l2tp.session"] == "" {
			t.Errorf("tshark dissected %v, want raw:ip:udp:l2tp... with a tunnel and a session", r)
		}
	}
}

// TestReplayCorpusReproducible re-runs make_corpus.py --verify: the
// committed fixtures must be exactly what scapy builds today.
func TestReplayCorpusReproducible(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import scapy, yaml").Run(); err != nil {
		requireTool(t, "python3-scapy and python3-yaml")
		return
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	cmd := exec.Command(py, "make_corpus.py", "--verify")
	cmd.Dir = corpus
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make_corpus.py --verify: %v\n%s", err, out)
	}
}

func TestReplayErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	cfg, _ := os.ReadFile(filepath.Join(corpus, "config.yaml"))
	cfg = bytes.Replace(cfg, []byte("pair: out-client1"), []byte("pair: out-clinet1"), 1)
	if err := os.WriteFile(bad, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no args", []string{"replay"}, 2, "usage"},
		{"missing input", []string{"replay", "--config", filepath.Join(corpus, "config.yaml"), "--in", filepath.Join(dir, "nope.pcap")}, 1, "nope.pcap"},
		{"bad config names the path", []string{"replay", "--config", bad, "--in", filepath.Join(corpus, "in.pcap")}, 1, "ipsec sa in-client1 pair"},
		{"not a capture", []string{"replay", "--config", filepath.Join(corpus, "config.yaml"), "--in", filepath.Join(corpus, "config.yaml")}, 1, "capture"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr.String(), tt.code, tt.want)
			}
		})
	}
}

// requireTool skips when a tool is missing, except under CI=true where
// .ci/run installs it and its absence is a failure.
func requireTool(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing under CI=true (.ci/run installs it)", what)
	}
	t.Skipf("%s not installed", what)
}
