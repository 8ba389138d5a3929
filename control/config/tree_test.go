package config

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestSetBuildsVyOSPaths(t *testing.T) {
	tr := New()
	for _, c := range []string{
		"set firewall name WAN_LOCAL default-action drop",
		"set firewall name WAN_LOCAL rule 10 action accept",
		"set firewall name WAN_LOCAL rule 10 protocol udp",
		"set firewall name WAN_LOCAL rule 10 destination port 1701",
		"set firewall name WAN_LOCAL rule 10 ipsec match-ipsec",
		"set interfaces eth0 address 203.0.113.1",
		"set interfaces eth0 address 203.0.113.2",
		"set interfaces eth0 address 203.0.113.1", // already there: no duplicate
		"set firewall name WAN_LOCAL rule 10 disable",
	} {
		if err := tr.Set(cmd(c)[1:]); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
	}
	checks := []struct {
		path string
		want []string
	}{
		{"firewall name WAN_LOCAL rule 10 ipsec", []string{"match-ipsec"}},
		{"firewall name WAN_LOCAL rule 10 destination port", []string{"1701"}},
		{"interfaces eth0 address", []string{"203.0.113.1", "203.0.113.2"}},
		{"firewall name WAN_LOCAL rule 10 disable", []string{"true"}}, // valueless leaf means true
	}
	for _, c := range checks {
		got, ok := tr.Get(cmd(c.path))
		if !ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("Get(%s) = %v, %v; want %v", c.path, got, ok, c.want)
		}
	}
	// The YAML key path is the shell path (VyOS), and case is kept.
	y := string(tr.YAML(Redacted))
	for _, want := range []string{"WAN_LOCAL:", "rule:\n        10:", "ipsec: match-ipsec", "address: [203.0.113.1, 203.0.113.2]"} {
		if !strings.Contains(y, want) {
			t.Errorf("YAML lacks %q:\n%s", want, y)
		}
	}
	// A leaf is replaced by a second set.
	if err := tr.Set(cmd("firewall name WAN_LOCAL rule 10 action drop")); err != nil {
		t.Fatal(err)
	}
	if got, _ := tr.Get(cmd("firewall name WAN_LOCAL rule 10 action")); !reflect.DeepEqual(got, []string{"drop"}) {
		t.Errorf("action after second set = %v, want [drop]", got)
	}
}

func TestSetRefusesAndLeavesTreeUnchanged(t *testing.T) {
	tr := New()
	cases := []struct {
		name, path, wantPath, wantErr string
	}{
		{"unknown node", "firewall name X rule 10 bogus 1", "firewall name X rule 10", "unknown node \"bogus\""},
		{"bad value", "firewall name X rule 10 action maybe", "firewall name X rule 10 action", "unknown value \"maybe\""},
		{"rule number range", "firewall name X rule 1000000 action accept", "firewall name X rule", "out of range 1-999999"},
		{"tag needs a name", "firewall name", "firewall name", "name needs a name"},
		{"leaf needs a value", "firewall name X rule 10 action", "firewall name X rule 10 action", "needs a value"},
		{"two values", "firewall name X rule 10 action accept drop", "firewall name X rule 10 action", "takes one value; 2 given"},
		{"spi zero", "ipsec sa a spi 0", "ipsec sa a spi", "0 is reserved"},
		{"bad tag name", "ipsec sa a/b spi 0x1000", "ipsec sa", "is not a name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := tr.Set(cmd(c.path))
			pe := onePathError(t, err)
			if got := strings.Join(pe.Path, " "); got != c.wantPath {
				t.Errorf("path = %q, want %q", got, c.wantPath)
			}
			if !strings.Contains(pe.Err.Error(), c.wantErr) {
				t.Errorf("error = %q, want it to contain %q", pe.Err, c.wantErr)
			}
			if !tr.Empty() {
				t.Errorf("tree changed by a refused set:\n%s", tr)
			}
		})
	}
	if err := tr.Set(cmd("nonsense")); !isErr(err, ErrUnknownNode) {
		t.Errorf("Set(nonsense) = %v, want ErrUnknownNode", err)
	}
}

