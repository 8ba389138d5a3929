package control

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sluicenet/sluice/control/config"
	"github.com/sluicenet/sluice/dataplane"
)

func TestSaveWritesRevealedYAML0600(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.yaml")
	c := NewController(dataplane.New(), Options{})
	if _, err := c.Commit(mustTree(t, labYAML(1, 2)), "alice", ""); err != nil {
		t.Fatal(err)
	}
	rev, n, err := c.Save(path, "alice")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || int(st.Size()) != n || rev.N != 1 || c.Saved() != 1 {
		t.Fatalf("saved file mode %v size %d (reported %d), revision %d", st.Mode().Perm(), st.Size(), n, rev.N)
	}
	data, _ := os.ReadFile(path)
	// The file is the source of truth: the keys are in it, in clear.
	if !bytes.Contains(data, []byte(keyHex(2))) || bytes.Contains(data, []byte("redacted")) {
		t.Fatalf("saved file does not hold the keys:\n%s", data)
	}
	tree, _, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !config.Equal(tree, c.Running().Tree) {
		t.Fatal("the saved file does not load back to the running configuration")
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(matches) != 0 {
		t.Fatalf("temporary files left: %v", matches)
	}
	if _, _, err := c.Save(filepath.Join(dir, "missing", "x.yaml"), "alice"); err == nil {
		t.Fatal("save into a missing directory succeeded")
	}
}

// TestSaveCrashBetweenWriteAndRename kills a process (SIGKILL, no cleanup)
// right after it wrote and synced the temporary file, before the rename:
// the old file must be intact and loadable, and the next save must clean
// up after the dead one.
func TestSaveCrashBetweenWriteAndRename(t *testing.T) {
	if os.Getenv("SLUICE_SAVE_CRASH_PATH") != "" {
		t.Skip("the child runs TestSaveCrashChild")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.yaml")
	oldTree := mustTree(t, labYAML(1))
	if _, err := SaveFile(path, oldTree, "old"); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(path)

	cmd := exec.Command(os.Args[0], "-test.run=^TestSaveCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), "SLUICE_SAVE_CRASH_PATH="+path)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child was not killed: %v\n%s", err, out)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL at the hook\n%s", err, out)
	}
	now, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(now, old) {
		t.Fatalf("the old file changed after a crash before rename (err %v)", err)
	}
	tree, _, err := LoadFile(path)
	if err != nil || !config.Equal(tree, oldTree) {
		t.Fatalf("the old file no longer loads to the old configuration: %v", err)
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, ".sluice.yaml.tmp-*"))
	if len(tmps) != 1 {
		t.Fatalf("want the dead save's temporary file, got %v", tmps)
	}
	if st, _ := os.Stat(tmps[0]); st.Mode().Perm() != 0o600 {
		t.Fatalf("temporary file mode %v: it holds keys", st.Mode().Perm())
	}
	// The temporary file was complete: the crash lost only the rename.
	if tmpTree, _, err := LoadFile(tmps[0]); err != nil || !config.Equal(tmpTree, mustTree(t, labYAML(1, 2))) {
		t.Fatalf("the synced temporary file is not the new configuration: %v", err)
	}
	if _, err := SaveFile(path, mustTree(t, labYAML(3)), ""); err != nil {
		t.Fatal(err)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".sluice.yaml.tmp-*")); len(tmps) != 0 {
		t.Fatalf("stale temporary files survived the next save: %v", tmps)
	}
}

// TestSaveCrashChild is the process TestSaveCrashBetweenWriteAndRename
// kills.
func TestSaveCrashChild(t *testing.T) {
	path := os.Getenv("SLUICE_SAVE_CRASH_PATH")
	if path == "" {
		t.Skip("run by TestSaveCrashBetweenWriteAndRename")
	}
	afterWrite = func(string) { _ = syscall.Kill(os.Getpid(), syscall.SIGKILL) }
	_, err := SaveFile(path, mustTree(t, labYAML(1, 2)), "new")
	t.Fatalf("SaveFile returned (%v) instead of dying at the hook", err)
}

func TestSaveHeaderIsComment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.yaml")
	if _, err := SaveFile(path, mustTree(t, labYAML(1)), "line one\nline two"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "# line one\n# line two\n") {
		t.Fatalf("header:\n%s", data)
	}
}
