package config

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Vyatta/VyOS curly syntax, as `show configuration` prints it and operators
// paste it:
//
//	firewall {
//	    name WAN_LOCAL {
//	        default-action drop
//	        rule 10 {
//	            action accept
//	            description "L2TP only in IPsec"
//	            ipsec {
//	                match-ipsec
//	            }
//	        }
//	    }
//	}
//
// A statement is a run of words ended by a newline, ';', '{' or '}'; the
// words walk the schema exactly as a `set` path does, so "rule 10 {",
// "name WAN_LOCAL {" and "firewall { name WAN_LOCAL {" all work, and a
// leaf's value may be given inside a block ("ipsec { match-ipsec }", the
// Vyatta form of a valueless leaf). Indentation is free (tabs, uneven
// spaces). Comments: /* ... */, // and # to the end of the line (# only at
// the start of a word). Values with spaces are quoted, "..." (\" and \\
// escaped) or '...'. A leaf-list is its keyword repeated.

type tokKind uint8

const (
	tokWord  tokKind = iota
	tokOpen          // {
	tokClose         // }
	tokEnd           // newline or ;
	tokEOF
)

type token struct {
	kind      tokKind
	s         string
	line, col int
}

// lexer splits curly text (and command lines) into tokens. It never panics
// and always advances.
type lexer struct {
	src       string
	i         int
	line      int
	lineStart int
}

func newLexer(src string) *lexer { return &lexer{src: src, line: 1} }

func (l *lexer) errAt(line, col int, format string, args ...any) error {
	return &PathError{Line: line, Col: col, Err: fmt.Errorf("%w: "+format, append([]any{ErrSyntax}, args...)...)}
}

func (l *lexer) next() (token, error) {
	for l.i < len(l.src) {
		c := l.src[l.i]
		line, col := l.line, l.i-l.lineStart+1
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			l.i++
		case c == '\n':
			l.i++
			l.line++
			l.lineStart = l.i
			return token{kind: tokEnd, line: line, col: col}, nil
		case c == ';':
			l.i++
			return token{kind: tokEnd, line: line, col: col}, nil
		case c == '{':
			l.i++
			return token{kind: tokOpen, s: "{", line: line, col: col}, nil
		case c == '}':
			l.i++
			return token{kind: tokClose, s: "}", line: line, col: col}, nil
		case c == '#' || strings.HasPrefix(l.src[l.i:], "//"):
			for l.i < len(l.src) && l.src[l.i] != '\n' {
				l.i++
			}
		case strings.HasPrefix(l.src[l.i:], "/*"):
			end := strings.Index(l.src[l.i+2:], "*/")
			if end < 0 {
				return token{}, l.errAt(line, col, "comment /* is not closed")
			}
			stop := l.i + 2 + end + 2
			for ; l.i < stop; l.i++ {
				if l.src[l.i] == '\n' {
					l.line++
					l.lineStart = l.i + 1
				}
			}
		case c == '"':
			var b strings.Builder
			l.i++
			for {
				if l.i >= len(l.src) || l.src[l.i] == '\n' {
					return token{}, l.errAt(line, col, "quoted value is not closed on its line")
				}
				ch := l.src[l.i]
				if ch == '"' {
					l.i++
					break
				}
				if ch == '\\' && l.i+1 < len(l.src) && l.src[l.i+1] != '\n' {
					l.i++
					ch = l.src[l.i]
				}
				b.WriteByte(ch)
				l.i++
			}
			return token{kind: tokWord, s: b.String(), line: line, col: col}, nil
		case c == '\'':
			end := strings.IndexAny(l.src[l.i+1:], "'\n")
			if end < 0 || l.src[l.i+1+end] != '\'' {
				return token{}, l.errAt(line, col, "quoted value is not closed on its line")
			}
			s := l.src[l.i+1 : l.i+1+end]
			l.i += end + 2
			return token{kind: tokWord, s: s, line: line, col: col}, nil
		default:
			start := l.i
			for l.i < len(l.src) && !strings.ContainsRune(" \t\r\f\v\n;{}", rune(l.src[l.i])) {
				l.i++
			}
			return token{kind: tokWord, s: l.src[start:l.i], line: line, col: col}, nil
		}
	}
	return token{kind: tokEOF, line: l.line, col: l.i - l.lineStart + 1}, nil
}