func TestDelete(t *testing.T) {
	tr := mustLoadFile(t, "testdata/lab.yaml")
	// A leaf-list value.
	if err := tr.Set(cmd("interfaces eth0 address 10.99.0.3")); err != nil {
		t.Fatal(err)
	}
	if err := tr.Delete(cmd("interfaces eth0 address 10.99.0.3")); err != nil {
		t.Fatal(err)
	}
	if got, _ := tr.Get(cmd("interfaces eth0 address")); !reflect.DeepEqual(got, []string{"10.99.0.1"}) {
		t.Errorf("address after delete = %v, want [10.99.0.1]", got)
	}
	// The last leaf of a container takes the empty container with it, but
	// the rule instance stays.
	if err := tr.Delete(cmd("firewall name WAN_LOCAL rule 10 destination port")); err != nil {
		t.Fatal(err)
	}
	if tr.Exists(cmd("firewall name WAN_LOCAL rule 10 destination")) {
		t.Error("empty destination container left behind")
	}
	if !tr.Exists(cmd("firewall name WAN_LOCAL rule 10")) {
		t.Error("rule 10 went away with its last condition")
	}
	// A leaf with its value; a wrong value is not found.
	if err := tr.Delete(cmd("firewall name WAN_LOCAL rule 10 action drop")); !isErr(err, ErrNotFound) {
		t.Errorf("delete with the wrong value = %v, want ErrNotFound", err)
	}
	if err := tr.Delete(cmd("firewall name WAN_LOCAL rule 10 action accept")); err != nil {
		t.Fatal(err)
	}
	// A whole subtree.
	if err := tr.Delete(cmd("ipsec sa out-client1")); err != nil {
		t.Fatal(err)
	}
	if got := tr.Children(cmd("ipsec sa")); !reflect.DeepEqual(got, []string{"in-client1"}) {
		t.Errorf("SAs after delete = %v, want [in-client1]", got)
	}
	// Deleting the last instance of a tag removes the tag and empty parents.
	if err := tr.Delete(cmd("ipsec sa in-client1")); err != nil {
		t.Fatal(err)
	}
	if tr.Exists(cmd("ipsec")) {
		t.Error("empty ipsec container left behind")
	}
	if err := tr.Delete(cmd("ipsec sa in-client1")); !isErr(err, ErrNotFound) {
		t.Errorf("second delete = %v, want ErrNotFound", err)
	}
}

func TestNumericTagsSortAndNamesKeepOrder(t *testing.T) {
	tr := New()
	for _, c := range []string{
		"firewall name B default-action drop", "firewall name a default-action drop",
		"firewall name B rule 100 action accept", "firewall name B rule 20 action accept",
		"firewall name B rule 3 action accept", "firewall name B rule 020 action drop",
	} {
		if err := tr.Set(cmd(c)); err != nil {
			t.Fatal(err)
		}
	}
	if got := tr.Children(cmd("firewall name")); !reflect.DeepEqual(got, []string{"B", "a"}) {
		t.Errorf("ruleset order = %v, want insertion order [B a]", got)
	}
	if got := tr.Children(cmd("firewall name B rule")); !reflect.DeepEqual(got, []string{"3", "20", "100"}) {
		t.Errorf("rule order = %v, want numeric [3 20 100] (020 is rule 20)", got)
	}
	// Many instances go through the index; lookups still find them all.
	for i := 999; i >= 1; i -= 7 {
		if err := tr.Set([]string{"firewall", "name", "B", "rule", strconv.Itoa(i), "action", "accept"}); err != nil {
			t.Fatal(err)
		}
	}
	rules := tr.Children(cmd("firewall name B rule"))
	for i := 1; i < len(rules); i++ {
		if !lessNum(rules[i-1], rules[i]) {
			t.Fatalf("rules out of order at %d: %v", i, rules[i-1:i+1])
		}
	}
	if !tr.Exists(cmd("firewall name B rule 999 action accept")) {
		t.Error("rule 999 not found through the index")
	}
}

