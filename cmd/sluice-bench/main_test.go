package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicenet/sluice/bench"
	"github.com/sluicenet/sluice/control/config"
)

// TestPipelineCommand runs a short `sluice-bench pipeline --json --svg`:
// the JSON reads back as a report naming the CPU, every row's counters
// agree with the generator, and the SVG is well-formed XML.
func TestPipelineCommand(t *testing.T) {
	svg := filepath.Join(t.TempDir(), "plot.svg")
	var out, errOut bytes.Buffer
	err := run([]string{"pipeline", "--rounds", "1", "--round", "30ms", "--warmup", "10ms", "--sizes", "64,imix",
		"--workers", "1", "--clear", "5", "--bad-icv", "2", "--json", "--svg", svg}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	var rep bench.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out.String())
	}
	if rep.Mode != "pipeline" || rep.CPU == "" || len(rep.Rows) != 2 {
		t.Fatalf("report: mode %q, cpu %q, %d rows", rep.Mode, rep.CPU, len(rep.Rows))
	}
	for _, r := range rep.Rows {
		if !r.Exact || r.Sent["clear-data"] == 0 || r.Sent["bad-icv"] == 0 {
			t.Errorf("%s: exact %v, sent %v: %s", r.Size, r.Exact, r.Sent, r.Mismatch)
		}
	}
	f, err := os.Open(svg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("svg: %v", err)
		}
	}
	if errOut.Len() != 0 {
		t.Errorf("stderr is not a terminal, yet got %q", errOut.String())
	}
}

// TestConfigCommand: the printed config is what control/config accepts.
func TestConfigCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"config", "--sas", "3", "--sessions", "2", "--natt", "--ipv6", "--proposals", "aes256-sha256"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	tree, err := config.Parse(out.Bytes(), config.FormatYAML)
	if err != nil {
		t.Fatalf("config does not parse: %v", err)
	}
	cfg, err := tree.Config()
	if err != nil {
		t.Fatalf("config does not validate: %v", err)
	}
	if len(cfg.SAs) != 6 || len(cfg.L2TP.Static) != 3 || len(cfg.L2TP.Static[1].Sessions) != 2 {
		t.Fatalf("%d SAs, %d tunnels; want 6 and 3 with 2 sessions each", len(cfg.SAs), len(cfg.L2TP.Static))
	}
}

func TestCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"warp"}, "unknown mode"},
		{[]string{"pipeline", "--mix", "junk=200"}, "want 0 to 100"},
		{[]string{"pipeline", "--sizes", "9000"}, "1500"},
		{[]string{"pipeline", "--proposals", "des"}, "unknown proposal"},
		{[]string{"pipeline", "--proposals", "aes128-sha1", "--replay-window", "64"}, "AES-GCM"},
		{[]string{"pipeline", "--rounds", "0"}, "rounds"},
		{[]string{"pipeline", "extra"}, "unexpected arguments"},
	} {
		err := run(tc.args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
	if os.Geteuid() != 0 {
		if err := run([]string{"afxdp"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "root") {
			t.Errorf("afxdp as non-root: %v", err)
		}
	}
}
