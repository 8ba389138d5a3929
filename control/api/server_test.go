package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicenet/sluice/control"
	"github.com/sluicenet/sluice/control/api/client"
	"github.com/sluicenet/sluice/control/api/types"
	"github.com/sluicenet/sluice/control/config"
	ct "github.com/sluicenet/sluice/control/controltest"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/mem"
)

// lab is a daemon in miniature: one worker on a mem port, a controller
// running the lab configuration with client 1, and the API server on a
// real unix socket in a directory it creates.
type lab struct {
	dp     *dataplane.Dataplane
	port   *mem.Port
	ctrl   *control.Controller
	srv    *Server
	cli    *client.Client
	socket string
	save   string
}

func newLab(t *testing.T, opts Options) *lab {
	t.Helper()
	dir := t.TempDir()
	l := &lab{dp: dataplane.New(), socket: filepath.Join(dir, "run", "sluice", "sluice.sock"), save: filepath.Join(dir, "sluice.yaml")}
	l.port = mem.New(mem.Options{Name: "eth0"})
	l.dp.AddWorker(dataplane.WorkerOptions{Port: l.port, CPU: -1, IdleWait: time.Millisecond})
	l.ctrl = control.NewController(l.dp, control.Options{})
	tree, err := config.Parse([]byte(ct.LabYAML(1)), config.FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.ctrl.Commit(tree, "boot", "lab"); err != nil {
		t.Fatal(err)
	}
	l.dp.Start()
	t.Cleanup(l.dp.Stop)
	opts.Socket, opts.SavePath = l.socket, l.save
	if opts.Group == "" {
		opts.Group = strconv.Itoa(os.Getgid())
	}
	if l.srv, err = NewServer(l.ctrl, opts); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- l.srv.Serve() }()
	t.Cleanup(func() {
		if err := l.srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	l.cli = client.New(l.socket)
	return l
}

// send injects frames and waits for the worker to take them all.
func (l *lab) send(t *testing.T, frames ...[]byte) {
	t.Helper()
	want := l.dp.Counts()[dataplane.StatRxPackets] + uint64(len(frames))
	for _, f := range frames {
		ct.Inject(l.port, f)
	}
	ct.WaitFor(t, "the worker", func() bool { return l.dp.Counts()[dataplane.StatRxPackets] == want })
}

// raw does one request over the socket and returns the status and body.
func (l *lab) raw(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", l.socket)
	}}}
	req, _ := http.NewRequest(method, "http://sluiced"+path, strings.NewReader(body))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func wantStatus(t *testing.T, err error, status int) *client.Error {
	t.Helper()
	ce, ok := err.(*client.Error)
	if !ok || ce.Status != status {
		t.Fatalf("err = %v, want an API error with status %d", err, status)
	}
	return ce
}

func TestSocketModeGroupAndLifecycle(t *testing.T) {
	l := newLab(t, Options{})
	st, err := os.Stat(l.socket)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode %v, want a socket with 0660", st.Mode())
	}
	if gid := st.Sys().(*syscall.Stat_t).Gid; int(gid) != os.Getgid() {
		t.Fatalf("socket group %d, want %d", gid, os.Getgid())
	}
	dst, _ := os.Stat(filepath.Dir(l.socket))
	if dst.Mode().Perm() != 0o750 {
		t.Fatalf("socket directory mode %v, want 0750", dst.Mode().Perm())
	}
	if tmps, _ := filepath.Glob(filepath.Join(filepath.Dir(l.socket), ".*")); len(tmps) != 0 {
		t.Fatalf("temporary sockets left: %v", tmps)
	}
	// A second daemon must not steal a live socket.
	if _, err := NewServer(l.ctrl, Options{Socket: l.socket}); err == nil || !strings.Contains(err.Error(), "another daemon") {
		t.Fatalf("second server on a live socket: %v", err)
	}
	if _, err := l.cli.Status(context.Background()); err != nil {
		t.Fatalf("the first server stopped answering: %v", err)
	}
	// A stale socket (its daemon died) is replaced.
	stale := filepath.Join(t.TempDir(), "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	srv, err := NewServer(l.ctrl, Options{Socket: stale})
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	go srv.Serve()
	if _, err := client.New(stale).Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if _, err := os.Lstat(stale); !os.IsNotExist(err) {
		t.Fatalf("Close left the socket: %v", err)
	}
	notSock := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notSock, nil, 0o600)
	if _, err := NewServer(l.ctrl, Options{Socket: notSock}); err == nil {
		t.Fatal("a regular file was replaced by the socket")
	}
	if _, err := NewServer(l.ctrl, Options{Socket: stale, Group: "no-such-group-xyz"}); err == nil {
		t.Fatal("unknown group accepted")
	}
}

