package config

import (
	"reflect"
	"strings"
	"testing"
)

// seedFile is the seed's rule as an operator pastes it into a full
// configuration: tabs, uneven indentation, "rule 10 {" with its content on
// the following lines, the Vyatta valueless leaf "ipsec { match-ipsec }".
const seedFile = "firewall {\n" +
	"\tname WAN_LOCAL {\n" +
	"\t    default-action drop\n" +
	"  rule 10 {\n" +
	"        action accept\n" +
	"\tdestination {\n" +
	"\t        port 1701\n" +
	"\t}\n" +
	"\t  ipsec {\n" +
	"\t match-ipsec\n" +
	"\t    }\n" +
	"     protocol udp\n" +
	"  }\n" +
	"\t}\n" +
	"}\n"

// seedFragment is the seed's block alone, as pasted at `firewall name
// WAN_LOCAL`.
const seedFragment = "rule 10 {\n" +
	"    action accept\n" +
	"\tdestination {\n" +
	"        port 1701\n" +
	"  }\n" +
	"    ipsec {\n" +
	"\t\tmatch-ipsec\n" +
	"    }\n" +
	"    protocol udp\n" +
	"}\n"

// seedRule is what the seed means, written from Vyatta's semantics and
// IANA's protocol numbers (udp = 17), not from this package's output:
// accept UDP to port 1701 only when it arrived inside IPsec.
var seedRule = RuleSpec{
	Number:      10,
	Action:      ActionAccept,
	Protocol:    17,
	Destination: AddrMatch{Ports: []PortRange{{Lo: 1701, Hi: 1701}}},
	IPsec:       MatchIPsec,
}

func TestSeedCurlyLoads(t *testing.T) {
	if got := Detect([]byte(seedFile)); got != FormatCurly {
		t.Errorf("Detect(seed) = %v, want curly", got)
	}
	tr := mustParse(t, seedFile, FormatAuto)
	cfg, err := tr.Config()
	if err != nil {
		t.Fatal(err)
	}
	rs := cfg.Firewall.Names["WAN_LOCAL"]
	if rs.DefaultAction != ActionDrop {
		t.Errorf("default-action = %v, want drop", rs.DefaultAction)
	}
	if len(rs.Rules) != 1 || !reflect.DeepEqual(rs.Rules[0], seedRule) {
		t.Errorf("rules = %+v, want [%+v]", rs.Rules, seedRule)
	}
}

func TestSeedFragmentLoadsAtPath(t *testing.T) {
	tr := New()
	if err := tr.Set(cmd("firewall name WAN_LOCAL default-action drop")); err != nil {
		t.Fatal(err)
	}
	if err := tr.LoadFragment(cmd("firewall name WAN_LOCAL"), []byte(seedFragment), FormatAuto); err != nil {
		t.Fatal(err)
	}
	cfg, err := tr.Config()
	if err != nil {
		t.Fatal(err)
	}
	if rs := cfg.Firewall.Names["WAN_LOCAL"]; len(rs.Rules) != 1 || !reflect.DeepEqual(rs.Rules[0], seedRule) {
		t.Errorf("rules = %+v, want [%+v]", rs.Rules, seedRule)
	}
	// The same rule as YAML at the same path, and as the YAML the
	// architecture writes, gives the same tree.
	y := New()
	_ = y.Set(cmd("firewall name WAN_LOCAL default-action drop"))
	frag := "rule:\n  10:\n    action: accept\n    protocol: udp\n    destination: {port: 1701}\n    ipsec: match-ipsec\n"
	if err := y.LoadFragment(cmd("firewall name WAN_LOCAL"), []byte(frag), FormatAuto); err != nil {
		t.Fatal(err)
	}
	if !Equal(tr, y) {
		t.Errorf("curly and YAML fragments differ: %v", Diff(tr, y))
	}
	if !Equal(tr, mustParse(t, seedFile, FormatCurly)) {
		t.Error("fragment and full file differ")
	}
	// A fragment cannot go under a leaf or a bare tag.
	if err := tr.LoadFragment(cmd("firewall name"), []byte(seedFragment), FormatCurly); err == nil {
		t.Error("fragment at a tag keyword accepted")
	}
}

