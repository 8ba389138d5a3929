package dataplane

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/sluicenet/sluice"

// TestImportBoundaries keeps the layering of ARCHITECTURE.md and STYLE.md
// (cmd → control → dataplane → {ipsec, l2tp}) from eroding: it reads the
// non-test imports of every package in the module.
func TestImportBoundaries(t *testing.T) {
	rules := []struct {
		pkgPrefix string
		forbidden []string
		why       string
	}{
		{"dataplane", []string{module + "/control", module + "/bench", module + "/cmd"}, "the control plane pushes, workers never call up"},
		{"ipsec", []string{module + "/control", module + "/dataplane", module + "/l2tp", module + "/bench", "log/slog", "net/http"}, "ipsec is a leaf: wire format and crypto only"},
		// l2tp's control protocol (server.go) takes a *slog.Logger for its
		// state transitions: control-plane code, never the hot header parser.
		{"l2tp", []string{module + "/control", module + "/dataplane", module + "/ipsec", module + "/bench", "net/http"}, "l2tp is a leaf: codec and protocol only"},
		{"control", []string{module + "/bench", module + "/cmd"}, "the control plane does not depend on tools"},
		{"cmd/sluice/", []string{module + "/dataplane", module + "/ipsec"}, "the shell is an API client"},
	}
	unixOK := []string{"dataplane/afxdp", "dataplane/dptest", "bench", "cmd"}
	root := ".."
	visited := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if n := d.Name(); n == "testdata" || strings.HasPrefix(n, ".") && path != root {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			return nil // no Go files here
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		visited++
		for _, imp := range pkg.Imports {
			for _, r := range rules {
				if !strings.HasPrefix(rel+"/", r.pkgPrefix) && rel != r.pkgPrefix {
					continue
				}
				for _, f := range r.forbidden {
					if imp == f || strings.HasPrefix(imp, f+"/") {
						t.Errorf("%s imports %s: %s", rel, imp, r.why)
					}
				}
			}
			if imp == "golang.org/x/sys/unix" {
				ok := false
				for _, p := range unixOK {
					if rel == p || strings.HasPrefix(rel, p+"/") {
						ok = true
					}
				}
				if !ok {
					t.Errorf("%s imports x/sys/unix: syscalls live in dataplane/afxdp (and test/bench tools)", rel)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if visited < 10 {
		t.Fatalf("read %d packages; the walk is broken", visited)
	}
}
