package dptest

import (
	"os"
	"testing"
)

// InCI reports whether the tests run in CI (environment CI=true), where
// privileged tests must run or fail instead of skipping.
func InCI() bool { return os.Getenv("CI") == "true" }

// RequireRoot skips the test with a reason when the process is not root,
// unless CI=true: there a privileged test that cannot run is a failure, so a
// misconfigured runner cannot silently turn the root job green.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if InCI() {
		tb.Fatalf("test needs root (CI=true, so it may not skip); run the root job with sudo")
	}
	tb.Skip("test needs root: network namespaces, veth, XDP and AF_XDP (run with sudo, or CI=true to make this a failure)")
}
