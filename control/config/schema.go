package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind says how a schema node appears in the tree and in the shell.
type Kind uint8

// Kinds of schema nodes.
const (
	// KindContainer is a fixed keyword that holds other nodes: "firewall",
	// "destination". YAML: a mapping.
	KindContainer Kind = iota
	// KindTag is a keyword followed by instance names, each holding the
	// tag's Children: "rule 10", "name WAN_LOCAL", "sa in-client1". YAML: a
	// mapping from instance name to mapping.
	KindTag
	// KindLeaf is a keyword with one value: "action accept". YAML: a scalar.
	KindLeaf
	// KindLeafList is a keyword with a list of values; each `set` appends:
	// "address [a, b]". YAML: a sequence (a scalar is a list of one).
	KindLeafList
)

var kindNames = [...]string{"container", "tag", "leaf", "leaf-list"}

// String returns the kind's name.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Type is the value type of a leaf, or of a tag node's instance names.
type Type uint8

// Value types. Each has one canonical spelling, which the tree stores, so
// that two trees that mean the same thing compare equal.
const (
	TypeNone      Type = iota // containers: no value
	TypeString                // one line of text (descriptions); may be empty
	TypeName                  // an identifier: [A-Za-z0-9][A-Za-z0-9_.-]*, at most 64 bytes, case kept
	TypeIfName                // a Linux interface name: at most 15 bytes of [A-Za-z0-9_.-]
	TypeBool                  // true|false (yes|no|on|off accepted); canonical true|false
	TypeUint                  // decimal in [Min, Max]; canonical without leading zeros
	TypeHex32                 // 32-bit number as 0x-hex or decimal (YAML may hand hex over as a number); canonical 0x%08x
	TypeDecimal               // a non-negative decimal number such as 100 or 0.5
	TypeKey                   // secret 0x-hex key material; canonical 0x + lower-case hex; never printed
	TypeIP                    // an IPv4 or IPv6 address, no zone
	TypeAddrMatch             // an address or prefix, "!" in front negates: 10.0.0.0/8, !192.0.2.1
	TypePorts                 // L4 ports: 1701, 1000-2000, 500,4500 and combinations, 1-65535
	TypeProtocol              // an IP protocol: tcp udp icmp esp gre ipv6-icmp all, or 0-255
	TypeDuration              // 3300s, 55m, 1h, 1d, 500ms, 1h30m, or a bare number of seconds (swanctl style)
	TypeBytes                 // a byte count with an optional binary suffix K M G T (1K = 1024, as swanctl)
	TypeEnum                  // one of Values
	TypeIndexList             // numbers and ranges in [Min, Max]: 0-3,6 (queues, CPUs); keywords from Values
	TypeHostPort              // host:port for a listener; empty disables
	TypePath                  // an absolute file path
)

var typeNames = [...]string{
	TypeNone: "none", TypeString: "text", TypeName: "name", TypeIfName: "interface-name",
	TypeBool: "bool", TypeUint: "number", TypeHex32: "hex32", TypeDecimal: "decimal",
	TypeKey: "key", TypeIP: "ip-address", TypeAddrMatch: "address-match", TypePorts: "port-spec",
	TypeProtocol: "protocol", TypeDuration: "duration", TypeBytes: "byte-size", TypeEnum: "enum",
	TypeIndexList: "index-list", TypeHostPort: "host-port", TypePath: "path",
}

// String returns the type's name as help text shows it.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// Schema is one node of the configuration schema. The whole schema is one
// table (nodes.go) rooted at Root(); it is immutable after package init.
type Schema struct {
	Name string // keyword as written in YAML, curly syntax and the shell
	Kind Kind
	Type Type   // of the value (leaves) or of the instance names (tags)
	Help string // one line, shown by `?` and Help

	// Default is the value Config uses when the leaf is absent; "" means
	// no default (the leaf is optional, or required when Required is set).
	Default  string
	Required bool // Config reports the leaf's absence

	// Values: for TypeEnum, the allowed values; for other types, keywords
	// accepted besides the type's values ("auto", "all").
	Values []string
	// Synonyms maps other accepted spellings to canonical values (VyOS's
	// match-ipsec-in for match-ipsec). The tree stores the canonical one.
	Synonyms map[string]string

	// Min and Max bound TypeUint and TypeIndexList values; Max 0 means the
	// type's own limit.
	Min, Max uint64

	Secret    bool   // key material: redacted unless a rendering is Revealed
	Valueless bool   // TypeBool: a bare keyword means true, and true renders bare ("disable")
	Block     bool   // curly rendering puts the value in a block: "ipsec { match-ipsec }"
	Ref       string // the tag path whose instance names are valid values ("ipsec sa"), for completion

	// Check runs after the type's own parsing on the canonical value, for
	// rules the type cannot express; it returns the value to store.
	Check func(v string) (string, error)

	Children []*Schema

	parent *Schema
	byName map[string]*Schema
}

