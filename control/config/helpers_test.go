package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// mustParse parses text or fails the test.
func mustParse(t testing.TB, text string, f Format) *Tree {
	t.Helper()
	tr, err := Parse([]byte(text), f)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return tr
}

func mustLoadFile(t testing.TB, name string) *Tree {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return mustParse(t, string(b), FormatAuto)
}

// cmd splits a shell command line into a path (no quoting needed in tests).
func cmd(s string) []string { return strings.Fields(s) }

// onePathError returns the only PathError in err, failing otherwise.
func onePathError(t *testing.T, err error) *PathError {
	t.Helper()
	pes := PathErrors(err)
	if len(pes) != 1 {
		t.Fatalf("got %d path errors, want 1: %v", len(pes), err)
	}
	return pes[0]
}

func isErr(err, target error) bool { return errors.Is(err, target) }