func TestVyOSSpellings(t *testing.T) {
	cases := []struct {
		name, text string
		f          Format
	}{
		{"curly block", "firewall { name X { rule 1 { action accept\n ipsec { match-ipsec } } } }", FormatCurly},
		{"curly one line", "firewall { name X { rule 1 { action accept; ipsec match-ipsec } } }", FormatCurly},
		{"curly VyOS 1.4 name", "firewall { name X { rule 1 { action accept\n ipsec {\n match-ipsec-in\n }\n } } }", FormatCurly},
		{"yaml", "firewall: {name: {X: {rule: {1: {action: accept, ipsec: match-ipsec}}}}}", FormatYAML},
		{"yaml VyOS synonym", "firewall: {name: {X: {rule: {1: {action: accept, ipsec: match-ipsec-in}}}}}", FormatYAML},
		{"yaml valueless mapping", "firewall:\n  name:\n    X:\n      rule:\n        1:\n          action: accept\n          ipsec: {match-ipsec: null}\n", FormatYAML},
		{"yaml valueless mapping, empty", "firewall:\n  name:\n    X:\n      rule:\n        1:\n          action: accept\n          ipsec:\n            match-ipsec:\n", FormatYAML},
		{"commands", "set firewall name X rule 1 action accept\nset firewall name X rule 1 ipsec match-ipsec\n", FormatCommands},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := mustParse(t, c.text, c.f)
			got, _ := tr.Get(cmd("firewall name X rule 1 ipsec"))
			if !reflect.DeepEqual(got, []string{"match-ipsec"}) {
				t.Errorf("ipsec = %v, want [match-ipsec]", got)
			}
			if Detect([]byte(c.text)) != c.f {
				t.Errorf("Detect = %v, want %v", Detect([]byte(c.text)), c.f)
			}
		})
	}
}

func TestCurlyDetails(t *testing.T) {
	text := `/* === a VyOS-style header comment
   over two lines === */
firewall {
    name WAN_LOCAL {
        description "L2TP only in IPsec"   # a comment after a value
        rule 20 {
            action drop
            description 'single "quoted"'
            source {
                address 192.0.2.0/24
                address !198.51.100.0/24
            }
        }
    }
}
interfaces eth0 {
    address 203.0.113.1
    address 203.0.113.2
    address 2001:db8::1
}
// Warning: Do not remove the following line.
`
	tr := mustParse(t, text, FormatAuto)
	for _, c := range []struct {
		path string
		want []string
	}{
		{"firewall name WAN_LOCAL description", []string{"L2TP only in IPsec"}},
		{"firewall name WAN_LOCAL rule 20 description", []string{`single "quoted"`}},
		{"firewall name WAN_LOCAL rule 20 source address", []string{"192.0.2.0/24", "!198.51.100.0/24"}},
		{"interfaces eth0 address", []string{"203.0.113.1", "203.0.113.2", "2001:db8::1"}},
	} {
		if got, _ := tr.Get(cmd(c.path)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %q, want %q", c.path, got, c.want)
		}
	}
	out := string(tr.Curly(Redacted))
	for _, want := range []string{`description "L2TP only in IPsec"`, `description "single \"quoted\""`, "    address 203.0.113.2\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("rendering lacks %q:\n%s", want, out)
		}
	}
	cmds := strings.Join(tr.Commands(Redacted), "\n")
	if !strings.Contains(cmds, "set firewall name WAN_LOCAL description 'L2TP only in IPsec'") {
		t.Errorf("commands lack the VyOS-quoted description:\n%s", cmds)
	}
	if !Equal(tr, mustParse(t, cmds, FormatCommands)) {
		t.Error("commands do not read back to the same tree")
	}
}

