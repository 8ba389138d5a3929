package config

import (
	"go/build"
	"strings"
	"testing"
)

// Package config sits under control/ but is read by cmd/sluice's shell and
// the API too: it may import only the standard library, yaml.v3 and ipsec
// (for SASpec and keys), never dataplane or the rest of control.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		switch {
		case !strings.Contains(first, "."): // standard library
		case imp == "gopkg.in/yaml.v3", imp == "github.com/sluicenet/sluice/ipsec":
		default:
			t.Errorf("config imports %s", imp)
		}
	}
}