// statement reads words up to the token that ends them.
func (l *lexer) statement() ([]word, token, error) {
	var ws []word
	for {
		tk, err := l.next()
		if err != nil {
			return nil, tk, err
		}
		if tk.kind != tokWord {
			return ws, tk, nil
		}
		ws = append(ws, word{s: tk.s, line: tk.line, col: tk.col})
	}
}

// curlyParser reads curly text into a tree. Problems in one statement are
// collected and parsing goes on, so a file with several mistakes reports
// them all; only a lexical error or unbalanced braces stop it.
type curlyParser struct {
	lx   *lexer
	t    *Tree
	errs []error
}

func parseCurly(t *Tree, at *node, src string) error {
	p := &curlyParser{lx: newLexer(src), t: t}
	if err := p.block(at, true); err != nil {
		p.errs = append(p.errs, err)
	}
	return errors.Join(p.errs...)
}

// block parses statements into at until the closing brace (or EOF at top).
// The returned error is fatal; per-statement problems go to p.errs.
func (p *curlyParser) block(at *node, top bool) error {
	for {
		ws, end, err := p.lx.statement()
		if err != nil {
			return err
		}
		switch end.kind {
		case tokOpen:
			if len(ws) == 0 {
				return p.lx.errAt(end.line, end.col, "{ without a node name before it")
			}
			if err := p.open(at, ws); err != nil {
				return err
			}
			continue
		case tokEnd:
			p.leaf(at, ws)
			continue
		}
		p.leaf(at, ws)
		if end.kind == tokClose {
			if top {
				return p.lx.errAt(end.line, end.col, "} without a { to close")
			}
			return nil
		}
		if !top { // EOF inside a block
			return p.lx.errAt(end.line, end.col, "missing } at the end of the text")
		}
		return nil
	}
}

// leaf applies a statement that ends without a block.
func (p *curlyParser) leaf(at *node, ws []word) {
	if len(ws) == 0 {
		return
	}
	if err := p.t.set(at, ws, modeParse); err != nil {
		p.errs = append(p.errs, err)
	}
}

// open applies a statement that ends with '{' and parses its block.
func (p *curlyParser) open(at *node, ws []word) error {
	r, err := resolve(at, ws)
	if err == nil && r.leaf == nil && len(r.steps) > 0 {
		last := r.steps[len(r.steps)-1]
		if !last.inst && last.s.Kind == KindTag {
			err = &PathError{Path: with(at.path(), wordStrings(ws)...), Line: last.line, Col: last.col,
				Err: fmt.Errorf("%s needs a %s before {", last.s.Name, last.s.Type)}
		}
	}
	if err == nil && r.leaf != nil && r.hasValue {
		err = &PathError{Path: lookupPath(at, r), Line: r.vline, Col: r.vcol,
			Err: fmt.Errorf("%s takes a value, not a block", r.leaf.Name)}
	}
	if err != nil {
		p.errs = append(p.errs, err)
		return p.skip()
	}
	if r.leaf != nil {
		return p.leafBlock(at, r)
	}
	return p.block(create(at, r), false)
}

// leafBlock reads "leaf { value ... }": each statement one value.
func (p *curlyParser) leafBlock(at *node, r *resolved) error {
	var vals []word
	for {
		ws, end, err := p.lx.statement()
		if err != nil {
			return err
		}
		if len(ws) > 1 {
			p.errs = append(p.errs, &PathError{Path: lookupPath(at, r), Line: ws[1].line, Col: ws[1].col,
				Err: fmt.Errorf("one value per line inside %s { }", r.leaf.Name)})
		} else if len(ws) == 1 {
			vals = append(vals, ws[0])
		}
		switch end.kind {
		case tokOpen:
			p.errs = append(p.errs, p.lx.errAt(end.line, end.col, "%s { } holds values, not blocks", r.leaf.Name))
			if err := p.skip(); err != nil {
				return err
			}
			continue
		case tokEOF:
			return p.lx.errAt(end.line, end.col, "missing } at the end of the text")
		case tokClose:
			if len(vals) == 0 {
				st := r.steps[len(r.steps)-1]
				p.errs = append(p.errs, &PathError{Path: lookupPath(at, r), Line: st.line, Col: st.col,
					Err: fmt.Errorf("needs a value (%s)", r.leaf.accepts())})
			}
			for _, v := range vals {
				ws := append(stepWords(r), v)
				if err := p.t.set(at, ws, modeParse); err != nil {
					p.errs = append(p.errs, err)
				}
			}
			return nil
		}
	}
}

