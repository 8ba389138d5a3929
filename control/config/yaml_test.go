package config

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestYAMLEdgeCases(t *testing.T) {
	cases := []struct {
		name, text string
		path       string   // leaf to read when it parses
		want       []string // its values
		err        string   // else: the error
	}{
		{"SPI as a number", "ipsec: {sa: {a: {spi: 49153}}}", "ipsec sa a spi", []string{"0x0000c001"}, ""},
		{"SPI as hex", "ipsec: {sa: {a: {spi: 0x0000C001}}}", "ipsec sa a spi", []string{"0x0000c001"}, ""},
		{"SPI as quoted hex", "ipsec: {sa: {a: {spi: '0xc001'}}}", "ipsec sa a spi", []string{"0x0000c001"}, ""},
		{"key keeps every digit", "ipsec: {sa: {a: {enc-key: 0x00000000000000000000000000000000000000ff}}}",
			"ipsec sa a enc-key", []string{"0x00000000000000000000000000000000000000ff"}, ""},
		{"key as a float-looking scalar", "ipsec: {sa: {a: {enc-key: 1e10}}}", "", nil, "0x-prefixed hex"},
		{"valueless leaf", "firewall: {name: {X: {rule: {1: {disable: }}}}}", "firewall name X rule 1 disable", []string{"true"}, ""},
		{"yes is true", "ipsec: {sa: {a: {esn: yes}}}", "ipsec sa a esn", []string{"true"}, ""},
		{"scalar for a leaf-list", "interfaces: {eth0: {address: 192.0.2.1}}", "interfaces eth0 address", []string{"192.0.2.1"}, ""},
		{"list for a port spec", "firewall: {name: {X: {rule: {1: {destination: {port: [500, 4500]}}}}}}",
			"firewall name X rule 1 destination port", []string{"500,4500"}, ""},
		{"list for a plain leaf", "firewall: {name: {X: {default-action: [drop]}}}", "", nil, "takes one value, not a list"},
		{"empty string kept", "metrics: {listen: \"\"}", "metrics listen", []string{""}, ""},
		{"JSON", `{"firewall": {"name": {"X": {"rule": {"10": {"action": "accept"}}}}}}`,
			"firewall name X rule 10 action", []string{"accept"}, ""},
		{"null document", "~", "", nil, ""},
		{"unknown key", "firewall: {nam: {}}", "", nil, `unknown node "nam"`},
		{"duplicate key", "api: {socket: /a}\napi: {socket: /b}\n", "", nil, "key given twice"},
		{"duplicate instance", "firewall: {name: {X: {rule: {10: {}, 010: {}}}}}", "", nil, "given twice"},
		{"anchor", "api: &a {socket: /x}\nmetrics: *a\n", "", nil, "anchors and aliases"},
		{"two documents", "api: {}\n---\napi: {}\n", "", nil, "more than one YAML document"},
		{"syntax", "api:\n  socket: [\n", "", nil, "syntax error"},
		{"a list at the top", "- a\n- b\n", "", nil, "want a mapping"},
		{"leaf as mapping", "api: {socket: {a: b}}", "", nil, "not a mapping"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, err := Parse([]byte(c.text), FormatYAML)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				if len(PathErrors(err)) == 0 {
					t.Errorf("error is not a PathError: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.path == "" {
				if !tr.Empty() {
					t.Errorf("tree not empty:\n%s", tr)
				}
				return
			}
			if got, _ := tr.Get(cmd(c.path)); !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s = %q, want %q", c.path, got, c.want)
			}
		})
	}
}

