package config

import (
	"errors"
	"fmt"
	"strings"
)

// Tree is a configuration tree: ordered, case-preserving, and checked against
// the schema node by node as it is built, so it only ever holds values of
// the right type in their canonical spelling. Cross-node rules (a key's
// length for its proposal, references between SAs, tunnels and rule sets)
// are checked by Config.
//
// Order: children keep the order they were written or set in, except the
// instances of a numeric tag (rule 10, tunnel 1), which are kept sorted by
// number as VyOS shows them.
//
// The zero Tree is not usable; call New. A Tree is not safe for concurrent
// use; Clone gives each operator session its own candidate.
type Tree struct {
	root *node
}

// node is one node of a Tree. A tag keyword ("rule") holds instance nodes
// ("10"), which share the tag's schema and hold its children.
type node struct {
	name   string
	sch    *Schema
	inst   bool // a tag instance; sch is the tag's schema
	parent *node
	kids   []*node
	index  map[string]*node // kids by name, built once there are many
	vals   []string         // leaf and leaf-list values, canonical
	line   int              // where the node's keyword or name was written; 0 if set by command
	col    int
}

const indexAt = 16 // kids beyond which lookups go through the index map

// New returns an empty tree: every setting at its default.
func New() *Tree { return &Tree{root: &node{sch: root}} }

// holdsChildren reports whether the node's kids are schema children (the
// root, containers and tag instances) rather than tag instances.
func (n *node) holdsChildren() bool { return n.inst || n.sch.Kind == KindContainer }

