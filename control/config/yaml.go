package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// YAML is read with yaml.v3's Node API, never decoded into Go values, so
// keys keep their case and order, scalars keep the text the operator wrote
// (a key 0x0123... never goes through a number, an SPI 0x0000c001 may
// equally arrive as 49153), and every node has a line and column. Unknown
// keys are errors. Anchors and aliases are refused: a configuration has no
// use for them and they make expansion bombs possible.

type yamlParser struct {
	errs []error
}

func (p *yamlParser) fail(path []string, n *yaml.Node, err error) {
	pe := &PathError{Path: path, Err: err}
	if n != nil {
		pe.Line, pe.Col = n.Line, n.Column
	}
	p.errs = append(p.errs, pe)
}

func parseYAML(at *node, src []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty document
		}
		return yamlSyntax(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return yamlSyntax(err)
		}
		return &PathError{Line: extra.Line, Col: extra.Column, Err: fmt.Errorf("%w: more than one YAML document", ErrSyntax)}
	}
	p := &yamlParser{}
	top := &doc
	if top.Kind == yaml.DocumentNode {
		if len(top.Content) == 0 {
			return nil
		}
		top = top.Content[0]
	}
	p.mapping(at, top)
	return errors.Join(p.errs...)
}

// yamlSyntax turns a yaml.v3 error ("yaml: line 3: ...") into a PathError
// with the line. yaml.v3's messages describe tokens, never quote values.
func yamlSyntax(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	pe := &PathError{}
	var line int
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
		pe.Line = line
		if _, rest, ok := strings.Cut(msg, ": "); ok {
			msg = rest
		}
	}
	pe.Err = fmt.Errorf("%w: %s", ErrSyntax, msg)
	return pe
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// mapping reads a YAML mapping into the node at (root, container or
// instance).
func (p *yamlParser) mapping(at *node, m *yaml.Node) {
	if isNull(m) {
		return
	}
	if m.Kind != yaml.MappingNode {
		p.fail(at.path(), m, fmt.Errorf("want a mapping (keys: %s)", at.sch.childNames()))
		return
	}
	seen := make(map[string]bool, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.fail(at.path(), k, errors.New("keys must be plain words"))
			continue
		}
		s := at.sch.Child(k.Value)
		if s == nil {
			p.fail(at.path(), k, unknownErr(at.sch, k.Value))
			continue
		}
		if seen[s.Name] {
			p.fail(with(at.path(), s.Name), k, errors.New("key given twice"))
			continue
		}
		seen[s.Name] = true
		if v.Kind == yaml.AliasNode || v.Anchor != "" {
			p.fail(with(at.path(), s.Name), v, errors.New("YAML anchors and aliases are not supported"))
			continue
		}
		switch s.Kind {
		case KindContainer:
			p.mapping(at.ensure(s, s.Name, false, k.Line, k.Column), v)
		case KindTag:
			p.tag(at, s, k, v)
		default:
			p.leaf(at, s, k, v)
		}
	}
}

// tag reads a tag's mapping of instance names to settings.
func (p *yamlParser) tag(at *node, s *Schema, k, v *yaml.Node) {
	path := with(at.path(), s.Name)
	if isNull(v) {
		return
	}
	if v.Kind != yaml.MappingNode {
		p.fail(path, v, fmt.Errorf("want a mapping from %s to settings", s.Type))
		return
	}
	var kw *node
	for i := 0; i+1 < len(v.Content); i += 2 {
		ik, iv := v.Content[i], v.Content[i+1]
		if ik.Kind != yaml.ScalarNode {
			p.fail(path, ik, fmt.Errorf("want a %s", s.Type))
			continue
		}
		name, err := s.Normalize(ik.Value)
		if err != nil {
			p.fail(path, ik, err)
			continue
		}
		if kw == nil {
			kw = at.ensure(s, s.Name, false, k.Line, k.Column)
		}
		if kw.kid(name) != nil {
			p.fail(with(path, name), ik, errors.New("given twice"))
			continue
		}
		if iv.Kind == yaml.AliasNode || iv.Anchor != "" {
			p.fail(with(path, name), iv, errors.New("YAML anchors and aliases are not supported"))
			continue
		}
		p.mapping(kw.ensure(s, name, true, ik.Line, ik.Column), iv)
	}
}

// leaf reads a leaf's scalar (or a leaf-list's sequence). Also accepted:
// a sequence for a port-spec or index-list leaf (joined with commas), and
// for block leaves the VyOS-converted form "ipsec: {match-ipsec: null}".
func (p *yamlParser) leaf(at *node, s *Schema, k, v *yaml.Node) {
	path := with(at.path(), s.Name)
	var raws []*yaml.Node
	switch v.Kind {
	case yaml.ScalarNode:
		raws = []*yaml.Node{v}
	case yaml.SequenceNode:
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode || isNull(e) {
				p.fail(path, e, errors.New("list items must be plain values"))
				return
			}
		}
		switch {
		case s.Kind == KindLeafList:
			raws = v.Content
		case s.Type == TypePorts || s.Type == TypeIndexList:
			parts := make([]string, len(v.Content))
			for i, e := range v.Content {
				parts[i] = e.Value
			}
			raws = []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: strings.Join(parts, ","), Line: v.Line, Column: v.Column}}
		default:
			p.fail(path, v, errors.New("takes one value, not a list"))
			return
		}
	case yaml.MappingNode:
		if s.Block && len(v.Content) == 2 && v.Content[0].Kind == yaml.ScalarNode && isNull(v.Content[1]) {
			raws = v.Content[:1]
			break
		}
		p.fail(path, v, fmt.Errorf("takes a value (%s), not a mapping", s.accepts()))
		return
	default:
		p.fail(path, v, errors.New("takes a value"))
		return
	}
	var vals []string
	for _, r := range raws {
		raw := r.Value
		if isNull(r) {
			var err error
			if raw, err = valueless(s); err != nil {
				p.fail(path, r, err)
				continue
			}
		}
		c, err := s.Normalize(raw)
		if err != nil {
			p.fail(path, r, err)
			continue
		}
		if !contains(vals, c) {
			vals = append(vals, c)
		}
	}
	if len(vals) > 0 {
		at.ensure(s, s.Name, false, k.Line, k.Column).vals = vals
	}
}