// Root returns the root of the schema; its Children are the top-level
// nodes (log, api, metrics, dataplane, interfaces, ipsec, firewall, l2tp).
func Root() *Schema { return root }

// Parent returns the enclosing schema node, nil for the root.
func (s *Schema) Parent() *Schema { return s.parent }

// Child returns the child schema node named name, or nil.
func (s *Schema) Child(name string) *Schema { return s.byName[name] }

// Path returns the node's schema path, tag instances left out
// ([firewall name rule action]).
func (s *Schema) Path() []string {
	var p []string
	for n := s; n != nil && n.parent != nil; n = n.parent {
		p = append(p, n.Name)
	}
	for i, j := 0, len(p)-1; i < j; i, j = i+1, j-1 {
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// IsLeaf reports whether the node holds a value (leaf or leaf-list).
func (s *Schema) IsLeaf() bool { return s.Kind == KindLeaf || s.Kind == KindLeafList }

// Lookup resolves a configuration path (tag instance names included, an
// optional value after a leaf ignored) to its schema node.
func Lookup(path []string) (*Schema, error) {
	s := root
	for i := 0; i < len(path); i++ {
		c := s.Child(path[i])
		if c == nil {
			return nil, &PathError{Path: clonePath(path[:i]), Err: unknownErr(s, path[i])}
		}
		s = c
		switch c.Kind {
		case KindTag:
			i++ // skip the instance name
		case KindLeaf, KindLeafList:
			return s, nil
		}
	}
	return s, nil
}

// Help returns the help text of the node at path (tag instance names and a
// trailing value may be included), with its type, range, allowed values and
// default; "" for a path the schema does not have.
func Help(path []string) string {
	s, err := Lookup(path)
	if err != nil || s == root {
		return ""
	}
	return s.Describe()
}

// Describe returns the node's help text followed by what it accepts.
func (s *Schema) Describe() string {
	var b strings.Builder
	b.WriteString(s.Help)
	if acc := s.accepts(); acc != "" {
		b.WriteString("\n  value: ")
		b.WriteString(acc)
	}
	if s.Kind == KindLeafList {
		b.WriteString("\n  a list: each set adds a value")
	}
	if s.Default != "" {
		b.WriteString("\n  default: ")
		b.WriteString(s.Default)
	}
	if s.Required {
		b.WriteString("\n  required")
	}
	return b.String()
}

// accepts describes the values the node takes, as a placeholder.
func (s *Schema) accepts() string {
	out := s.placeholder()
	if len(s.Values) > 0 && s.Type != TypeEnum {
		out = strings.Join(s.Values, " | ") + " | " + out
	}
	return out
}

// placeholder describes the values of the node's type, keywords left out.
func (s *Schema) placeholder() string {
	var out string
	switch s.Type {
	case TypeNone:
		return ""
	case TypeEnum:
		return strings.Join(s.Values, " | ")
	case TypeUint, TypeIndexList:
		out = fmt.Sprintf("<%d-%d>", s.Min, s.max())
		if s.Type == TypeIndexList {
			out = fmt.Sprintf("<%d-%d>[,<n>-<m>...]", s.Min, s.max())
		}
	case TypeHex32:
		out = "<0x00000100-0xffffffff>"
	case TypeBool:
		out = "true | false"
	case TypeDuration:
		out = "<duration: 3300s, 55m, 1h, 1d or seconds>"
	case TypeBytes:
		out = "<bytes: 1000, 500M, 10G (K, M, G, T are powers of 1024)>"
	case TypeKey:
		out = "<0x-hex key>"
	case TypeProtocol:
		out = strings.Join(protocolNames(), " | ") + " | <0-255>"
	default:
		out = "<" + s.Type.String() + ">"
	}
	return out
}

func (s *Schema) max() uint64 {
	if s.Max != 0 {
		return s.Max
	}
	switch s.Type {
	case TypeHex32:
		return 1<<32 - 1
	}
	return 1<<64 - 1
}

// childNames lists the keywords allowed under s, for error messages.
func (s *Schema) childNames() string {
	names := make([]string, len(s.Children))
	for i, c := range s.Children {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

func unknownErr(s *Schema, name string) error {
	return fmt.Errorf("%w %q (want one of: %s)", ErrUnknownNode, printable(name), s.childNames())
}

// printable cuts and escapes a word an operator wrote so an error message
// stays one readable line.
func printable(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.Trim(strconv.Quote(s), `"`)
}

func clonePath(p []string) []string { return append([]string(nil), p...) }

// link fills in parent pointers and name indexes; it panics on a duplicate
// name, a programming error in the table.
func link(s *Schema) {
	s.byName = make(map[string]*Schema, len(s.Children))
	for _, c := range s.Children {
		if _, dup := s.byName[c.Name]; dup {
			panic("config: duplicate schema node " + strings.Join(append(s.Path(), c.Name), " "))
		}
		c.parent = s
		s.byName[c.Name] = c
		link(c)
	}
}
