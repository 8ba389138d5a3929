package config

import (
	"os"
	"strings"
	"testing"
)

// Fuzz targets: parsing any text never panics; an error is always a
// PathError (so the shell and API can place it); a text that parses
// validates without panicking, and renders in every format to a text that
// parses back to an equal tree. Seeds: testdata/fuzz/<target>/ and below.

func fuzzSeeds(f *testing.F) {
	f.Helper()
	for _, name := range []string{"testdata/sluice.yaml", "testdata/lab.yaml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
		tr, err := Parse(b, FormatAuto)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(tr.Curly(Revealed)))
		f.Add(strings.Join(tr.Commands(Revealed), "\n"))
	}
	f.Add(seedFile)
	f.Add(seedFragment)
	f.Add("firewall { name X { rule 1 { ipsec { match-ipsec-in } description \"a \\\"b\\\" c\" } } }")
	f.Add("firewall:\n  name:\n    X:\n      rule:\n        1: {ipsec: {match-ipsec: null}, disable: }\n")
}

func reparse(t *testing.T, text string, f Format) {
	tr, err := Parse([]byte(text), f)
	if err != nil {
		if len(PathErrors(err)) == 0 {
			t.Fatalf("error is not a PathError: %v", err)
		}
		return
	}
	_, _ = tr.Config()
	_ = tr.String()
	renders := map[Format][]byte{
		FormatCurly:    tr.Curly(Revealed),
		FormatYAML:     tr.YAML(Revealed),
		FormatCommands: []byte(strings.Join(tr.Commands(Revealed), "\n")),
	}
	for g, out := range renders {
		back, err := Parse(out, g)
		if err != nil {
			t.Fatalf("%v rendering does not parse: %v\n--- input:\n%q\n--- rendering:\n%s", g, err, text, out)
		}
		if !Equal(tr, back) {
			t.Fatalf("%v rendering parses to another tree: %v\n--- input:\n%q\n--- rendering:\n%s", g, Diff(tr, back), text, out)
		}
	}
}

func FuzzParseCurly(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, text string) { reparse(t, text, FormatCurly) })
}

func FuzzParseYAML(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, text string) { reparse(t, text, FormatYAML) })
}

// FuzzEdit drives Set, Delete, Complete and Help with arbitrary command
// paths: none may panic, and the tree must keep rendering to itself.
func FuzzEdit(f *testing.F) {
	f.Add("set firewall name X rule 10 action accept\ndelete firewall name X rule 10\nset interfaces eth0 address ::1")
	f.Add("set ipsec sa a spi 0x1000\ndelete ipsec sa a spi 0x00001000\nset l2tp static tunnel 1 session 2 peer-session 3")
	f.Fuzz(func(t *testing.T, script string) {
		tr := New()
		for _, line := range strings.Split(script, "\n") {
			ws := strings.Fields(line)
			if len(ws) == 0 {
				continue
			}
			_ = tr.Complete(ws)
			_ = Help(ws)
			switch ws[0] {
			case "set":
				_ = tr.Set(ws[1:])
			case "delete":
				_ = tr.Delete(ws[1:])
			}
		}
		reparse(t, string(tr.Curly(Revealed)), FormatCurly)
	})
}