func lookupPath(at *node, r *resolved) []string {
	p := at.path()
	for _, st := range r.steps {
		p = append(p, st.name)
	}
	return p
}

func stepWords(r *resolved) []word {
	ws := make([]word, len(r.steps))
	for i, st := range r.steps {
		ws[i] = word{s: st.name, line: st.line, col: st.col}
	}
	return ws
}

// skip consumes a block whose statement was refused, up to its '}'.
func (p *curlyParser) skip() error {
	depth := 1
	for {
		tk, err := p.lx.next()
		if err != nil {
			return err
		}
		switch tk.kind {
		case tokOpen:
			depth++
		case tokClose:
			if depth--; depth == 0 {
				return nil
			}
		case tokEOF:
			return p.lx.errAt(tk.line, tk.col, "missing } at the end of the text")
		}
	}
}

// Show says whether a rendering prints key material.
type Show uint8

// Renderings.
const (
	Redacted Show = iota // keys print as <redacted>: show, compare, logs, API
	Revealed             // keys print as they are: only `save` writing the file
)

const redactedValue = "<redacted>"

func shown(s *Schema, v string, show Show) string {
	if s.Secret && show != Revealed {
		return redactedValue
	}
	return v
}

// Curly renders the tree in Vyatta/VyOS curly syntax, four spaces a level,
// as `show configuration` prints it.
func (t *Tree) Curly(show Show) []byte {
	var b bytes.Buffer
	writeCurly(&b, t.root, 0, show)
	return b.Bytes()
}

// String renders the tree in curly syntax with keys redacted.
func (t *Tree) String() string { return string(t.Curly(Redacted)) }

// GoString is String, so %#v cannot print keys either.
func (t *Tree) GoString() string { return t.String() }

func indent(b *bytes.Buffer, depth int) {
	for i := 0; i < depth; i++ {
		b.WriteString("    ")
	}
}

func writeCurly(b *bytes.Buffer, n *node, depth int, show Show) {
	for _, k := range n.kids {
		switch k.sch.Kind {
		case KindContainer:
			indent(b, depth)
			b.WriteString(k.name)
			writeCurlyBlock(b, k, depth, show)
		case KindTag:
			for _, in := range k.kids {
				indent(b, depth)
				b.WriteString(k.name)
				b.WriteByte(' ')
				b.WriteString(in.name)
				writeCurlyBlock(b, in, depth, show)
			}
		default:
			for _, v := range k.vals {
				indent(b, depth)
				b.WriteString(k.name)
				switch {
				case k.sch.Block:
					b.WriteString(" {\n")
					indent(b, depth+1)
					b.WriteString(quoteCurly(shown(k.sch, v, show)))
					b.WriteByte('\n')
					indent(b, depth)
					b.WriteByte('}')
				case k.sch.Valueless && v == "true":
				default:
					b.WriteByte(' ')
					b.WriteString(quoteCurly(shown(k.sch, v, show)))
				}
				b.WriteByte('\n')
			}
		}
	}
}

func writeCurlyBlock(b *bytes.Buffer, n *node, depth int, show Show) {
	b.WriteString(" {\n")
	writeCurly(b, n, depth+1, show)
	indent(b, depth)
	b.WriteString("}\n")
}

// needsQuotes reports whether a value would not read back as one word.
func needsQuotes(v string) bool {
	return v == "" || strings.ContainsAny(v, " \t\r\n\f\v;{}\"'\\") ||
		strings.HasPrefix(v, "#") || strings.HasPrefix(v, "//") || strings.HasPrefix(v, "/*")
}

func quoteCurly(v string) string {
	if !needsQuotes(v) {
		return v
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if v[i] == '"' || v[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
	return b.String()
}
