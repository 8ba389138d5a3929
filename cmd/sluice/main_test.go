package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/control"
	"github.com/sluicenet/sluice/control/api"
	"github.com/sluicenet/sluice/control/api/client"
	"github.com/sluicenet/sluice/control/config"
	ct "github.com/sluicenet/sluice/control/controltest"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/mem"
)

// daemon is what the shell talks to in these tests: a controller over one
// worker on a mem port running the lab configuration (client 1), and the
// real API server on a real unix socket. The test binary links the
// control plane; the sluice binary does not (TestShellDependencies).
type daemon struct {
	socket string
	ctrl   *control.Controller
	dp     *dataplane.Dataplane
	port   *mem.Port
	dir    string
}

func newDaemon(t *testing.T) *daemon {
	t.Helper()
	d := &daemon{dir: t.TempDir(), dp: dataplane.New()}
	d.socket = filepath.Join(d.dir, "sluice.sock")
	d.port = mem.New(mem.Options{Name: "eth0"})
	d.dp.AddWorker(dataplane.WorkerOptions{Port: d.port, CPU: -1, IdleWait: time.Millisecond})
	d.ctrl = control.NewController(d.dp, control.Options{})
	tree, err := config.Parse([]byte(ct.LabYAML(1)), config.FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.ctrl.Commit(tree, "boot", "lab"); err != nil {
		t.Fatal(err)
	}
	d.dp.Start()
	t.Cleanup(d.dp.Stop)
	srv, err := api.NewServer(d.ctrl, api.Options{Socket: d.socket, SavePath: filepath.Join(d.dir, "sluice.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { srv.Close() })
	// Traffic so that the tables have numbers: three packets through
	// in-c1, one cleartext L2TP refused.
	sa := ct.ClientSA(t, 1)
	for _, f := range [][]byte{ct.L2TPOverESP(t, sa, 1, 100), ct.L2TPOverESP(t, sa, 1, 100), ct.L2TPOverESP(t, sa, 1, 100), ct.CleartextL2TP(t, 1)} {
		ct.Inject(d.port, f)
	}
	ct.WaitFor(t, "the worker", func() bool { return d.dp.Counts()[dataplane.StatRxPackets] == 4 })
	return d
}

// sluice runs the shell's main with args and stdin.
func (d *daemon) sluice(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(append([]string{"--socket", d.socket, "--history", ""}, args...), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func wantLines(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

func TestOneShotCommands(t *testing.T) {
	d := newDaemon(t)
	key := ct.KeyHex(1)[2:]
	for _, tc := range []struct {
		cmd  string
		want []string
	}{
		{"show ipsec sa", []string{"sa ", "spi", "in-c1", "0x0000c001", "aes128gcm16", "10.99.1.2 > 10.99.0.1", "0/0", "ok"}},
		{"show interfaces", []string{"interface", "eth0", "mem", "rx-packets"}},
		{"show drops", []string{"l2tp-cleartext", "esp-replay", "total"}},
		{"show firewall", []string{"ruleset WAN_LOCAL, local on eth0", "match-ipsec", "port 1701", "default"}},
		{"show firewall name WAN_LOCAL statistics", []string{"packets", "bytes"}},
		{"show l2tp tunnel", []string{"static", "in-c1"}},
		{"show l2tp session", []string{"static", "in-c1", "300"}},
		{"show dataplane workers", []string{"worker", "eth0", "0/1024"}},
		{"show system commit", []string{"1 *", "boot", "lab"}},
		{"show configuration commands", []string{"set ipsec sa in-c1 enc-key <redacted>"}},
		{"show configuration", []string{"firewall {", "enc-key <redacted>"}},
		{"show status", []string{"revision  1", "workers   1"}},
	} {
		code, out, errOut := d.sluice(t, "", strings.Fields(tc.cmd)...)
		if code != 0 || errOut != "" {
			t.Errorf("sluice %s: exit %d, stderr %q", tc.cmd, code, errOut)
			continue
		}
		wantLines(t, tc.cmd, out, tc.want...)
		if strings.Contains(strings.ToLower(out), key) {
			t.Errorf("sluice %s printed a key:\n%s", tc.cmd, out)
		}
	}
	// Exact rows, not only words: the SA's counters and the rule's.
	_, out, _ := d.sluice(t, "", "show", "ipsec", "sa")
	if !regexpRow(out, "in-c1", "3", "348") { // 3 x (UDP 8 + L2TP 8 + PPP 100)
		t.Errorf("in-c1 row does not show 3 packets, 348 bytes:\n%s", out)
	}
	_, out, _ = d.sluice(t, "", "show", "firewall", "name", "WAN_LOCAL", "statistics")
	if !regexpRow(out, "10", "accept", "udp", "3") || !regexpRow(out, "default", "drop", "1") {
		t.Errorf("firewall statistics rows:\n%s", out)
	}
	// clear zeroes what show prints.
	if code, out, _ := d.sluice(t, "", "clear", "ipsec", "sa", "counters"); code != 0 || !strings.Contains(out, "cleared") {
		t.Fatalf("clear: %d %s", code, out)
	}
	_, out, _ = d.sluice(t, "", "show", "ipsec", "sa")
	if !regexpRow(out, "in-c1", "0", "0") {
		t.Errorf("after clear:\n%s", out)
	}
	if code, _, errOut := d.sluice(t, "", "show", "nonsense"); code != 1 || !strings.Contains(errOut, "error: unknown show command") {
		t.Errorf("bad command: exit %d, %q", code, errOut)
	}
	if code, _, errOut := d.sluice(t, "", "clear", "ipsec", "sa", "counters", "nope"); code != 1 || !strings.Contains(errOut, "no such object") {
		t.Errorf("clear of a missing SA: exit %d, %q", code, errOut)
	}
	// SLUICE_SOCKET stands in for --socket.
	t.Setenv("SLUICE_SOCKET", d.socket)
	var o bytes.Buffer
	if code := run([]string{"--history", "", "show", "status"}, strings.NewReader(""), &o, &o); code != 0 || !strings.Contains(o.String(), "revision") {
		t.Errorf("with SLUICE_SOCKET: %d %s", code, o.String())
	}
	if code := run([]string{"--socket", filepath.Join(d.dir, "nope.sock"), "show", "status"}, strings.NewReader(""), &o, &o); code != 1 {
		t.Errorf("a missing socket: exit %d", code)
	}
}

// regexpRow reports whether some line holds the fields in order.
func regexpRow(out string, fields ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		i := 0
		for _, x := range f {
			if i < len(fields) && x == fields[i] {
				i++
			}
		}
		if i == len(fields) && len(f) > 0 && f[0] == fields[0] {
			return true
		}
	}
	return false
}

// TestScriptedSession drives the shell through standard input, as a
// script (or an operator piping commands) would.
func TestScriptedSession(t *testing.T) {
	d := newDaemon(t)
	other := filepath.Join(d.dir, "other.yaml")
	if err := os.WriteFile(other, []byte("firewall {\n  name WAN_LOCAL {\n    rule 40 {\n\taction drop\n    }\n  }\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The seed's block as an operator pastes it, tabs and all, merged at a
	// ruleset.
	seed := filepath.Join(d.dir, "seed.curly")
	if err := os.WriteFile(seed, []byte("rule 10 {\n\taction accept\n    destination {\n\t\tport 1701\n  }\n\tipsec {\n\t\tmatch-ipsec\n\t}\n\tprotocol udp\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := `
configure
set firewall name WAN_LOCAL rule 20 action drop
set firewall name WAN_LOCAL rule 20 description 'block it'
show firewall name WAN_LOCAL rule 20
compare
exit
commit comment first change
run show system commit
set firewall name WAN_LOCAL rule 30 action bogus
delete firewall name NOPE
merge ` + other + `
merge ` + seed + ` firewall name LAB
set firewall name LAB default-action drop
show firewall name WAN_LOCAL | commands
show firewall name LAB | commands
commit
save
save backup.yaml
rollback 1
exit
show firewall
`
	code, out, errOut := d.sluice(t, script)
	if code != 1 {
		t.Errorf("exit %d, want 1 (the script has failing commands)", code)
	}
	wantLines(t, "output", out,
		"[edit]",
		"rule 20 {", "description \"block it\"",
		"+ set firewall name WAN_LOCAL rule 20 action drop", "+ set firewall name WAN_LOCAL rule 20 description 'block it'",
		"commit: revision 2",
		"first change",
		"set firewall name WAN_LOCAL rule 40 action drop",
		"set firewall name LAB rule 10 ipsec match-ipsec",
		"commit: revision 3",
		"saved revision 3 to "+filepath.Join(d.dir, "sluice.yaml"),
		"saved revision 3 to "+filepath.Join(d.dir, "backup.yaml"),
		"rollback: revision 4",
	)
	wantLines(t, "errors", errOut,
		"uncommitted changes",
		"firewall name WAN_LOCAL rule 30 action: ",
		"firewall name NOPE: not in the configuration",
	)
	run := d.ctrl.Running()
	if run.N != 4 || run.Tree.Exists(strings.Fields("firewall name WAN_LOCAL rule 20")) {
		t.Fatalf("running revision %d after rollback 1:\n%s", run.N, run.Tree)
	}
	r2, _ := d.ctrl.Revision(2)
	if v, _ := r2.Tree.Get(strings.Fields("firewall name WAN_LOCAL rule 20 description")); len(v) != 1 || v[0] != "block it" {
		t.Fatalf("revision 2's description = %v", v)
	}
	if h := d.ctrl.History(); h[1].Comment != "first change" || h[1].Who == "" {
		t.Fatalf("history = %+v", h[1])
	}
	saved, err := os.ReadFile(filepath.Join(d.dir, "sluice.yaml"))
	if err != nil || !bytes.Contains(saved, []byte(ct.KeyHex(1))) {
		t.Fatalf("the saved file does not hold the configuration with its keys: %v", err)
	}
	if strings.Contains(out+errOut, ct.KeyHex(1)[2:]) {
		t.Fatal("the shell printed a key")
	}
	if n := len(d.ctrlSessions(t)); n != 0 {
		t.Fatalf("%d configuration sessions left open", n)
	}
}

func (d *daemon) ctrlSessions(t *testing.T) []string {
	ss, err := client.New(d.socket).Sessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range ss {
		ids = append(ids, s.ID)
	}
	return ids
}

func TestExitDiscardAndConflict(t *testing.T) {
	d := newDaemon(t)
	// Another operator commits while this one edits: the commit is refused
	// with what to do, rebase resolves it.
	other, _ := client.New(d.socket).Open(context.Background())
	script := `
configure
set interfaces eth0 address 10.99.0.7
run show status
commit
rebase
commit comment after rebase
set firewall name WAN_LOCAL default-action accept
exit discard
`
	sh := newShell(client.New(d.socket), nil, nil)
	var out, errOut bytes.Buffer
	sh.out, sh.errOut = &out, &errOut
	lines := strings.Split(strings.TrimSpace(script), "\n")
	for i, l := range lines {
		if i == 3 { // before `commit`: the other operator commits first
			other.Set(context.Background(), strings.Fields("firewall name WAN_LOCAL rule 99 action drop"))
			if _, err := other.Commit(context.Background(), "other"); err != nil {
				t.Fatal(err)
			}
		}
		if err := sh.exec(context.Background(), l); err != nil {
			sh.printErr(err)
		}
	}
	wantLines(t, "errors", errOut.String(), "changed since your candidate was made", "rebase")
	wantLines(t, "output", out.String(), "your changes, replayed on revision 2", "+ set interfaces eth0 address 10.99.0.7",
		"commit: revision 3", "changes discarded")
	run := d.ctrl.Running().Tree
	if !run.Exists(strings.Fields("firewall name WAN_LOCAL rule 99")) || !run.Exists(strings.Fields("interfaces eth0 address 10.99.0.7")) {
		t.Fatalf("running after rebase:\n%s", run)
	}
	if v, _ := run.Get(strings.Fields("firewall name WAN_LOCAL default-action")); len(v) != 1 || v[0] != "drop" {
		t.Fatalf("exit discard committed something: %v", v)
	}
	if sh.configuring() {
		t.Fatal("still in configuration mode")
	}
}

func TestMonitorRefreshes(t *testing.T) {
	d := newDaemon(t)
	var out bytes.Buffer
	sh := newShell(client.New(d.socket), &out, &out)
	sh.interval, sh.frames = 10*time.Millisecond, 3
	if err := sh.exec(context.Background(), "monitor drops"); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\033[H\033[2J"); n != 3 {
		t.Fatalf("%d refreshes, want 3:\n%s", n, out.String())
	}
	wantLines(t, "monitor", out.String(), "l2tp-cleartext", "monitor drops")
	if err := sh.exec(context.Background(), "monitor nonsense"); err == nil {
		t.Fatal("monitor of nothing accepted")
	}
}

func TestCompletionAndHelp(t *testing.T) {
	d := newDaemon(t)
	var out bytes.Buffer
	sh := newShell(client.New(d.socket), &out, &out)
	c := completer{sh}
	do := func(line string) []string {
		cands, n := c.Do([]rune(line), len([]rune(line)))
		var got []string
		for _, x := range cands {
			got = append(got, strings.TrimSpace(line[len(line)-n:]+string(x)))
		}
		return got
	}
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"show ip", []string{"ipsec"}},
		{"show l2tp ", []string{"tunnel", "session"}},
		{"show firewall name ", []string{"WAN_LOCAL"}},
		{"clear ipsec sa counters ", []string{"in-c1"}},
		{"conf", []string{"configure", "confirm"}},
	} {
		if got := do(tc.line); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("complete %q = %v, want %v", tc.line, got, tc.want)
		}
	}
	if err := sh.exec(context.Background(), "configure"); err != nil {
		t.Fatal(err)
	}
	defer sh.close()
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"set fire", []string{"firewall"}},
		{"set firewall name WAN_LOCAL rule 10 ac", []string{"action"}},
		{"set firewall name WAN_LOCAL rule 10 action ", []string{"accept", "drop"}},
		{"set firewall name ", []string{"WAN_LOCAL"}},
		{"set l2tp static tunnel 1 sa ", []string{"in-c1"}},
		{"delete ipsec sa ", []string{"in-c1"}},
		{"set ipsec sa in-c1 enc-key ", nil}, // a key is never offered
		{"com", []string{"compare", "commit", "commit-confirm"}},
		{"run show dr", []string{"drops"}},
		{"exit ", []string{"discard"}},
	} {
		if got := do(tc.line); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("complete %q = %v, want %v", tc.line, got, tc.want)
		}
	}
	out.Reset()
	sh.help(&out, "set firewall name WAN_LOCAL rule 10 ipsec ")
	wantLines(t, "help", out.String(), "match-ipsec", "match-none", "only packets that arrived inside an SA")
	out.Reset()
	line, pos, ok := sh.onKey([]rune("set firewall name WAN_LOCAL rule 10 ?"), 37, '?')
	if !ok || string(line) != "set firewall name WAN_LOCAL rule 10 " || pos != 36 {
		t.Fatalf("onKey = %q %d %v", string(line), pos, ok)
	}
	wantLines(t, "? help", out.String(), "action", "What happens to a matching packet", "destination")
	if _, _, ok := sh.onKey([]rune("set firewall name X description 'why?"), 37, '?'); ok {
		t.Fatal("? inside quotes was taken as help")
	}
}

func TestSplitWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{"set a b", []string{"set", "a", "b"}, false},
		{"  set\ta  ", []string{"set", "a"}, false},
		{"set description 'L2TP only in IPsec'", []string{"set", "description", "L2TP only in IPsec"}, false},
		{`set description "it's \"fine\""`, []string{"set", "description", `it's "fine"`}, false},
		{"set description ''", []string{"set", "description", ""}, false},
		{"set description 'héllo wörld'", []string{"set", "description", "héllo wörld"}, false},
		{"set 'unterminated", nil, true},
	} {
		got, err := splitWords(tc.in)
		if (err != nil) != tc.err || strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestShellDependencies: the shell links the API client, its documents
// and the configuration schema, never the control plane or the dataplane.
func TestShellDependencies(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list dependencies with")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	deps := strings.Fields(string(out))
	for _, d := range deps {
		switch {
		case d == "github.com/sluicenet/sluice/control", d == "github.com/sluicenet/sluice/control/api",
			strings.HasPrefix(d, "github.com/sluicenet/sluice/dataplane"), strings.HasPrefix(d, "github.com/sluicenet/sluice/l2tp"):
			t.Errorf("cmd/sluice depends on %s", d)
		}
	}
	if !strings.Contains(string(out), "github.com/sluicenet/sluice/control/api/client") {
		t.Fatal("go list output does not look like cmd/sluice's dependencies")
	}
}