func TestCurlyErrorsCarryLineAndColumn(t *testing.T) {
	cases := []struct {
		name       string
		text       string
		line, col  int
		path, want string
	}{
		{"unknown keyword", "firewall {\n  name X {\n    rule 10 {\n      acton accept\n    }\n  }\n}\n", 4, 7, "firewall name X rule 10", `unknown node "acton"`},
		{"bad value", "firewall {\n\tname X {\n\t\trule 10 {\n\t\t\tprotocol udpp\n\t\t}\n\t}\n}\n", 4, 13, "firewall name X rule 10 protocol", `"udpp" is not a protocol`},
		{"missing brace", "firewall {\n  name X {\n", 3, 1, "", "missing }"},
		{"stray brace", "firewall {\n}\n}\n", 3, 1, "", "} without a {"},
		{"open quote", "firewall {\n  name X {\n    description \"oops\n  }\n}\n", 3, 17, "", "not closed"},
		{"open comment", "/* never closed\nfirewall {}\n", 1, 1, "", "comment /* is not closed"},
		{"leaf set twice", "firewall { name X {\n default-action drop\n default-action accept\n} }", 3, 17, "firewall name X default-action", "set twice (first at line 2)"},
		{"tag without name", "firewall {\n  name {\n  }\n}\n", 2, 3, "firewall name", "needs a name before {"},
		{"value then block", "firewall { name X { default-action drop {\n} } }", 1, 36, "firewall name X default-action", "takes a value, not a block"},
		{"two values in a leaf block", "firewall { name X { rule 1 { ipsec {\n match-ipsec match-none\n } } } }", 2, 14, "firewall name X rule 1 ipsec", "one value per line"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.text), FormatCurly)
			pes := PathErrors(err)
			if len(pes) == 0 {
				t.Fatalf("no PathError; err = %v", err)
			}
			pe := pes[0]
			if pe.Line != c.line || pe.Col != c.col {
				t.Errorf("at %d:%d, want %d:%d (%v)", pe.Line, pe.Col, c.line, c.col, pe)
			}
			if got := strings.Join(pe.Path, " "); got != c.path {
				t.Errorf("path = %q, want %q", got, c.path)
			}
			if !strings.Contains(pe.Err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", pe.Err, c.want)
			}
		})
	}
}

func TestCurlyReportsEveryStatementProblem(t *testing.T) {
	text := "firewall {\n" +
		"  name X {\n" +
		"    bogus 1\n" + // unknown node
		"    rule 0 {\n" + // out of range; the block is skipped
		"      action accept\n" +
		"    }\n" +
		"    rule 5 {\n" +
		"      action maybe\n" + // bad enum
		"      protocol udp\n" +
		"    }\n" +
		"  }\n" +
		"}\n"
	_, err := Parse([]byte(text), FormatCurly)
	pes := PathErrors(err)
	var lines []int
	for _, pe := range pes {
		lines = append(lines, pe.Line)
	}
	if !reflect.DeepEqual(lines, []int{3, 4, 8}) {
		t.Errorf("problems on lines %v, want [3 4 8]: %v", lines, err)
	}
}

func TestDetect(t *testing.T) {
	cases := []struct {
		text string
		want Format
	}{
		{"# comment\napi:\n  socket: /x\n", FormatYAML},
		{"---\napi: {}\n", FormatYAML},
		{`{"api": {"socket": "/x"}}`, FormatYAML},
		{"firewall {\n}\n", FormatCurly},
		{"rule 10 {\n action accept\n}\n", FormatCurly},
		{"interfaces eth0 {\n address fe80::1\n}\n", FormatCurly},
		{"metrics {\n listen 127.0.0.1:9477\n}\n", FormatCurly},
		{"\n  set firewall name X\n", FormatCommands},
		{"/* c */ firewall {}", FormatCurly},
		{"", FormatYAML},
	}
	for _, c := range cases {
		if got := Detect([]byte(c.text)); got != c.want {
			t.Errorf("Detect(%q) = %v, want %v", c.text, got, c.want)
		}
	}
}
