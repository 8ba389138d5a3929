package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// roundTrip checks YAML → tree → curly → tree → YAML, and the commands
// and JSON renderings, on one tree.
func roundTrip(t *testing.T, t1 *Tree) {
	t.Helper()
	curly := t1.Curly(Revealed)
	t2, err := Parse(curly, FormatAuto)
	if err != nil {
		t.Fatalf("curly rendering does not parse: %v\n%s", err, curly)
	}
	if !Equal(t1, t2) {
		t.Fatalf("curly round trip changed the tree: %v\n%s", Diff(t1, t2), curly)
	}
	y1, y2 := t1.YAML(Revealed), t2.YAML(Revealed)
	if !bytes.Equal(y1, y2) {
		t.Fatalf("YAML after the curly round trip differs:\n%s\n---\n%s", y1, y2)
	}
	t3, err := Parse(y1, FormatAuto)
	if err != nil {
		t.Fatalf("YAML rendering does not parse: %v\n%s", err, y1)
	}
	if !Equal(t1, t3) || !bytes.Equal(t3.YAML(Revealed), y1) {
		t.Fatalf("YAML round trip changed the tree: %v", Diff(t1, t3))
	}
	cmds := strings.Join(t1.Commands(Revealed), "\n")
	t4, err := Parse([]byte(cmds), FormatAuto)
	if err != nil {
		t.Fatalf("commands do not parse: %v\n%s", err, cmds)
	}
	if !Equal(t1, t4) {
		t.Fatalf("commands round trip changed the tree: %v", Diff(t1, t4))
	}
	js, err := json.Marshal(t1)
	if err != nil || !json.Valid(js) {
		t.Fatalf("JSON rendering invalid: %v\n%s", err, js)
	}
	// JSON is YAML: it reads back, keys redacted.
	if _, err := Parse(js, FormatAuto); err != nil && !strings.Contains(err.Error(), "key") {
		t.Fatalf("JSON rendering does not parse: %v", err)
	}
}

func TestRoundTripTestdata(t *testing.T) {
	for _, name := range []string{"testdata/sluice.yaml", "testdata/lab.yaml"} {
		t.Run(filepath.Base(name), func(t *testing.T) { roundTrip(t, mustLoadFile(t, name)) })
	}
	t.Run("seed", func(t *testing.T) { roundTrip(t, mustParse(t, seedFile, FormatCurly)) })
}

