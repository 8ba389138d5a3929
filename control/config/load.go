package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Format names a configuration text format.
type Format uint8

// Formats.
const (
	FormatAuto     Format = iota // detect: YAML, curly or set-commands
	FormatYAML                   // YAML (JSON too: it is YAML)
	FormatCurly                  // Vyatta/VyOS curly syntax
	FormatCommands               // "set ..." / "delete ..." lines
)

var formatNames = [...]string{"auto", "yaml", "curly", "commands"}

// String returns the format's name.
func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "format(?)"
}

// ParseFormat maps a name (auto, yaml, json, curly, commands) to a Format.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "json":
		return FormatYAML, nil
	}
	for i, n := range formatNames {
		if strings.EqualFold(s, n) {
			return Format(i), nil
		}
	}
	return FormatAuto, fmt.Errorf("unknown format %q (want auto, yaml, json, curly or commands)", printable(s))
}

// MaxText is the largest configuration text Load reads.
const MaxText = 64 << 20

// Detect guesses the format of a configuration text from its first
// significant line: "key:" (or ---, {, a YAML list) is YAML; "set ..." or
// "delete ..." is commands; anything else ("firewall {", "rule 10 {") is
// curly. Curly never starts with a "word:" because its first word must be a
// schema keyword, and no keyword ends with a colon.
func Detect(text []byte) Format {
	text = bytes.TrimPrefix(text, []byte("\xef\xbb\xbf"))
	for _, line := range strings.Split(string(text), "\n") {
		l := strings.TrimSpace(line)
		switch {
		case l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "//"):
			continue
		case strings.HasPrefix(l, "/*"):
			return FormatCurly
		case l == "---" || strings.HasPrefix(l, "--- ") || strings.HasPrefix(l, "%YAML") ||
			strings.HasPrefix(l, "{") || strings.HasPrefix(l, "- "):
			return FormatYAML
		}
		first, _, _ := strings.Cut(strings.Join(strings.Fields(l), " "), " ")
		if first == "set" || first == "delete" {
			return FormatCommands
		}
		if i := strings.Index(l, ":"); i > 0 && !strings.ContainsAny(l[:i], " \t\"'{}") &&
			(i == len(l)-1 || l[i+1] == ' ' || l[i+1] == '\t') {
			return FormatYAML
		}
		return FormatCurly
	}
	return FormatYAML // empty or only comments: an empty tree either way
}

// Load reads a whole configuration text in the given format (FormatAuto
// detects it) into a new tree. Every problem found is reported (joined
// PathErrors with line and column); on any error the tree is nil.
func Load(r io.Reader, f Format) (*Tree, error) {
	text, err := io.ReadAll(io.LimitReader(r, MaxText+1))
	if err != nil {
		return nil, err
	}
	if len(text) > MaxText {
		return nil, fmt.Errorf("configuration is larger than %d bytes", MaxText)
	}
	return Parse(text, f)
}

// Parse is Load from a byte slice.
func Parse(text []byte, f Format) (*Tree, error) { return ParseFragment(nil, text, f) }

// ParseFragment parses text as the contents of the node at path (a
// container or tag instance, e.g. [firewall name WAN_LOCAL]), so a pasted
// "rule 10 { ... }" or a YAML mapping of that node's keys lands there. The
// result is a whole tree holding path and the fragment; merge it (Merge) or
// put it in place of what was at path (Delete then Merge). Command lines in
// a fragment are relative to path, as after VyOS's `edit`.
func ParseFragment(path []string, text []byte, f Format) (*Tree, error) {
	t := New()
	at := t.root
	if len(path) > 0 {
		r, err := resolve(t.root, words(path))
		if err != nil {
			return nil, err
		}
		if r.leaf != nil || (len(r.steps) > 0 && !r.steps[len(r.steps)-1].inst && r.steps[len(r.steps)-1].s.Kind == KindTag) {
			return nil, &PathError{Path: clonePath(path), Err: errors.New("a fragment goes under a container or a named instance")}
		}
		at = create(t.root, r)
	}
	text = bytes.TrimPrefix(text, []byte("\xef\xbb\xbf"))
	if f == FormatAuto {
		f = Detect(text)
	}
	var err error
	switch f {
	case FormatYAML:
		err = parseYAML(at, text)
	case FormatCurly:
		err = parseCurly(t, at, string(text))
	case FormatCommands:
		err = parseCommands(t, at, string(text))
	default:
		err = fmt.Errorf("unknown format %d", f)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// LoadFragment parses text at path (see ParseFragment) and merges it into
// t, as `merge` at a path does. On error t is unchanged.
func (t *Tree) LoadFragment(path []string, text []byte, f Format) error {
	frag, err := ParseFragment(path, text, f)
	if err != nil {
		return err
	}
	t.Merge(frag)
	return nil
}

// parseCommands applies "set ..." and "delete ..." lines in order.
func parseCommands(t *Tree, at *node, src string) error {
	lx := newLexer(src)
	var errs []error
	for {
		ws, end, err := lx.statement()
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		if end.kind == tokOpen || end.kind == tokClose {
			return errors.Join(append(errs, lx.errAt(end.line, end.col, "braces in a command line"))...)
		}
		if len(ws) > 0 {
			switch ws[0].s {
			case "set":
				err = t.set(at, ws[1:], modeSet)
			case "delete":
				err = t.del(at, ws[1:])
			default:
				err = &PathError{Line: ws[0].line, Col: ws[0].col, Err: fmt.Errorf("%w: %q: want set or delete", ErrSyntax, printable(ws[0].s))}
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
		if end.kind == tokEOF {
			return errors.Join(errs...)
		}
	}
}