func TestSetLeafOverlaysDaemonSettings(t *testing.T) {
	tr := mustLoadFile(t, "testdata/sluice.yaml")
	for _, c := range []struct{ path, value string }{
		{"api socket", "/tmp/sluice-test.sock"},
		{"metrics listen", "[::1]:9999"},
		{"dataplane workers", "2"},
		{"dataplane cpus", "2-3"},
		{"log format", "JSON"},
		{"interfaces eth0 address", "203.0.113.1, 203.0.113.9"},
	} {
		if err := tr.SetLeaf(cmd(c.path), c.value); err != nil {
			t.Fatalf("SetLeaf(%s): %v", c.path, err)
		}
	}
	cfg, err := tr.Config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API.Socket != "/tmp/sluice-test.sock" || cfg.Metrics.Listen != "[::1]:9999" ||
		cfg.Dataplane.Workers != 2 || !reflect.DeepEqual(cfg.Dataplane.CPUs, []int{2, 3}) || cfg.Log.Format != "json" {
		t.Errorf("overlay not applied: %+v %+v %+v %+v", cfg.API, cfg.Metrics, cfg.Dataplane, cfg.Log)
	}
	if got := len(cfg.Interfaces["eth0"].Address); got != 2 {
		t.Errorf("leaf-list overlay gave %d addresses, want 2", got)
	}
	if err := tr.SetLeaf(cmd("dataplane"), "x"); err == nil {
		t.Error("SetLeaf on a container succeeded")
	}
	if err := tr.SetLeaf(cmd("dataplane workers"), "many"); err == nil {
		t.Error("SetLeaf with a bad value succeeded")
	}
}

func TestCloneIsDeep(t *testing.T) {
	a := mustLoadFile(t, "testdata/lab.yaml")
	b := a.Clone()
	if !Equal(a, b) {
		t.Fatal("clone differs")
	}
	if err := b.Set(cmd("firewall name WAN_LOCAL rule 10 action drop")); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Get(cmd("firewall name WAN_LOCAL rule 10 action")); got[0] != "accept" {
		t.Errorf("editing the clone changed the original: %v", got)
	}
	if Equal(a, b) {
		t.Error("Equal after an edit")
	}
}