func TestAPIOperationalViews(t *testing.T) {
	l := newLab(t, Options{})
	ctx := context.Background()
	cli1 := ct.ClientSA(t, 1)
	l.send(t, ct.L2TPOverESP(t, cli1, 1, 100), ct.L2TPOverESP(t, cli1, 1, 100), ct.L2TPOverESP(t, cli1, 1, 100), ct.CleartextL2TP(t, 1))

	st, err := l.cli.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Revision != 1 || st.Workers != 1 || st.Version == "" || st.UptimeSeconds < 0 || st.Saved != -1 {
		t.Fatalf("status = %+v", st)
	}
	ifs, err := l.cli.Interfaces(ctx)
	if err != nil || len(ifs) != 1 || ifs[0].RxPackets != 4 || ifs[0].Drops != 1 || ifs[0].Port.Mode != "mem" {
		t.Fatalf("interfaces = %+v, %v", ifs, err)
	}
	ws, err := l.cli.Workers(ctx)
	if err != nil || len(ws) != 1 || ws[0].Counters["delivered"] != 3 || ws[0].Drops["l2tp-cleartext"] != 1 {
		t.Fatalf("workers = %+v, %v", ws, err)
	}
	sas, err := l.cli.SAs(ctx)
	if err != nil || len(sas) != 1 || sas[0].Name != "in-c1" || sas[0].Packets != 3 || sas[0].SPI != "0x0000c001" {
		t.Fatalf("sas = %+v, %v", sas, err)
	}
	tun, err := l.cli.L2TPTunnels(ctx)
	if err != nil || len(tun) != 1 || tun[0].SA != "in-c1" {
		t.Fatalf("tunnels = %+v, %v", tun, err)
	}
	sess, err := l.cli.L2TPSessions(ctx)
	if err != nil || len(sess) != 1 || sess[0].Packets != 3 || sess[0].Bytes != 300 {
		t.Fatalf("sessions = %+v, %v", sess, err)
	}
	fw, err := l.cli.Firewall(ctx, "")
	if err != nil || len(fw) != 1 || fw[0].Rules[0].Packets != 3 || fw[0].DefaultPackets != 1 {
		t.Fatalf("firewall = %+v, %v", fw, err)
	}
	if one, err := l.cli.Firewall(ctx, "WAN_LOCAL"); err != nil || len(one) != 1 || one[0].Name != "WAN_LOCAL" {
		t.Fatalf("firewall WAN_LOCAL = %+v, %v", one, err)
	}
	_, err = l.cli.Firewall(ctx, "NOPE")
	wantStatus(t, err, http.StatusNotFound)
	d, err := l.cli.Drops(ctx)
	if err != nil || d.Total != 1 || len(d.Reasons) != int(dataplane.NumDropReasons) || d.Reasons[dataplane.DropL2TPCleartext].Packets != 1 {
		t.Fatalf("drops = %+v, %v", d, err)
	}
	raw, err := l.cli.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var stats struct {
		Drops map[string]uint64 `json:"drops"`
		SA    map[string]struct {
			Packets uint64 `json:"packets"`
		} `json:"sa"`
	}
	if err := json.Unmarshal(raw, &stats); err != nil || stats.Drops["l2tp-cleartext"] != 1 || stats.SA["in-c1"].Packets != 3 ||
		len(stats.Drops) != int(dataplane.NumDropReasons) {
		t.Fatalf("stats = %s, %v", raw, err)
	}

	// clear: shown counters restart, the stats document (raw) does not.
	if err := l.cli.Clear(ctx, types.ClearAll, ""); err != nil {
		t.Fatal(err)
	}
	if sas, _ := l.cli.SAs(ctx); sas[0].Packets != 0 {
		t.Fatalf("after clear: %+v", sas[0])
	}
	if d, _ := l.cli.Drops(ctx); d.Total != 0 {
		t.Fatalf("after clear: %+v", d)
	}
	if raw, _ := l.cli.Stats(ctx); !bytes.Contains(raw, []byte(`"l2tp-cleartext": 1`)) {
		t.Fatalf("clear changed the raw stats: %s", raw)
	}
	wantStatus(t, l.cli.Clear(ctx, "bogus", ""), http.StatusBadRequest)
	wantStatus(t, l.cli.Clear(ctx, types.ClearSA, "nope"), http.StatusNotFound)
	wantStatus(t, l.cli.Clear(ctx, types.ClearAll, "in-c1"), http.StatusBadRequest) // found by FuzzRequest: was a 500

	if code, body := l.raw(t, "GET", "/v1/nothing", ""); code != http.StatusNotFound || !bytes.Contains(body, []byte(`"error"`)) {
		t.Fatalf("unknown endpoint: %d %s", code, body)
	}
	if code, _ := l.raw(t, "POST", "/v1/status", ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /v1/status: %d", code)
	}
}

