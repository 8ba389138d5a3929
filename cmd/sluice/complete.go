package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/sluicenet/sluice/control/config"
)

// opPhrases is the operational grammar for completion: words, "<what>"
// for a name the daemon knows (completed from the API), "a|b" for
// alternatives.
var opPhrases = []string{
	"show interfaces", "show ipsec sa", "show l2tp tunnel", "show l2tp session",
	"show firewall name <ruleset> statistics", "show firewall statistics",
	"show dataplane workers", "show drops", "show system commit", "show configuration commands|yaml|json|curly", "show status",
	"monitor drops", "monitor interfaces",
	"clear counters", "clear interfaces counters <interface>", "clear ipsec sa counters <sa>",
	"clear firewall name <ruleset> counters", "clear firewall counters", "clear l2tp session counters",
	"clear dataplane workers counters", "clear drops counters",
	"configure", "confirm", "exit", "help",
}

var confWords = []string{"set", "delete", "show", "compare", "commit", "commit-confirm", "confirm", "discard", "rebase",
	"save", "load", "merge", "rollback", "run", "exit", "help"}

// candidate is one completion: a word to insert (Literal) or a
// placeholder describing what the position takes, with help.
type candidate = config.Completion

// names returns what a placeholder stands for, asking the daemon.
func (sh *shell) names(what string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out []string
	switch what {
	case "<ruleset>":
		sets, _ := sh.cli.Firewall(ctx, "")
		for _, rs := range sets {
			out = append(out, rs.Name)
		}
	case "<sa>":
		sas, _ := sh.cli.SAs(ctx)
		for _, sa := range sas {
			out = append(out, sa.Name)
		}
	case "<interface>":
		ifs, _ := sh.cli.Interfaces(ctx)
		for _, it := range ifs {
			out = append(out, it.Name)
		}
	}
	return out
}

// opCandidates completes an operational command: words typed, then the
// prefix of the word being typed.
func (sh *shell) opCandidates(words []string, prefix string) []candidate {
	seen := map[string]bool{}
	var out []candidate
	add := func(c candidate) {
		if c.Literal && (!strings.HasPrefix(c.Word, prefix) || seen[c.Word]) {
			return
		}
		seen[c.Word] = true
		out = append(out, c)
	}
	for _, ph := range opPhrases {
		p := strings.Fields(ph)
		k, ok := 0, true
		// Optional trailing words make shorter phrases valid too, so match
		// the words typed against the phrase's prefix, skipping optional
		// placeholders the operator left out.
		for _, w := range words {
			if k >= len(p) {
				ok = false
				break
			}
			if strings.HasPrefix(p[k], "<") || containsAlt(p[k], w) {
				k++
				continue
			}
			ok = false
			break
		}
		if !ok || k >= len(p) {
			continue
		}
		next := p[k]
		switch {
		case strings.HasPrefix(next, "<"):
			for _, n := range sh.names(next) {
				add(candidate{Word: n, Literal: true})
			}
			add(candidate{Word: next})
		default:
			for _, alt := range strings.Split(next, "|") {
				add(candidate{Word: alt, Literal: true, Help: helpFor(strings.Join(append(append([]string{}, p[:k]...), alt), " "))})
			}
		}
	}
	return out
}

func containsAlt(alts, w string) bool {
	for _, a := range strings.Split(alts, "|") {
		if a == w {
			return true
		}
	}
	return false
}

// helpFor returns the help of the operational command that starts with
// prefix, if one does.
func helpFor(prefix string) string {
	for _, h := range opHelp {
		if strings.HasPrefix(h[0], prefix) && h[1] != "" {
			return h[1]
		}
	}
	return ""
}

// candidates completes a whole line in the current mode.
func (sh *shell) candidates(words []string, prefix string) []candidate {
	if !sh.configuring() {
		return sh.opCandidates(words, prefix)
	}
	if len(words) == 0 {
		var out []candidate
		for _, w := range confWords {
			if strings.HasPrefix(w, prefix) {
				out = append(out, candidate{Word: w, Literal: true})
			}
		}
		return out
	}
	switch words[0] {
	case "set", "delete", "show":
		tree := sh.shadow
		if tree == nil {
			tree = config.New()
		}
		return tree.Complete(append(append([]string{}, words[1:]...), prefix))
	case "run":
		return sh.opCandidates(words[1:], prefix)
	case "exit":
		if len(words) == 1 && strings.HasPrefix("discard", prefix) {
			return []candidate{{Word: "discard", Literal: true}}
		}
	}
	return nil
}

// lineWords splits the text before the cursor into complete words and the
// word being typed.
func lineWords(text string) (words []string, prefix string) {
	ws, err := splitWords(text)
	if err != nil {
		return nil, ""
	}
	if text == "" || strings.HasSuffix(text, " ") || strings.HasSuffix(text, "\t") {
		return ws, ""
	}
	if len(ws) == 0 {
		return nil, ""
	}
	return ws[:len(ws)-1], ws[len(ws)-1]
}

// completer is readline's AutoCompleter over the shell's candidates.
type completer struct{ sh *shell }

// Do returns the suffixes that complete the word before pos.
func (c completer) Do(line []rune, pos int) ([][]rune, int) {
	words, prefix := lineWords(string(line[:pos]))
	var out [][]rune
	for _, cand := range c.sh.candidates(words, prefix) {
		if cand.Literal {
			out = append(out, []rune(cand.Word[len(prefix):]+" "))
		}
	}
	return out, len([]rune(prefix))
}

// onKey is readline's listener: `?` prints help for the position instead
// of being typed, unless it is inside quotes.
func (sh *shell) onKey(line []rune, pos int, key rune) ([]rune, int, bool) {
	if key != '?' || pos == 0 || line[pos-1] != '?' {
		return nil, 0, false
	}
	before := string(line[:pos-1])
	if strings.Count(before, "'")%2 == 1 || strings.Count(before, `"`)%2 == 1 {
		return nil, 0, false
	}
	sh.help(sh.out, before)
	out := append(append([]rune{}, line[:pos-1]...), line[pos:]...)
	return out, pos - 1, true
}

// help prints what may come at the end of text: each candidate with its
// help, and the schema's description of the node being set.
func (sh *shell) help(w io.Writer, text string) {
	words, prefix := lineWords(text)
	cands := sh.candidates(words, prefix)
	fmt.Fprintln(w)
	if sh.configuring() && len(words) > 0 && (words[0] == "set" || words[0] == "delete") && len(words) > 1 {
		if h := config.Help(words[1:]); h != "" && prefix == "" {
			fmt.Fprintln(w, "  "+strings.ReplaceAll(h, "\n", "\n  "))
		}
	}
	if len(cands) == 0 {
		if len(words) == 0 && !sh.configuring() {
			printHelp(w, opHelp)
		} else if len(words) == 0 {
			printHelp(w, confHelp)
		} else {
			fmt.Fprintln(w, "  <enter>")
		}
		return
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].Literal && !cands[j].Literal })
	rows := make([][]string, len(cands))
	for i, c := range cands {
		rows[i] = []string{"  " + c.Word, c.Help}
	}
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%-*s  %s\n", width, r[0], r[1])
	}
}