func TestMergeAndSub(t *testing.T) {
	a := mustLoadFile(t, "testdata/lab.yaml")
	o := New()
	for _, c := range []string{
		"firewall name WAN_LOCAL rule 10 action drop", // replaces
		"firewall name WAN_LOCAL rule 20 action accept",
		"interfaces eth0 address 10.99.0.5", // adds to the list
	} {
		if err := o.Set(cmd(c)); err != nil {
			t.Fatal(err)
		}
	}
	a.Merge(o)
	if got, _ := a.Get(cmd("firewall name WAN_LOCAL rule 10 action")); got[0] != "drop" {
		t.Errorf("merged action = %v, want drop", got)
	}
	if got, _ := a.Get(cmd("interfaces eth0 address")); !reflect.DeepEqual(got, []string{"10.99.0.1", "10.99.0.5"}) {
		t.Errorf("merged addresses = %v", got)
	}
	if got, _ := a.Get(cmd("firewall name WAN_LOCAL rule 10 protocol")); got[0] != "udp" {
		t.Errorf("merge lost protocol: %v", got)
	}
	sub, err := a.Sub(cmd("firewall name WAN_LOCAL rule 20"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"set firewall name WAN_LOCAL rule 20 action accept"}
	if got := sub.Commands(Redacted); !reflect.DeepEqual(got, want) {
		t.Errorf("Sub commands = %q, want %q", got, want)
	}
}

func TestDiff(t *testing.T) {
	a := mustLoadFile(t, "testdata/lab.yaml")
	b := a.Clone()
	for _, c := range []string{
		"set firewall name WAN_LOCAL rule 10 action drop",
		"set firewall name WAN_LOCAL rule 20 action accept",
		"set firewall name WAN_LOCAL rule 20 protocol esp",
		"delete ipsec sa out-client1",
		"set ipsec sa in-client1 enc-key 0x000102030405060708090a0b0c0d0e0f10111213",
		"set interfaces eth0 address 10.99.0.7",
	} {
		w := cmd(c)
		var err error
		if w[0] == "set" {
			err = b.Set(w[1:])
		} else {
			err = b.Delete(w[1:])
		}
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
	}
	var got []string
	for _, d := range Diff(a, b) {
		got = append(got, d.String())
	}
	want := []string{
		"+ set interfaces eth0 address 10.99.0.7",
		"- set ipsec sa in-client1 enc-key <redacted>",
		"+ set ipsec sa in-client1 enc-key <redacted>",
		"- set ipsec sa out-client1 spi 0x0000c002",
		"- set ipsec sa out-client1 direction out",
		"- set ipsec sa out-client1 mode transport",
		"- set ipsec sa out-client1 source 10.99.0.1",
		"- set ipsec sa out-client1 destination 10.99.0.2",
		"- set ipsec sa out-client1 proposal aes128gcm16",
		"- set ipsec sa out-client1 enc-key <redacted>",
		"- set firewall name WAN_LOCAL rule 10 action accept",
		"+ set firewall name WAN_LOCAL rule 10 action drop",
		"+ set firewall name WAN_LOCAL rule 20 action accept",
		"+ set firewall name WAN_LOCAL rule 20 protocol esp",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Diff:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d := Diff(a, a.Clone()); len(d) != 0 {
		t.Errorf("Diff of equal trees = %v", d)
	}
	// Reordered leaf-list values are not a change.
	x, y := New(), New()
	_ = x.Set(cmd("interfaces eth0 address 192.0.2.1"))
	_ = x.Set(cmd("interfaces eth0 address 192.0.2.2"))
	_ = y.Set(cmd("interfaces eth0 address 192.0.2.2"))
	_ = y.Set(cmd("interfaces eth0 address 192.0.2.1"))
	if d := Diff(x, y); len(d) != 0 || !Equal(x, y) {
		t.Errorf("reordered list: Diff = %v, Equal = %v", d, Equal(x, y))
	}
}

func TestComplete(t *testing.T) {
	tr := mustLoadFile(t, "testdata/lab.yaml")
	words := func(cs []Completion, literal bool) []string {
		var out []string
		for _, c := range cs {
			if c.Literal == literal {
				out = append(out, c.Word)
			}
		}
		return out
	}
	cases := []struct {
		name    string
		path    []string
		literal []string
		holder  []string
	}{
		{"top level", []string{""}, []string{"log", "api", "metrics", "dataplane", "interfaces", "ipsec", "firewall", "l2tp"}, nil},
		{"prefix", []string{"f"}, []string{"firewall"}, nil},
		{"rule numbers", append(cmd("firewall name WAN_LOCAL rule"), ""), []string{"10"}, []string{"<1-999999>"}},
		{"rule keywords", append(cmd("firewall name WAN_LOCAL rule 10"), "de"), []string{"description", "destination"}, nil},
		{"enum values", append(cmd("firewall name WAN_LOCAL rule 10 ipsec"), ""), []string{"match-ipsec", "match-none"}, nil},
		{"reference to SA names", append(cmd("ipsec sa in-client1 pair"), ""), []string{"in-client1", "out-client1"}, []string{"<name>"}},
		{"keys are never offered", append(cmd("ipsec sa in-client1 enc-key"), ""), nil, []string{"<0x-hex key>"}},
		{"keyword besides numbers", append(cmd("dataplane workers"), ""), []string{"auto"}, []string{"<1-1024>"}},
		{"after a value", append(cmd("firewall name WAN_LOCAL rule 10 action accept"), ""), nil, nil},
		{"unknown", []string{"bogus", ""}, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := tr.Complete(c.path)
			if l := words(got, true); !reflect.DeepEqual(l, c.literal) {
				t.Errorf("literals = %q, want %q", l, c.literal)
			}
			if h := words(got, false); !reflect.DeepEqual(h, c.holder) {
				t.Errorf("placeholders = %q, want %q", h, c.holder)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	cases := []struct{ path, want string }{
		{"firewall name WAN_LOCAL rule 10 ipsec", "match-ipsec | match-none"},
		{"ipsec sa x replay-window", "default: 1024"},
		{"ipsec sa x spi", "RFC 4303 section 2.1"},
		{"l2tp lns hello-interval", "default: 60s"},
		{"firewall name X rule 10 action", "required"},
		{"interfaces eth0 address", "a list"},
	}
	for _, c := range cases {
		if got := Help(cmd(c.path)); !strings.Contains(got, c.want) {
			t.Errorf("Help(%s) = %q, want it to contain %q", c.path, got, c.want)
		}
	}
	if got := Help(cmd("no such path")); got != "" {
		t.Errorf("Help of an unknown path = %q", got)
	}
}

func TestValueFallsBackToDefault(t *testing.T) {
	tr := mustLoadFile(t, "testdata/lab.yaml")
	for _, c := range []struct {
		path, want string
		ok         bool
	}{
		{"api socket", "/run/sluice/sluice.sock", true},     // default
		{"metrics listen", "127.0.0.1:9477", true},          // default
		{"interfaces eth0 driver", "mem", true},             // set
		{"ipsec sa in-client1 replay-window", "1024", true}, // set
		{"ipsec sa in-client1 pair", "out-client1", true},
		{"api group", "", false}, // neither
	} {
		got, ok := tr.Value(cmd(c.path))
		if got != c.want || ok != c.ok {
			t.Errorf("Value(%s) = %q, %v; want %q, %v", c.path, got, ok, c.want, c.ok)
		}
	}
}