func (n *node) kid(name string) *node {
	if n.index != nil {
		return n.index[name]
	}
	for _, k := range n.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

// numericTag reports whether n is a tag keyword whose instances are numbers.
func (n *node) numericTag() bool { return !n.inst && n.sch.Kind == KindTag && n.sch.Type == TypeUint }

// lessNum orders canonical decimal strings numerically.
func lessNum(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func (n *node) addKid(k *node) {
	k.parent = n
	if n.numericTag() && len(n.kids) > 0 && lessNum(k.name, n.kids[len(n.kids)-1].name) {
		// Binary search for the insertion point; appending in order (the
		// usual case when a file is read) never comes here.
		lo, hi := 0, len(n.kids)
		for lo < hi {
			m := (lo + hi) / 2
			if lessNum(n.kids[m].name, k.name) {
				lo = m + 1
			} else {
				hi = m
			}
		}
		n.kids = append(n.kids, nil)
		copy(n.kids[lo+1:], n.kids[lo:])
		n.kids[lo] = k
	} else {
		n.kids = append(n.kids, k)
	}
	if n.index != nil {
		n.index[k.name] = k
	} else if len(n.kids) > indexAt {
		n.index = make(map[string]*node, 2*len(n.kids))
		for _, c := range n.kids {
			n.index[c.name] = c
		}
	}
}

func (n *node) removeKid(k *node) {
	for i, c := range n.kids {
		if c == k {
			n.kids = append(n.kids[:i], n.kids[i+1:]...)
			break
		}
	}
	if n.index != nil {
		delete(n.index, k.name)
	}
	k.parent = nil
}

// ensure returns the kid named name, creating it with the given schema.
func (n *node) ensure(s *Schema, name string, inst bool, line, col int) *node {
	if k := n.kid(name); k != nil {
		return k
	}
	k := &node{name: name, sch: s, inst: inst, line: line, col: col}
	n.addKid(k)
	return k
}

// path returns the node's path from the root.
func (n *node) path() []string {
	depth := 0
	for p := n; p.parent != nil; p = p.parent {
		depth++
	}
	out := make([]string, depth)
	for p := n; p.parent != nil; p = p.parent {
		depth--
		out[depth] = p.name
	}
	return out
}

func (n *node) clone(parent *node) *node {
	c := &node{name: n.name, sch: n.sch, inst: n.inst, parent: parent, line: n.line, col: n.col}
	if n.vals != nil {
		c.vals = append([]string(nil), n.vals...)
	}
	if len(n.kids) > 0 {
		c.kids = make([]*node, len(n.kids))
		for i, k := range n.kids {
			c.kids[i] = k.clone(c)
		}
		if n.index != nil {
			c.index = make(map[string]*node, len(c.kids))
			for _, k := range c.kids {
				c.index[k.name] = k
			}
		}
	}
	return c
}

// Clone returns a deep copy of the tree.
func (t *Tree) Clone() *Tree { return &Tree{root: t.root.clone(nil)} }

// Equal reports whether two trees hold the same nodes and values: the order
// of children and of leaf-list values does not matter, source positions are
// ignored. It agrees with Diff: Equal(a, b) == (len(Diff(a, b)) == 0).
func Equal(a, b *Tree) bool { return equalNode(a.root, b.root) }

func equalNode(a, b *node) bool {
	if len(a.kids) != len(b.kids) || len(a.vals) != len(b.vals) {
		return false
	}
	for _, v := range a.vals {
		if !contains(b.vals, v) {
			return false
		}
	}
	for _, k := range a.kids {
		o := b.kid(k.name)
		if o == nil || !equalNode(k, o) {
			return false
		}
	}
	return true
}

func contains(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// setMode says what writing an existing leaf does.
type setMode uint8

const (
	modeSet   setMode = iota // shell set: a leaf's value is replaced, a list appended to
	modeParse                // reading text: a leaf written twice is an error
)

// step is one resolved element of a command path.
type step struct {
	s         *Schema
	name      string // keyword, or canonical instance name
	inst      bool
	line, col int
}

// resolved is a command path checked against the schema, nothing created yet.
type resolved struct {
	steps    []step // ends with the leaf's step when the path reaches a leaf
	leaf     *Schema
	value    string // canonical
	hasValue bool
	vline    int
	vcol     int
}

// word is a token with where it was written (0 when it came from a command).
type word struct {
	s         string
	line, col int
}

func words(path []string) []word {
	ws := make([]word, len(path))
	for i, p := range path {
		ws[i].s = p
	}
	return ws
}

// resolve checks a path of words against the schema, starting at the node
// at (a container, instance or the root). It creates nothing.
func resolve(at *node, ws []word) (*resolved, error) {
	r := &resolved{}
	s := at.sch
	base := at.path()
	// fail reports a problem with word i; the path is the words before it,
	// never a leaf's value, so a key cannot end up in an error.
	fail := func(i int, err error) error {
		n := min(i, len(ws))
		if r.leaf != nil {
			n = len(r.steps) // through the leaf's name
		}
		pe := &PathError{Path: with(base, wordStrings(ws[:n])...), Err: err}
		if i < len(ws) {
			pe.Line, pe.Col = ws[i].line, ws[i].col
		} else if len(ws) > 0 {
			pe.Line, pe.Col = ws[len(ws)-1].line, ws[len(ws)-1].col
		}
		return pe
	}
	for i := 0; i < len(ws); i++ {
		w := ws[i]
		c := s.Child(w.s)
		if c == nil {
			return nil, fail(i, unknownErr(s, w.s))
		}
		r.steps = append(r.steps, step{s: c, name: c.Name, line: w.line, col: w.col})
		switch c.Kind {
		case KindContainer:
			s = c
		case KindTag:
			if i+1 >= len(ws) {
				return r, nil // ends at the tag keyword: Delete may want that
			}
			i++
			v, err := c.Normalize(ws[i].s)
			if err != nil {
				return nil, fail(i, fmt.Errorf("%s: %w", c.Name, err))
			}
			r.steps = append(r.steps, step{s: c, name: v, inst: true, line: ws[i].line, col: ws[i].col})
			s = c
		case KindLeaf, KindLeafList:
			r.leaf = c
			if i+1 < len(ws) {
				if i+2 < len(ws) {
					return nil, fail(i+2, fmt.Errorf("takes one value; %d given", len(ws)-i-1))
				}
				v, err := c.Normalize(ws[i+1].s)
				if err != nil {
					return nil, fail(i+1, err)
				}
				r.value, r.hasValue = v, true
				r.vline, r.vcol = ws[i+1].line, ws[i+1].col
			}
			return r, nil
		}
	}
	return r, nil
}

func wordStrings(ws []word) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.s
	}
	return out
}

// create makes the nodes of r's steps (the leaf's included) under at and
// returns the last one.
func create(at *node, r *resolved) *node {
	cur := at
	for _, st := range r.steps {
		cur = cur.ensure(st.s, st.name, st.inst, st.line, st.col)
	}
	return cur
}

// setValue stores v in the leaf node n.
func setValue(n *node, v string, mode setMode, line, col int) error {
	if n.sch.Kind == KindLeafList {
		if !contains(n.vals, v) {
			n.vals = append(n.vals, v)
		}
		return nil
	}
	if mode == modeParse && len(n.vals) > 0 {
		return &PathError{Path: n.path(), Line: line, Col: col,
			Err: fmt.Errorf("set twice (first at line %d)", n.line)}
	}
	n.vals = append(n.vals[:0], v)
	return nil
}

// valueless returns the value a leaf written without one stands for.
func valueless(s *Schema) (string, error) {
	if s.Type == TypeBool {
		return "true", nil
	}
	return "", fmt.Errorf("needs a value (%s)", s.accepts())
}

// Set applies a `set` command path, VyOS style: the path names containers,
// tag instances and a leaf, then the leaf's value
// ([firewall name WAN_LOCAL rule 10 ipsec match-ipsec]). A leaf's value is
// replaced; a leaf-list gets the value added; a boolean leaf given no value
// is set to true; a path that stops at a container or instance creates it.
// On error the tree is unchanged.
func (t *Tree) Set(path []string) error {
	return t.set(t.root, words(path), modeSet)
}

func (t *Tree) set(at *node, ws []word, mode setMode) error {
	r, err := resolve(at, ws)
	if err != nil {
		return err
	}
	if r.leaf == nil && len(r.steps) > 0 && !r.steps[len(r.steps)-1].inst && r.steps[len(r.steps)-1].s.Kind == KindTag {
		st := r.steps[len(r.steps)-1]
		return &PathError{Path: with(at.path(), wordStrings(ws)...), Line: st.line, Col: st.col,
			Err: fmt.Errorf("%s needs a %s", st.s.Name, st.s.Type)}
	}
	if r.leaf != nil && !r.hasValue {
		v, err := valueless(r.leaf)
		if err != nil {
			st := r.steps[len(r.steps)-1]
			return &PathError{Path: with(at.path(), wordStrings(ws)...), Line: st.line, Col: st.col, Err: err}
		}
		r.value, r.hasValue = v, true
	}
	if r.leaf != nil && mode == modeParse {
		// Refuse a duplicate before creating anything.
		if n := lookupSteps(at, r.steps); n != nil && n.sch.Kind == KindLeaf && len(n.vals) > 0 {
			return setValue(n, r.value, mode, r.vline, r.vcol)
		}
	}
	n := create(at, r)
	if r.leaf != nil {
		return setValue(n, r.value, mode, r.vline, r.vcol)
	}
	return nil
}

func lookupSteps(at *node, steps []step) *node {
	cur := at
	for _, st := range steps {
		if cur = cur.kid(st.name); cur == nil {
			return nil
		}
	}
	return cur
}

// SetLeaf sets the leaf at path (which ends at the leaf's name) to value,
// replacing what was there. For a leaf-list the value is split on commas
// and whitespace into the new list. cmd/sluiced uses it to overlay viper's
// daemon settings (SLUICE_* environment, flags) on the tree.
func (t *Tree) SetLeaf(path []string, value string) error {
	r, err := resolve(t.root, words(path))
	if err != nil {
		return err
	}
	if r.leaf == nil || r.hasValue {
		return &PathError{Path: clonePath(path), Err: errors.New("not a leaf")}
	}
	vals := []string{value}
	if r.leaf.Kind == KindLeafList {
		vals = strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	}
	canon := make([]string, 0, len(vals))
	for _, v := range vals {
		c, err := r.leaf.Normalize(v)
		if err != nil {
			return &PathError{Path: clonePath(path), Err: err}
		}
		if !contains(canon, c) {
			canon = append(canon, c)
		}
	}
	n := create(t.root, r)
	n.vals = canon
	if len(canon) == 0 {
		t.prune(n)
	}
	return nil
}

// Delete applies a `delete` command path: a path ending at a container, tag
// or instance removes that subtree; at a leaf removes the leaf; at a leaf
// and a value removes that value (from a leaf-list, or the leaf if it holds
// it). Containers left empty are removed too; instances are kept (an empty
// rule set still exists). A path that is not in the tree is ErrNotFound.
func (t *Tree) Delete(path []string) error { return t.del(t.root, words(path)) }

func (t *Tree) del(at *node, ws []word) error {
	r, err := resolve(at, ws)
	if err != nil {
		return err
	}
	notFound := func() error {
		pe := &PathError{Path: lookupPath(at, r), Err: ErrNotFound}
		if len(ws) > 0 {
			pe.Line, pe.Col = ws[0].line, ws[0].col
		}
		return pe
	}
	n := lookupSteps(at, r.steps)
	if n == nil || n == t.root {
		return notFound()
	}
	if r.hasValue {
		i := indexOf(n.vals, r.value)
		if i < 0 {
			return notFound()
		}
		n.vals = append(n.vals[:i], n.vals[i+1:]...)
		if len(n.vals) > 0 {
			return nil
		}
	}
	p := n.parent
	p.removeKid(n)
	t.prune(p)
	return nil
}

// prune removes n and its ancestors while they are empty containers, tag
// keywords or leaves, stopping at instances and the root.
func (t *Tree) prune(n *node) {
	for n != nil && n != t.root && !n.inst && len(n.kids) == 0 && len(n.vals) == 0 {
		p := n.parent
		p.removeKid(n)
		n = p
	}
}

func indexOf(vs []string, v string) int {
	for i, x := range vs {
		if x == v {
			return i
		}
	}
	return -1
}

// find returns the node at path (no value), or a PathError.
func (t *Tree) find(path []string) (*node, *resolved, error) {
	r, err := resolve(t.root, words(path))
	if err != nil {
		return nil, nil, err
	}
	n := lookupSteps(t.root, r.steps)
	if n == nil {
		return nil, nil, &PathError{Path: clonePath(path), Err: ErrNotFound}
	}
	return n, r, nil
}

// Get returns the values of the leaf at path (one for a leaf, the list for a
// leaf-list), as stored: canonical, keys included. ok is false when the leaf
// is not set; Default has the schema's default then.
func (t *Tree) Get(path []string) (values []string, ok bool) {
	n, r, err := t.find(path)
	if err != nil || r.leaf == nil || r.hasValue || len(n.vals) == 0 {
		return nil, false
	}
	return append([]string(nil), n.vals...), true
}

// Default returns the schema default of the leaf at path, if it has one.
func Default(path []string) (string, bool) {
	s, err := Lookup(path)
	if err != nil || !s.IsLeaf() || s.Default == "" {
		return "", false
	}
	return s.Default, true
}

// Value returns the value of the leaf at path, or the schema's default when
// it is not set ("" and false when it has neither). For a leaf-list it is
// the first value. cmd/sluiced reads the daemon settings this way.
func (t *Tree) Value(path []string) (string, bool) {
	if vs, ok := t.Get(path); ok {
		return vs[0], true
	}
	return Default(path)
}

// Exists reports whether the path (a node, or a leaf and one of its values)
// is in the tree.
func (t *Tree) Exists(path []string) bool {
	n, r, err := t.find(path)
	if err != nil {
		return false
	}
	return !r.hasValue || contains(n.vals, r.value)
}

// Children lists the names under the node at path in tree order: the
// instance names of a tag ([ipsec sa] lists the SA names), the keywords set
// under a container or instance. Nil when the path is not in the tree.
func (t *Tree) Children(path []string) []string {
	n, r, err := t.find(path)
	if err != nil || r.leaf != nil {
		return nil
	}
	out := make([]string, len(n.kids))
	for i, k := range n.kids {
		out[i] = k.name
	}
	return out
}

// Empty reports whether nothing is set.
func (t *Tree) Empty() bool { return len(t.root.kids) == 0 }