func TestAPIConfigurationFlow(t *testing.T) {
	l := newLab(t, Options{})
	ctx := context.Background()
	me := userName(os.Getuid())
	alice, err := l.cli.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info, err := alice.Set(ctx, strings.Fields("firewall name WAN_LOCAL rule 20 action drop"))
	if err != nil || !info.Changed || info.Base != 1 {
		t.Fatalf("set: %+v, %v", info, err)
	}
	for _, f := range []string{"curly", "yaml", "commands", "json"} {
		c, err := alice.Show(ctx, f, strings.Fields("firewall name WAN_LOCAL"))
		if err != nil {
			t.Fatalf("show %s: %v", f, err)
		}
		all := c.Text + string(mustJSON(t, c.Tree))
		if !strings.Contains(all, "20") || strings.Contains(all, "in-c1") {
			t.Fatalf("show %s of the ruleset:\n%s", f, all)
		}
	}
	if c, _ := alice.Show(ctx, "commands", nil); !strings.Contains(c.Text, "set ipsec sa in-c1 enc-key <redacted>") {
		t.Fatalf("candidate keys not redacted:\n%s", c.Text)
	}
	cmp, err := alice.Compare(ctx)
	if err != nil || cmp.Stale || len(cmp.Lines) != 1 || cmp.Lines[0] != "+ set firewall name WAN_LOCAL rule 20 action drop" {
		t.Fatalf("compare = %+v, %v", cmp, err)
	}
	res, err := alice.Commit(ctx, "drop rule 20")
	if err != nil || !res.Changed || res.Revision != 2 || len(res.Diff) != 1 {
		t.Fatalf("commit = %+v, %v", res, err)
	}
	if res, err := alice.Commit(ctx, ""); err != nil || res.Changed {
		t.Fatalf("commit of nothing = %+v, %v", res, err)
	}
	hist, err := l.cli.History(ctx)
	if err != nil || len(hist) != 2 || hist[1].Who != me || hist[1].Comment != "drop rule 20" || !hist[1].Running {
		t.Fatalf("history = %+v, %v (want who %q)", hist, err, me)
	}

	// Bad input: 400 with the path; deleting what is not there: 404.
	_, err = alice.Set(ctx, strings.Fields("firewall name WAN_LOCAL rule 30 action maybe"))
	ce := wantStatus(t, err, http.StatusBadRequest)
	if len(ce.Body.Problems) != 1 || ce.Body.Problems[0].Path != "firewall name WAN_LOCAL rule 30 action" {
		t.Fatalf("problems = %+v", ce.Body.Problems)
	}
	_, err = alice.Set(ctx, strings.Fields("firewall nonsense"))
	wantStatus(t, err, http.StatusBadRequest)
	_, err = alice.Delete(ctx, strings.Fields("firewall name NOPE"))
	wantStatus(t, err, http.StatusNotFound)
	if code, body := l.raw(t, "POST", "/v1/config/sessions/"+alice.ID+"/set", `{"path": "not a list"}`); code != http.StatusBadRequest {
		t.Fatalf("bad JSON: %d %s", code, body)
	}
	if code, _ := l.raw(t, "POST", "/v1/config/sessions/"+alice.ID+"/set", `{"path": ["x"], "extra": 1}`); code != http.StatusBadRequest {
		t.Fatalf("unknown JSON field accepted: %d", code)
	}

	// A candidate the whole-tree validation refuses: 422, every problem.
	for _, p := range []string{"firewall interface eth0 local NOPE", "l2tp static tunnel 9 sa in-missing"} {
		if _, err := alice.Set(ctx, strings.Fields(p)); err != nil {
			t.Fatal(err)
		}
	}
	_, err = alice.Commit(ctx, "")
	ce = wantStatus(t, err, http.StatusUnprocessableEntity)
	paths := map[string]bool{}
	for _, p := range ce.Body.Problems {
		paths[p.Path] = true
	}
	if !paths["firewall interface eth0 local"] || !paths["l2tp static tunnel 9 sa"] || !strings.Contains(ce.Error(), "l2tp static tunnel 9") {
		t.Fatalf("422 problems = %+v", ce.Body)
	}
	if st, _ := l.cli.Status(ctx); st.Revision != 2 {
		t.Fatal("a refused commit changed the running revision")
	}
	if err := alice.Discard(ctx); err != nil {
		t.Fatal(err)
	}

	// Two operators: the second commit is refused until rebased.
	bob, _ := l.cli.Open(ctx)
	alice.Set(ctx, strings.Fields("firewall name WAN_LOCAL rule 30 action drop"))
	bob.Set(ctx, strings.Fields("firewall name WAN_LOCAL rule 40 action drop"))
	if _, err := alice.Commit(ctx, "30"); err != nil {
		t.Fatal(err)
	}
	_, err = bob.Commit(ctx, "40")
	ce = wantStatus(t, err, http.StatusConflict)
	if !strings.Contains(ce.Body.Error, "rebase") || !strings.Contains(ce.Body.Error, "compare") {
		t.Fatalf("conflict message: %q", ce.Body.Error)
	}
	if cmp, _ := bob.Compare(ctx); !cmp.Stale {
		t.Fatal("compare does not say the base is stale")
	}
	if _, err := bob.Rebase(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Commit(ctx, "40"); err != nil {
		t.Fatal(err)
	}
	run, _ := l.cli.Running(ctx, "commands", nil)
	if !strings.Contains(run.Text, "rule 30 action drop") || !strings.Contains(run.Text, "rule 40 action drop") || run.Revision != 4 {
		t.Fatalf("running after both commits (revision %d):\n%s", run.Revision, run.Text)
	}

	// load and merge text; rollback; sessions list and close.
	if _, err := bob.Merge(ctx, strings.Fields("firewall name WAN_LOCAL"), "rule 50 {\n\taction accept\n}\n", ""); err != nil {
		t.Fatal(err)
	}
	_, err = bob.Load(ctx, nil, "interfaces: {eth0: {bogus: 1}}\n", "yaml")
	ce = wantStatus(t, err, http.StatusBadRequest)
	if len(ce.Body.Problems) == 0 || ce.Body.Problems[0].Line != 1 {
		t.Fatalf("load problems = %+v", ce.Body)
	}
	_, err = bob.Rollback(ctx, 1)
	wantStatus(t, err, http.StatusConflict) // uncommitted changes
	bob.Discard(ctx)
	rb, err := bob.Rollback(ctx, 1)
	if err != nil || rb.Revision != 5 || !rb.Changed {
		t.Fatalf("rollback = %+v, %v", rb, err)
	}
	_, err = bob.Rollback(ctx, 99)
	wantStatus(t, err, http.StatusNotFound)
	if ss, _ := l.cli.Sessions(ctx); len(ss) != 2 {
		t.Fatalf("sessions = %+v", ss)
	}
	if err := bob.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = bob.Set(ctx, strings.Fields("firewall name X"))
	wantStatus(t, err, http.StatusNotFound)

	// Someone else's session: refused (the router sees an unknown peer).
	rec := httptest.NewRecorder()
	l.srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/config/sessions/"+alice.ID, nil))
	if os.Getuid() == 0 && rec.Code != http.StatusForbidden {
		t.Fatalf("another peer used root's session: %d", rec.Code)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAPICommitConfirm(t *testing.T) {
	l := newLab(t, Options{})
	ctx := context.Background()
	_, err := l.cli.Confirm(ctx)
	wantStatus(t, err, http.StatusConflict)
	s, _ := l.cli.Open(ctx)
	s.Set(ctx, strings.Fields("firewall name WAN_LOCAL rule 20 action drop"))
	_, err = s.CommitConfirm(ctx, "", 0)
	wantStatus(t, err, http.StatusBadRequest)
	res, err := s.CommitConfirm(ctx, "kept", time.Second)
	if err != nil || res.Pending == nil || res.Pending.RollbackTo != 1 || res.Revision != 2 {
		t.Fatalf("commit-confirm = %+v, %v", res, err)
	}
	if st, _ := l.cli.Status(ctx); st.Pending == nil {
		t.Fatal("status does not show the pending confirm")
	}
	if res, err := l.cli.Confirm(ctx); err != nil || res.Revision != 2 {
		t.Fatalf("confirm = %+v, %v", res, err)
	}
	s.Set(ctx, strings.Fields("firewall name WAN_LOCAL rule 21 action drop"))
	if _, err := s.CommitConfirm(ctx, "not kept", time.Second); err != nil {
		t.Fatal(err)
	}
	ct.WaitFor(t, "the rollback", func() bool {
		st, _ := l.cli.Status(ctx)
		return st.Revision == 4
	})
	hist, _ := l.cli.History(ctx)
	last := hist[len(hist)-1]
	if last.Who != "commit-confirm" || !strings.Contains(last.Comment, "revision 3 was not confirmed") {
		t.Fatalf("rollback revision = %+v", last)
	}
	run, _ := l.cli.Running(ctx, "commands", nil)
	if strings.Contains(run.Text, "rule 21") || !strings.Contains(run.Text, "rule 20") {
		t.Fatalf("after the rollback:\n%s", run.Text)
	}
}

func TestAPISave(t *testing.T) {
	l := newLab(t, Options{})
	ctx := context.Background()
	res, err := l.cli.Save(ctx, "")
	if err != nil || res.Path != l.save || res.Revision != 1 {
		t.Fatalf("save = %+v, %v", res, err)
	}
	st, _ := os.Stat(l.save)
	data, _ := os.ReadFile(l.save)
	if st.Mode().Perm() != 0o600 || !bytes.Contains(data, []byte(ct.KeyHex(1))) {
		t.Fatalf("saved file mode %v:\n%s", st.Mode().Perm(), data)
	}
	if res, err := l.cli.Save(ctx, "backup.yaml"); err != nil || res.Path != filepath.Join(filepath.Dir(l.save), "backup.yaml") {
		t.Fatalf("save backup.yaml = %+v, %v", res, err)
	}
	for _, bad := range []string{"../escape.yaml", "/etc/sluice-test.yaml", ".hidden", "sub/dir.yaml"} {
		_, err := l.cli.Save(ctx, bad)
		wantStatus(t, err, http.StatusBadRequest)
	}
	if st, _ := l.cli.Status(ctx); st.Saved != 1 {
		t.Fatalf("saved revision = %d", st.Saved)
	}
}

// TestAPINeverShowsKeys reads every GET endpoint and every rendering, and
// looks for the lab key in any spelling.
func TestAPINeverShowsKeys(t *testing.T) {
	l := newLab(t, Options{})
	ctx := context.Background()
	s, _ := l.cli.Open(ctx)
	key := ct.KeyHex(1)[2:]
	paths := []string{"/v1/config/sessions/" + s.ID + "/compare", "/v1/config/sessions"}
	for _, r := range Routes() {
		if r.Method == "GET" && !strings.Contains(r.Path, "{") {
			paths = append(paths, r.Path)
		}
	}
	for _, f := range []string{"curly", "yaml", "commands", "json"} {
		paths = append(paths, "/v1/config?format="+f, "/v1/config/sessions/"+s.ID+"?format="+f)
	}
	for _, p := range paths {
		code, body := l.raw(t, "GET", p, "")
		if code != http.StatusOK {
			t.Errorf("GET %s: %d %s", p, code, body)
		}
		if bytes.Contains(bytes.ToLower(body), []byte(key)) {
			t.Errorf("GET %s shows a key:\n%s", p, body)
		}
	}
}

func TestAPIBodyLimit(t *testing.T) {
	l := newLab(t, Options{MaxBody: 1024})
	ctx := context.Background()
	s, _ := l.cli.Open(ctx)
	_, err := s.Load(ctx, nil, strings.Repeat("# padding\n", 500), "")
	wantStatus(t, err, http.StatusRequestEntityTooLarge)
}
