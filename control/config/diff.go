package config

import "strings"

// Commands renders the tree as `set` command lines, VyOS's
// `show configuration commands`: one line per leaf value, and one per empty
// container or instance. Loading them back (Load with FormatCommands, or
// Set on each path) rebuilds the tree.
func (t *Tree) Commands(show Show) []string {
	var out []string
	flatten(t.root, nil, show, func(p []string) { out = append(out, "set "+joinPath(p)) })
	return out
}

// flatten calls emit with the full command path of every leaf value and of
// every empty container or instance under n (prefix is n's path).
func flatten(n *node, prefix []string, show Show, emit func([]string)) {
	for _, k := range n.kids {
		switch k.sch.Kind {
		case KindContainer:
			p := with(prefix, k.name)
			if len(k.kids) == 0 {
				emit(p)
			}
			flatten(k, p, show, emit)
		case KindTag:
			for _, in := range k.kids {
				p := with(prefix, k.name, in.name)
				if len(in.kids) == 0 {
					emit(p)
				}
				flatten(in, p, show, emit)
			}
		default:
			for _, v := range k.vals {
				emit(leafPath(prefix, k.sch, v, show))
			}
		}
	}
}

func leafPath(prefix []string, s *Schema, v string, show Show) []string {
	if s.Valueless && v == "true" {
		return with(prefix, s.Name)
	}
	return with(prefix, s.Name, shown(s, v, show))
}

// joinPath joins command words, quoting those that need it the way VyOS
// does ('L2TP only in IPsec'); double quotes when the value holds a '.
func joinPath(p []string) string {
	var b strings.Builder
	for i, w := range p {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch {
		case !needsQuotes(w):
			b.WriteString(w)
		case !strings.ContainsAny(w, "'\n"):
			b.WriteByte('\'')
			b.WriteString(w)
			b.WriteByte('\'')
		default:
			b.WriteString(quoteCurly(w))
		}
	}
	return b.String()
}

// DiffLine is one line of a comparison: a command path (value included)
// that only one side has. Key values are already redacted in Path: a
// changed key shows as a - and a + line of <redacted>.
type DiffLine struct {
	Op   byte     // '-': only in the old tree; '+': only in the new one
	Path []string // as a `set` command would take it
}

// String renders the line as "- set ..." or "+ set ...".
func (d DiffLine) String() string { return string(d.Op) + " set " + joinPath(d.Path) }

// Diff compares two trees for `compare`: what a commit of b over a would
// remove ('-') and add ('+'), as set-command lines. A changed leaf is a '-'
// line and a '+' line; a removed or added subtree lists all its lines.
// Order of children and of leaf-list values does not matter.
func Diff(a, b *Tree) []DiffLine {
	var out []DiffLine
	diffNode(a.root, b.root, nil, &out)
	return out
}

// emitNode lists the lines of the subtree k, whose parent's path is prefix.
func emitNode(op byte, k *node, prefix []string, out *[]DiffLine) {
	emit := func(p []string) { *out = append(*out, DiffLine{Op: op, Path: p}) }
	switch {
	case k.inst || k.sch.Kind == KindContainer:
		p := with(prefix, k.name)
		if len(k.kids) == 0 {
			emit(p)
		}
		flatten(k, p, Redacted, emit)
	case k.sch.Kind == KindTag:
		for _, in := range k.kids {
			emitNode(op, in, with(prefix, k.name), out)
		}
	default:
		for _, v := range k.vals {
			emit(leafPath(prefix, k.sch, v, Redacted))
		}
	}
}

// diffNode compares two nodes present in both trees at the same path.
func diffNode(a, b *node, prefix []string, out *[]DiffLine) {
	for _, v := range a.vals {
		if !contains(b.vals, v) {
			*out = append(*out, DiffLine{Op: '-', Path: leafPath(prefix[:len(prefix)-1], a.sch, v, Redacted)})
		}
	}
	for _, v := range b.vals {
		if !contains(a.vals, v) {
			*out = append(*out, DiffLine{Op: '+', Path: leafPath(prefix[:len(prefix)-1], b.sch, v, Redacted)})
		}
	}
	for _, ak := range a.kids {
		p := with(prefix, ak.name)
		bk := b.kid(ak.name)
		if bk == nil {
			emitNode('-', ak, prefix, out)
			continue
		}
		diffNode(ak, bk, p, out)
	}
	for _, bk := range b.kids {
		if a.kid(bk.name) == nil {
			emitNode('+', bk, prefix, out)
		}
	}
}