// architectureYAML extracts the example configuration from the shared
// ARCHITECTURE.md, its "0x..." key placeholders filled in. The file sits
// beside the repository in every checkout (developers' and CI's).
func architectureYAML(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../../shared/ARCHITECTURE.md")
	if err != nil {
		t.Skipf("shared/ARCHITECTURE.md is not beside the repository: %v", err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("ARCHITECTURE.md has no yaml block")
	}
	return strings.ReplaceAll(string(m[1]), "0x...", "0xfeffe9928665731c6d6a8f9467308308cafebabe")
}

func TestArchitectureExample(t *testing.T) {
	text := architectureYAML(t)
	tr, err := Parse([]byte(text), FormatAuto)
	if err != nil {
		t.Fatalf("ARCHITECTURE.md's example does not load: %v", err)
	}
	roundTrip(t, tr)
	// Every leaf the example writes, as the set commands an operator would
	// type for it (read off ARCHITECTURE.md, in its order).
	want := []string{
		"set api socket /run/sluice/sluice.sock",
		"set metrics listen 127.0.0.1:9477",
		"set dataplane workers auto",
		"set dataplane idle poll",
		"set interfaces eth0 driver afxdp",
		"set interfaces eth0 queues all",
		"set interfaces eth0 xdp-mode auto",
		"set interfaces eth0 address 203.0.113.1",
		"set ipsec sa in-client1 spi 0x0000c001",
		"set ipsec sa in-client1 direction in",
		"set ipsec sa in-client1 mode transport",
		"set ipsec sa in-client1 source 198.51.100.7",
		"set ipsec sa in-client1 destination 203.0.113.1",
		"set ipsec sa in-client1 encapsulation none",
		"set ipsec sa in-client1 proposal aes128gcm16",
		"set ipsec sa in-client1 enc-key <redacted>",
		"set ipsec sa in-client1 auth-key <redacted>",
		"set ipsec sa in-client1 esn false",
		"set ipsec sa in-client1 replay-window 1024",
		"set ipsec sa in-client1 pair out-client1",
		"set ipsec sa in-client1 life rekey-time 3300s",
		"set ipsec sa in-client1 life life-time 3600s",
		"set ipsec sa in-client1 life life-bytes 10G",
		"set ipsec sa in-client1 life life-packets 1000000000",
		"set firewall name WAN_LOCAL default-action drop",
		"set firewall name WAN_LOCAL rule 10 action accept",
		"set firewall name WAN_LOCAL rule 10 protocol udp",
		"set firewall name WAN_LOCAL rule 10 destination port 1701",
		"set firewall name WAN_LOCAL rule 10 ipsec match-ipsec",
		"set firewall interface eth0 local WAN_LOCAL",
		"set l2tp lns hostname sluice",
		"set l2tp lns hello-interval 60",
		"set l2tp static tunnel 1 peer-tunnel 1",
		"set l2tp static tunnel 1 sa in-client1",
		"set l2tp static tunnel 1 session 1 peer-session 1",
	}
	if got := tr.Commands(Redacted); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the example's leaves:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// As written, the example is an excerpt: its one SA names a pair that is
	// not there, and it gives an AEAD suite an auth-key. Validation must say
	// exactly that and nothing else.
	_, err = tr.Config()
	var got []string
	for _, pe := range PathErrors(err) {
		got = append(got, pe.Error())
	}
	// Lines counted in ARCHITECTURE.md's yaml block (auth-key is its 26th
	// line, pair its 29th).
	want = []string{
		"26:7: ipsec sa in-client1 auth-key: aes128gcm16 is an AEAD proposal: it takes no auth-key",
		"29:7: ipsec sa in-client1 pair: no SA named out-client1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("validation of the example:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// exampleValue returns a valid value for a leaf, from its type alone.
func exampleValue(s *Schema) string {
	switch s.Type {
	case TypeString:
		return "an example, with spaces"
	case TypeName:
		return "Example_1"
	case TypeBool:
		return "true"
	case TypeUint:
		return fmt.Sprint(s.Min + 1)
	case TypeHex32:
		return "0x0000c001"
	case TypeDecimal:
		return "2.5"
	case TypeKey:
		return "0x00112233445566778899aabbccddeeff00112233"
	case TypeIP:
		return "2001:db8::1"
	case TypeAddrMatch:
		return "!192.0.2.0/24"
	case TypePorts:
		return "500,1000-2000"
	case TypeProtocol:
		return "ipv6-icmp"
	case TypeDuration:
		return "1d"
	case TypeBytes:
		return "500M"
	case TypeEnum:
		return s.Values[len(s.Values)-1]
	case TypeIndexList:
		return "0-3,6"
	case TypeHostPort:
		return "[::1]:9477"
	case TypePath:
		return "/run/x.sock"
	case TypeIfName:
		return "veth-a.100"
	}
	return "?"
}

// fullTree sets every leaf of the schema once (tags get one instance).
func fullTree(t *testing.T) (*Tree, int) {
	tr := New()
	n := 0
	var walk func(s *Schema, prefix []string)
	walk = func(s *Schema, prefix []string) {
		for _, c := range s.Children {
			p := with(prefix, c.Name)
			switch c.Kind {
			case KindContainer:
				walk(c, p)
			case KindTag:
				walk(c, with(p, exampleValue(&Schema{Type: c.Type, Min: c.Min})))
			default:
				if err := tr.Set(with(p, exampleValue(c))); err != nil {
					t.Fatalf("set %v: %v", p, err)
				}
				n++
			}
		}
	}
	walk(Root(), nil)
	return tr, n
}

func TestEverySchemaNodeRoundTrips(t *testing.T) {
	tr, leaves := fullTree(t)
	if got := len(tr.Commands(Revealed)); got != leaves {
		t.Errorf("%d leaves set, %d command lines", leaves, got)
	}
	roundTrip(t, tr)
}

// TestYAMLOracle has an independent YAML implementation (PyYAML) read both
// the hand-written files and this package's rendering of them: the data
// must be the same, so the rendering says what the operator wrote.
func TestYAMLOracle(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import yaml").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-yaml is required under CI: %v", err)
		}
		t.Skipf("python3 with PyYAML not available: %v", err)
	}
	const script = `import sys, json, yaml
print(json.dumps(yaml.safe_load(open(sys.argv[1])), sort_keys=True, default=str))`
	load := func(path string) string {
		out, err := exec.Command(py, "-c", script, path).CombinedOutput()
		if err != nil {
			t.Fatalf("PyYAML on %s: %v\n%s", path, err, out)
		}
		return string(out)
	}
	dir := t.TempDir()
	for _, name := range []string{"testdata/sluice.yaml", "testdata/lab.yaml"} {
		ours := filepath.Join(dir, filepath.Base(name))
		if err := os.WriteFile(ours, mustLoadFile(t, name).YAML(Revealed), 0o600); err != nil {
			t.Fatal(err)
		}
		if a, b := load(name), load(ours); a != b {
			t.Errorf("%s: PyYAML reads the original and the rendering differently:\n%s\n%s", name, a, b)
		}
	}
	// What PyYAML itself writes, this package reads. PyYAML (YAML 1.1)
	// reads an unquoted 0x... as an integer and dumps it in decimal: for
	// the SPI that is fine (49153 is 0xc001), for a key it must be refused,
	// never read as hex digits. With the keys quoted, the dump reads back
	// to the same tree.
	const dump = `import sys, yaml
print(yaml.safe_dump(yaml.safe_load(open(sys.argv[1])), default_flow_style=False))`
	lab := mustLoadFile(t, "testdata/lab.yaml")
	out, err := exec.Command(py, "-c", dump, "testdata/lab.yaml").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "spi: 49153") {
		t.Fatalf("PyYAML did not turn the SPI into a decimal number:\n%s", out)
	}
	_, err = Parse(out, FormatYAML)
	var paths []string
	for _, pe := range PathErrors(err) {
		paths = append(paths, strings.Join(pe.Path, " "))
	}
	if want := []string{"ipsec sa in-client1 enc-key", "ipsec sa out-client1 enc-key"}; strings.Join(paths, ",") != strings.Join(want, ",") {
		t.Errorf("decimal keys: problems at %q, want %q (%v)", paths, want, err)
	}
	quoted := filepath.Join(dir, "quoted.yaml")
	src, _ := os.ReadFile("testdata/lab.yaml")
	src = regexp.MustCompile(`(enc-key: )(0x[0-9a-f]+)`).ReplaceAll(src, []byte(`$1"$2"`))
	if err := os.WriteFile(quoted, src, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err = exec.Command(py, "-c", dump, quoted).Output(); err != nil {
		t.Fatal(err)
	}
	if got := mustParse(t, string(out), FormatYAML); !Equal(got, lab) {
		t.Errorf("PyYAML's dump reads differently: %v\n%s", Diff(lab, got), out)
	}
}
