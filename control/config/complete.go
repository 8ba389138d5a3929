package config

import (
	"strings"
)

// Completion is one candidate for the word being typed.
type Completion struct {
	// Word is the literal to insert, or a placeholder such as <1-999999>
	// when Literal is false (shown by `?`, never inserted by tab).
	Word    string
	Literal bool
	Help    string
}

// Complete returns the candidates for the last element of path, the word
// being typed (empty for "what comes next?"), given the words before it:
// keywords from the schema, instance names and values already in the tree
// (existing rule numbers, SA names for `pair`), enum values, and a
// placeholder describing what else the position accepts. Literal candidates
// are filtered by the typed prefix. Key values are never offered.
func (t *Tree) Complete(path []string) []Completion {
	prefix := ""
	if len(path) > 0 {
		prefix = path[len(path)-1]
		path = path[:len(path)-1]
	}
	const (
		wantChild = iota
		wantInstance
		wantValue
		wantNothing
	)
	s, n, state := root, t.root, wantChild
	for _, w := range path {
		switch state {
		case wantChild:
			c := s.Child(w)
			if c == nil {
				return nil
			}
			s = c
			n = kidOf(n, w)
			switch c.Kind {
			case KindTag:
				state = wantInstance
			case KindLeaf, KindLeafList:
				state = wantValue
			}
		case wantInstance:
			if c, err := s.Normalize(w); err == nil {
				w = c
			}
			n = kidOf(n, w)
			state = wantChild
		case wantValue:
			state = wantNothing
		default:
			return nil
		}
	}
	var out []Completion
	add := func(word, help string) {
		if !strings.HasPrefix(word, prefix) {
			return
		}
		for _, c := range out {
			if c.Literal && c.Word == word {
				return
			}
		}
		out = append(out, Completion{Word: word, Literal: true, Help: help})
	}
	switch state {
	case wantChild:
		for _, c := range s.Children {
			add(c.Name, c.Help)
		}
	case wantInstance:
		if n != nil {
			for _, k := range n.kids {
				add(k.name, s.Help)
			}
		}
		out = append(out, Completion{Word: s.placeholder(), Help: s.Help})
	case wantValue:
		if s.Type == TypeEnum {
			for _, v := range s.Values {
				add(v, s.Help)
			}
			break
		}
		if s.Type == TypeBool {
			add("true", s.Help)
			add("false", s.Help)
			break
		}
		for _, v := range s.Values {
			add(v, s.Help)
		}
		if s.Ref != "" {
			for _, name := range t.Children(strings.Fields(s.Ref)) {
				add(name, s.Help)
			}
		}
		if n != nil && !s.Secret {
			for _, v := range n.vals {
				add(v, "current value")
			}
		}
		out = append(out, Completion{Word: s.placeholder(), Help: s.Help})
	}
	return out
}

func kidOf(n *node, name string) *node {
	if n == nil {
		return nil
	}
	return n.kid(name)
}
