package config

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors, wrapped in a *PathError, for the conditions callers branch
// on (the API maps them to HTTP status codes).
var (
	// ErrUnknownNode: a path or YAML key that the schema does not have.
	ErrUnknownNode = errors.New("unknown node")
	// ErrNotFound: Delete or Get of a path that is not in the tree.
	ErrNotFound = errors.New("not in the configuration")
	// ErrSyntax: text that does not parse as the format it claims to be.
	ErrSyntax = errors.New("syntax error")
)

// PathError is one problem in a configuration, with the path of the node it
// concerns and, when the tree was parsed from text, where that node was
// written. Validation returns several of them joined with errors.Join; use
// PathErrors to list them. Err never contains key material.
type PathError struct {
	Path []string // e.g. [ipsec sa in-client1 enc-key]; empty for the whole file
	Line int      // 1-based line in the source text; 0 when unknown (set by a command)
	Col  int      // 1-based column; 0 when unknown
	Err  error
}

// Error formats the problem as "line:col: path: reason", leaving out the
// parts that are unknown, so a caller can put a file name in front.
func (e *PathError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		if e.Col > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Col))
		}
		b.WriteString(": ")
	}
	if len(e.Path) > 0 {
		b.WriteString(strings.Join(e.Path, " "))
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying reason.
func (e *PathError) Unwrap() error { return e.Err }

// PathErrors lists the *PathError values inside err (one, or several joined
// with errors.Join), in order. Errors that are not PathErrors are left out.
func PathErrors(err error) []*PathError {
	var out []*PathError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if pe, ok := err.(*PathError); ok {
			out = append(out, pe)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if u := errors.Unwrap(err); u != nil {
			walk(u)
		}
	}
	walk(err)
	return out
}

// with returns a new path: p followed by more. It never shares p's array,
// so paths stored in errors cannot be overwritten by a later append.
func with(p []string, more ...string) []string {
	out := make([]string, 0, len(p)+len(more))
	return append(append(out, p...), more...)
}
