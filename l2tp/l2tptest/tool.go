package l2tptest

import (
	"os"
	"os/exec"
	"testing"
)

// RequireTool returns the path of the named program (a name looked up in
// PATH, or an absolute path): an external peer or oracle a test runs. A
// missing one skips the test on a developer machine and fails it in CI
// (CI=true), which installs it.
func RequireTool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s missing (CI installs it: make deps)", name)
		}
		tb.Skipf("%s missing", name)
	}
	return p
}
