package l2tptest

import (
	"os/exec"
	"strings"
	"testing"
)

// TsharkFields dissects the capture at path with Wireshark's tshark, the
// independent dissector sluice's tests check frames against, and returns
// one row per packet: each named field's value, every occurrence joined by
// ",". args go before the field list (preferences such as "-o",
// "esp.enable_encryption_decode:TRUE"). tshark runs with an empty HOME, so
// no personal preferences apply, and is required as RequireTool says.
func TsharkFields(tb testing.TB, path string, fields []string, args ...string) []map[string]string {
	tb.Helper()
	tshark := RequireTool(tb, "tshark")
	all := append([]string{"-n", "-r", path, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,", "-E", "separator=\t"}, args...)
	for _, f := range fields {
		all = append(all, "-e", f)
	}
	cmd := exec.Command(tshark, all...)
	cmd.Env = append(cmd.Environ(), "HOME="+tb.TempDir())
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		tb.Fatalf("tshark: %v\n%s", err, msg)
	}
	text := strings.TrimRight(string(out), "\n")
	if text == "" {
		return nil
	}
	var rows []map[string]string
	for _, line := range strings.Split(text, "\n") {
		cols := strings.Split(line, "\t")
		row := make(map[string]string, len(fields))
		for i, f := range fields {
			if i < len(cols) {
				row[f] = cols[i]
			}
		}
		rows = append(rows, row)
	}
	return rows
}