// YAML renders the tree as YAML: block mappings in tree order, two spaces
// a level, leaf-lists as flow sequences ([a, b]), empty nodes as {}.
//
// The emitter is this package's own, not yaml.v3's Encoder: the tree's
// shape is fixed and simple, and yaml.v3's emitter takes time quadratic in
// the size of a long mapping (about a second for 10,000 rules). Scalars are
// written plain when that is unambiguous YAML, else double-quoted with
// JSON's escapes, which YAML's double-quoted style shares; the tests check
// the output with yaml.v3 and with PyYAML.
func (t *Tree) YAML(show Show) []byte {
	var b bytes.Buffer
	if len(t.root.kids) == 0 {
		b.WriteString("{}\n")
		return b.Bytes()
	}
	writeYAML(&b, t.root, 0, show)
	return b.Bytes()
}

func writeYAML(b *bytes.Buffer, n *node, depth int, show Show) {
	for _, k := range n.kids {
		indent2(b, depth)
		yamlScalar(b, k.name, false)
		b.WriteByte(':')
		switch k.sch.Kind {
		case KindContainer:
			writeYAMLBlock(b, k, depth, show)
		case KindTag:
			b.WriteByte('\n')
			for _, in := range k.kids {
				indent2(b, depth+1)
				yamlScalar(b, in.name, false)
				b.WriteByte(':')
				writeYAMLBlock(b, in, depth+1, show)
			}
		case KindLeaf:
			b.WriteByte(' ')
			yamlScalar(b, shown(k.sch, k.vals[0], show), false)
			b.WriteByte('\n')
		case KindLeafList:
			b.WriteString(" [")
			for i, v := range k.vals {
				if i > 0 {
					b.WriteString(", ")
				}
				yamlScalar(b, shown(k.sch, v, show), true)
			}
			b.WriteString("]\n")
		}
	}
}

func writeYAMLBlock(b *bytes.Buffer, n *node, depth int, show Show) {
	if len(n.kids) == 0 {
		b.WriteString(" {}\n")
		return
	}
	b.WriteByte('\n')
	writeYAML(b, n, depth+1, show)
}

func indent2(b *bytes.Buffer, depth int) {
	for i := 0; i < depth; i++ {
		b.WriteString("  ")
	}
}

// yamlScalar writes v plain when YAML reads it back as the same string in
// block (and, with flow set, flow) context, else double-quoted.
func yamlScalar(b *bytes.Buffer, v string, flow bool) {
	if plainOK(v, flow) {
		b.WriteString(v)
		return
	}
	var q bytes.Buffer
	enc := json.NewEncoder(&q)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a string always encodes
	b.Write(bytes.TrimSuffix(q.Bytes(), []byte("\n")))
}

// plainOK is deliberately conservative: printable ASCII, no YAML indicator
// first, no ": " or " #" inside, nothing that reads as null.
func plainOK(v string, flow bool) bool {
	if v == "" || v == "~" || strings.EqualFold(v, "null") {
		return false
	}
	if strings.IndexByte("-?:,[]{}#&*!|>'\"%@`<= ", v[0]) >= 0 || v[len(v)-1] == ' ' || v[len(v)-1] == ':' {
		return false
	}
	if strings.Contains(v, ": ") || strings.Contains(v, " #") {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c > 0x7e || (flow && strings.IndexByte(",[]{}", c) >= 0) {
			return false
		}
	}
	return true
}

// MarshalJSON renders the tree as JSON in the YAML's shape (every value a
// string, leaf-lists arrays), keys always redacted: the API's view.
func (t *Tree) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	writeJSON(&b, t.root)
	return b.Bytes(), nil
}

func jsonString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}

func writeJSON(b *bytes.Buffer, n *node) {
	b.WriteByte('{')
	for i, k := range n.kids {
		if i > 0 {
			b.WriteByte(',')
		}
		jsonString(b, k.name)
		b.WriteByte(':')
		switch k.sch.Kind {
		case KindContainer:
			writeJSON(b, k)
		case KindTag:
			b.WriteByte('{')
			for j, in := range k.kids {
				if j > 0 {
					b.WriteByte(',')
				}
				jsonString(b, in.name)
				b.WriteByte(':')
				writeJSON(b, in)
			}
			b.WriteByte('}')
		case KindLeaf:
			jsonString(b, shown(k.sch, k.vals[0], Redacted))
		case KindLeafList:
			b.WriteByte('[')
			for j, v := range k.vals {
				if j > 0 {
					b.WriteByte(',')
				}
				jsonString(b, shown(k.sch, v, Redacted))
			}
			b.WriteByte(']')
		}
	}
	b.WriteByte('}')
}
