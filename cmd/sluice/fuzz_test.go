package main

import (
	"strings"
	"testing"
)

// FuzzSplitWords: the command-line splitter never panics, and what it
// returns re-joins, quoted, to the same words.
func FuzzSplitWords(f *testing.F) {
	for _, s := range []string{"set a b", "set description 'L2TP only'", `set x "a \"b\" c"`, "'", `"\`, "a\tb  c", "héllo 'wörld'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := splitWords(line)
		if err != nil {
			return
		}
		var quoted []string
		for _, w := range words {
			if strings.ContainsAny(w, `'" `+"\t") || w == "" {
				w = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(w) + `"`
			}
			quoted = append(quoted, w)
		}
		again, err := splitWords(strings.Join(quoted, " "))
		if err != nil || strings.Join(again, "\x00") != strings.Join(words, "\x00") || len(again) != len(words) {
			t.Fatalf("%q -> %q -> %q (%v)", line, words, again, err)
		}
	})
}