func TestValueTypes(t *testing.T) {
	// Canonical spellings and refusals, written from each type's definition.
	leaf := func(path string) *Schema {
		s, err := Lookup(cmd(path))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cases := []struct {
		path, in, want string // want "" means refused
	}{
		{"ipsec sa a spi", "0x0000c001", "0x0000c001"},
		{"ipsec sa a spi", "49153", "0x0000c001"},
		{"ipsec sa a spi", "0xFFFFFFFF", "0xffffffff"},
		{"ipsec sa a spi", "4294967296", ""},
		{"ipsec sa a spi", "0x", ""},
		{"ipsec sa a spi", "-1", ""},
		{"ipsec sa a enc-key", "0xAB:CD ef", "0xabcdef"},
		{"ipsec sa a enc-key", "0xabc", ""}, // odd number of digits
		{"ipsec sa a replay-window", "0", "0"},
		{"ipsec sa a replay-window", "01024", "1024"},
		{"ipsec sa a replay-window", "+5", ""},
		{"ipsec sa a source", "2001:DB8::1", "2001:db8::1"},
		{"ipsec sa a source", "fe80::1%eth0", ""},
		{"ipsec sa a source", "192.0.2.01", ""},
		{"ipsec sa a life life-bytes", "10g", "10G"},
		{"ipsec sa a life life-bytes", "0010K", "10K"},
		{"ipsec sa a life life-bytes", "16777216T", ""}, // 2^24 * 2^40 overflows 64 bits
		{"ipsec sa a life rekey-time", "3300S", "3300s"},
		{"ipsec sa a life rekey-time", "1d", "1d"},
		{"ipsec sa a life rekey-time", "1h30m", "1h30m"},
		{"ipsec sa a life rekey-time", "-1s", ""},
		{"ipsec sa a life rekey-time", "1w", ""},
		{"firewall name X rule 1 protocol", "UDP", "udp"},
		{"firewall name X rule 1 protocol", "017", "17"},
		{"firewall name X rule 1 protocol", "ipv6-icmp", "ipv6-icmp"},
		{"firewall name X rule 1 destination port", " 500 , 1000-2000 ", "500,1000-2000"},
		{"firewall name X rule 1 destination port", "1701-1701", "1701"},
		{"firewall name X rule 1 destination port", "65536", ""},
		{"firewall name X rule 1 destination port", "a-b", ""},
		{"firewall name X rule 1 source address", "! 10.0.0.0/8", "!10.0.0.0/8"},
		{"firewall name X rule 1 source address", "2001:db8::/32", "2001:db8::/32"},
		{"firewall name X rule 1 source address", "10.0.0.1-10.0.0.9", ""},
		{"firewall name X rule 1 ipsec", "MATCH-IPSEC-IN", "match-ipsec"},
		{"firewall name X rule 1 disable", "on", "true"},
		{"dataplane workers", "AUTO", "auto"},
		{"dataplane workers", "0", ""},
		{"dataplane cpus", "0-3, 6", "0-3,6"},
		{"interfaces eth0 queues", "ALL", "all"},
		{"l2tp lns sccrq-rate", "0.50", "0.5"},
		{"l2tp lns sccrq-rate", "NaN", ""},
		{"l2tp lns sccrq-rate", "0x10", ""},
		{"api socket", "/run//sluice/./x.sock", "/run/sluice/x.sock"},
		{"metrics listen", ":9477", ":9477"},
		{"metrics listen", "127.0.0.1:0", ""},
	}
	for _, c := range cases {
		got, err := leaf(c.path).Normalize(c.in)
		if c.want == "" {
			if err == nil {
				t.Errorf("%s %q accepted as %q, want refused", c.path, c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s %q = %q, %v; want %q", c.path, c.in, got, err, c.want)
		}
	}
	// Byte sizes are powers of 1024, as strongSwan's swanctl reads them.
	if n, _ := parseBytes("10G"); n != 10*1024*1024*1024 {
		t.Errorf("10G = %d", n)
	}
	if d, _ := parseDuration("60"); d.Seconds() != 60 {
		t.Errorf("bare 60 = %v, want 60 seconds", d)
	}
	if d, _ := parseDuration("1d"); d.Hours() != 24 {
		t.Errorf("1d = %v", d)
	}
}

// trickyText are descriptions that stress YAML scalar quoting: indicators,
// comment and mapping look-alikes, quotes, null and non-ASCII.
var trickyText = []string{
	"a: b", "#x", "x #y", "-", "- a", "-a", "!x", "&a", "*a", "[a]", "{a}", "a,b", "?", ":", "a:", "%x", "@x", "`x",
	"'q'", `"dq"`, `back\slash`, "<redacted>", "é ünïcode", " lead", "trail ", "=", "|", ">", "a\u2028b",
	"null", "~", "", "yes", "100", "0x10", "1e5", "L2TP only in IPsec",
}

func trickyTree(t *testing.T) *Tree {
	tr := New()
	for i, s := range trickyText {
		if err := tr.Set([]string{"firewall", "name", "X", "rule", strconv.Itoa(i + 1), "description", s}); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
	}
	return tr
}

func TestYAMLQuoting(t *testing.T) {
	tr := trickyTree(t)
	roundTrip(t, tr)
	// yaml.v3 decoding our output into Go values (not nodes) agrees too.
	var m map[string]map[string]map[string]map[string]map[string]map[string]string
	if err := yaml.Unmarshal(tr.YAML(Revealed), &m); err != nil {
		t.Fatal(err)
	}
	for i, s := range trickyText {
		if got := m["firewall"]["name"]["X"]["rule"][strconv.Itoa(i+1)]["description"]; got != s {
			t.Errorf("yaml.v3 reads %q back as %q", s, got)
		}
	}
}

func TestYAMLQuotingOracle(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import yaml").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-yaml is required under CI: %v", err)
		}
		t.Skipf("python3 with PyYAML not available: %v", err)
	}
	// PyYAML is YAML 1.1: it types plain yes, 100, 0x10 and 1e5; those are
	// left out, the rest must read back as the very same strings.
	typed := map[string]bool{"yes": true, "100": true, "0x10": true, "1e5": true}
	tr := New()
	var want []string
	for _, s := range trickyText {
		if typed[s] {
			continue
		}
		if err := tr.Set([]string{"firewall", "name", "X", "rule", strconv.Itoa(len(want) + 1), "description", s}); err != nil {
			t.Fatal(err)
		}
		want = append(want, s)
	}
	f := filepath.Join(t.TempDir(), "q.yaml")
	if err := os.WriteFile(f, tr.YAML(Revealed), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", `import sys, json, yaml
d = yaml.safe_load(open(sys.argv[1]))["firewall"]["name"]["X"]["rule"]
print(json.dumps([d[k]["description"] for k in sorted(d)]))`, f).CombinedOutput()
	if err != nil {
		t.Fatalf("PyYAML: %v\n%s", err, out)
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PyYAML reads:\n%q\nwant:\n%q", got, want)
	}
}
