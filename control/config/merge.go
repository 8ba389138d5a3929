package config

// Sub returns a tree holding only the subtree at path, with its ancestors,
// for showing one part of the configuration.
func (t *Tree) Sub(path []string) (*Tree, error) {
	n, _, err := t.find(path)
	if err != nil {
		return nil, err
	}
	out := New()
	if n == t.root {
		return t.Clone(), nil
	}
	var chain []*node
	for p := n; p != t.root; p = p.parent {
		chain = append(chain, p)
	}
	cur := out.root
	for i := len(chain) - 1; i > 0; i-- {
		c := chain[i]
		cur = cur.ensure(c.sch, c.name, c.inst, c.line, c.col)
	}
	cur.addKid(n.clone(cur))
	return out, nil
}

// Merge adds every node of o to t, as `merge` does: o's leaves replace t's,
// o's leaf-list values are added to t's.
func (t *Tree) Merge(o *Tree) {
	mergeNode(t.root, o.root)
}

func mergeNode(dst, src *node) {
	if src.sch.Kind == KindLeaf && len(src.vals) > 0 {
		dst.vals = append(dst.vals[:0], src.vals...)
	} else {
		for _, v := range src.vals {
			if !contains(dst.vals, v) {
				dst.vals = append(dst.vals, v)
			}
		}
	}
	for _, k := range src.kids {
		d := dst.ensure(k.sch, k.name, k.inst, k.line, k.col)
		mergeNode(d, k)
	}
}
