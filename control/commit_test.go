package control

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/control/config"
	"github.com/sluicenet/sluice/dataplane"
)

func TestDefaultOptions(t *testing.T) {
	d := DefaultOptions()
	if d.History != 50 || d.DiffLog != 200 || d.Logger == nil || d.Clock == nil || d.AfterFunc == nil || d.Version == "" {
		t.Fatalf("DefaultOptions = %+v", d)
	}
	fired := make(chan struct{})
	d.AfterFunc(time.Millisecond, func() { close(fired) })
	select {
	case <-fired:
	case <-time.After(10 * time.Second):
		t.Fatal("default AfterFunc never fired")
	}
	c := NewController(dataplane.New(), Options{})
	if c.opts.History != 50 || c.Running().N != 0 || !c.Running().Tree.Empty() || c.Saved() != -1 {
		t.Fatalf("NewController defaults: history %d, running %d, saved %d", c.opts.History, c.Running().N, c.Saved())
	}
}

func TestCommitPublishesAndRecords(t *testing.T) {
	dp := dataplane.New()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	c := NewController(dp, Options{Clock: func() time.Time { return now }})
	rev, err := c.Commit(mustTree(t, labYAML(1)), "alice", "first")
	if err != nil {
		t.Fatal(err)
	}
	if rev.N != 1 || rev.Who != "alice" || rev.Comment != "first" || !rev.When.Equal(now) {
		t.Fatalf("revision = %+v", rev)
	}
	tb := dp.Tables()
	if tb == nil || tb.SAs.Len() != 1 || len(tb.Sessions) != 1 || tb.Ifaces["eth0"].Local.Name != "WAN_LOCAL" {
		t.Fatalf("published tables do not hold the configuration: %+v", tb)
	}
	if _, err := c.Commit(mustTree(t, labYAML(1)), "bob", "again"); !errors.Is(err, ErrNoChanges) {
		t.Fatalf("committing the running configuration again: err = %v, want ErrNoChanges", err)
	}
	if dp.Tables() != tb {
		t.Fatal("a commit with no changes published a new snapshot")
	}
	rev2, err := c.Commit(mustTree(t, labYAML(1, 2)), "bob", "second client")
	if err != nil {
		t.Fatal(err)
	}
	if rev2.N != 2 || dp.Tables().SAs.Len() != 2 {
		t.Fatalf("second commit: revision %d, %d SAs", rev2.N, dp.Tables().SAs.Len())
	}
	h := c.History()
	if len(h) != 2 || h[0].Who != "alice" || h[1].Who != "bob" || h[1].Comment != "second client" {
		t.Fatalf("history = %+v", h)
	}
	if ok, refused, _ := c.CommitCounts(); ok != 2 || refused != 0 {
		t.Fatalf("commit counts = %d ok, %d refused", ok, refused)
	}
	if lat := c.CommitLatency(); lat.Count != 2 || lat.Sum <= 0 || lat.Cumulative[len(lat.Cumulative)-1] > 2 {
		t.Fatalf("latency histogram = %+v", lat)
	}
}

// TestCommitRefusedChangesNothing: an invalid candidate is refused whole,
// every problem listed with its path, and neither the running revision nor
// the published snapshot moves.
func TestCommitRefusedChangesNothing(t *testing.T) {
	dp := dataplane.New()
	c := NewController(dp, Options{})
	if _, err := c.Commit(mustTree(t, labYAML(1)), "alice", ""); err != nil {
		t.Fatal(err)
	}
	before, gen := c.Running(), dp.Tables().Gen
	bad := mustTree(t, labYAML(1))
	for _, cmd := range []string{
		"delete ipsec sa in-c1 spi",                         // required leaf gone
		"set firewall interface eth0 local NOPE",            // no such ruleset
		"set l2tp static tunnel 9 peer-tunnel 9",            // fine on its own
		"set l2tp static tunnel 9 sa in-missing",            // no such SA
		"set ipsec sa in-c1 enc-key 0x0102030405060708090a", // 10 bytes: wrong length for aes128gcm16
	} {
		f := strings.Fields(cmd)
		do := bad.Set
		if f[0] == "delete" {
			do = bad.Delete
		}
		if err := do(f[1:]); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
	}
	_, err := c.Commit(bad, "mallory", "")
	if err == nil {
		t.Fatal("an invalid candidate committed")
	}
	got := map[string]bool{}
	for _, pe := range config.PathErrors(err) {
		got[strings.Join(pe.Path, " ")] = true
	}
	for _, want := range []string{"ipsec sa in-c1 spi", "firewall interface eth0 local", "l2tp static tunnel 9 sa", "ipsec sa in-c1 enc-key"} {
		if !got[want] {
			t.Errorf("no problem reported at %q; got %v", want, got)
		}
	}
	if strings.Contains(err.Error(), "0102030405") {
		t.Errorf("the error quotes key material: %v", err)
	}
	if c.Running() != before || dp.Tables().Gen != gen {
		t.Fatal("a refused commit changed the running configuration or the snapshot")
	}
	if _, refused, _ := c.CommitCounts(); refused != 1 {
		t.Fatalf("refused = %d, want 1", refused)
	}
}

func TestCommitIfConflict(t *testing.T) {
	c := NewController(dataplane.New(), Options{})
	if _, err := c.CommitIf(0, mustTree(t, labYAML(1)), "alice", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CommitIf(0, mustTree(t, labYAML(2)), "bob", ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("commit over a newer revision: err = %v, want ErrConflict", err)
	}
	if c.Running().N != 1 {
		t.Fatalf("running = %d after a refused commit", c.Running().N)
	}
}

func TestRollback(t *testing.T) {
	dp := dataplane.New()
	c := NewController(dp, Options{History: 3})
	trees := []string{labYAML(1), labYAML(1, 2), labYAML(2, 3), labYAML(4), labYAML(5)}
	for i, y := range trees[:3] {
		if _, err := c.Commit(mustTree(t, y), "alice", ""); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	rev, err := c.Rollback(3, 1, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if rev.N != 4 || !config.Equal(rev.Tree, mustTree(t, trees[0])) || rev.Comment != "rollback to revision 1" || rev.Who != "bob" {
		t.Fatalf("rollback revision = %d %q by %s", rev.N, rev.Comment, rev.Who)
	}
	if dp.Tables().SAs.Len() != 1 || dp.Tables().SAs.Lookup(0xc001, boxAddr.AsSlice()) == nil {
		t.Fatal("the rolled-back configuration is not what the dataplane runs")
	}
	if _, err := c.Rollback(3, 2, "bob"); !errors.Is(err, ErrConflict) {
		t.Fatalf("rollback from a stale base: err = %v, want ErrConflict", err)
	}
	if _, err := c.Rollback(-1, 1, "bob"); !errors.Is(err, ErrUnknownRevision) {
		t.Fatalf("rollback past the bounded history (3 kept): err = %v, want ErrUnknownRevision", err)
	}
	if h := c.History(); len(h) != 3 || h[0].N != 2 || h[2].N != 4 {
		t.Fatalf("history kept %d revisions, first %d", len(h), h[0].N)
	}
}

func TestCommitConfirmRollsBack(t *testing.T) {
	ft := &fakeTimers{}
	c := NewController(dataplane.New(), Options{AfterFunc: ft.AfterFunc})
	a, b, d := mustTree(t, labYAML(1)), mustTree(t, labYAML(1, 2)), mustTree(t, labYAML(3))
	if _, err := c.Commit(a, "alice", ""); err != nil {
		t.Fatal(err)
	}
	rev, err := c.CommitConfirm(1, b, "alice", "risky", 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Pending()
	if p == nil || p.Revision != rev.N || p.RollbackTo != 1 || p.Who != "alice" || ft.timers[0].d != 2*time.Minute {
		t.Fatalf("pending = %+v", p)
	}
	// A second commit-confirm restarts the timer but still rolls back to
	// what ran before the first.
	if _, err := c.CommitConfirm(2, d, "alice", "riskier", time.Minute); err != nil {
		t.Fatal(err)
	}
	if !ft.timers[0].stopped || c.Pending().RollbackTo != 1 {
		t.Fatalf("second commit-confirm: first timer stopped %v, rollback to %d", ft.timers[0].stopped, c.Pending().RollbackTo)
	}
	ft.fire(0) // the stale timer must do nothing
	if c.Running().N != 3 || c.Pending() == nil {
		t.Fatalf("a stopped timer rolled back: running %d", c.Running().N)
	}
	ft.fire(1)
	run := c.Running()
	if run.N != 4 || !config.Equal(run.Tree, a) || run.Who != "commit-confirm" || c.Pending() != nil {
		t.Fatalf("after expiry: running %d by %s, equal to revision 1: %v", run.N, run.Who, config.Equal(run.Tree, a))
	}
	if _, _, expired := c.CommitCounts(); expired != 1 {
		t.Fatalf("expired = %d", expired)
	}
}

func TestCommitConfirmConfirmed(t *testing.T) {
	ft := &fakeTimers{}
	c := NewController(dataplane.New(), Options{AfterFunc: ft.AfterFunc})
	if _, err := c.Confirm("alice"); !errors.Is(err, ErrNothingToConfirm) {
		t.Fatalf("confirm with nothing pending: %v", err)
	}
	if _, err := c.Commit(mustTree(t, labYAML(1)), "alice", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CommitConfirm(-1, mustTree(t, labYAML(2)), "alice", "", time.Minute); err != nil {
		t.Fatal(err)
	}
	if rev, err := c.Confirm("alice"); err != nil || rev.N != 2 {
		t.Fatalf("confirm = %v, %v", rev, err)
	}
	if !ft.timers[0].stopped || c.Pending() != nil {
		t.Fatal("confirm left the timer armed")
	}
	ft.fire(0) // fires anyway (raced with Stop): ignored
	if c.Running().N != 2 {
		t.Fatalf("a confirmed commit was rolled back (running %d)", c.Running().N)
	}
	// A plain commit confirms a pending commit-confirm.
	if _, err := c.CommitConfirm(-1, mustTree(t, labYAML(3)), "alice", "", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(mustTree(t, labYAML(4)), "bob", ""); err != nil {
		t.Fatal(err)
	}
	if c.Pending() != nil || !ft.timers[1].stopped {
		t.Fatal("a later commit did not confirm")
	}
	if _, err := c.CommitConfirm(-1, mustTree(t, labYAML(4)), "alice", "", 0); err == nil {
		t.Fatal("commit-confirm 0 accepted")
	}
}

// TestCommitConfirmRealTimer runs the default timer: the rollback happens
// by itself.
func TestCommitConfirmRealTimer(t *testing.T) {
	c := NewController(dataplane.New(), Options{})
	a := mustTree(t, labYAML(1))
	if _, err := c.Commit(a, "alice", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CommitConfirm(-1, mustTree(t, labYAML(2)), "alice", "", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the commit-confirm rollback", func() bool { return c.Running().N == 3 })
	if !config.Equal(c.Running().Tree, a) {
		t.Fatal("rolled back to the wrong configuration")
	}
}

// TestCommitLogsDiffWithoutKeys: a commit is logged with its diff, keys
// masked.
func TestCommitLogsDiffWithoutKeys(t *testing.T) {
	var lb logBuffer
	c := NewController(dataplane.New(), Options{Logger: lb.logger()})
	if _, err := c.Commit(mustTree(t, labYAML(1)), "alice", "hello"); err != nil {
		t.Fatal(err)
	}
	changed := mustTree(t, labYAML(1))
	if err := changed.Set([]string{"ipsec", "sa", "in-c1", "enc-key", keyHex(77)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(changed, "alice", ""); err != nil {
		t.Fatal(err)
	}
	out := lb.String()
	for _, want := range []string{`"msg":"configuration committed"`, `+ set ipsec sa in-c1 enc-key <redacted>`, `"who":"alice"`, `"comment":"hello"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	for _, k := range []string{keyHex(1), keyHex(77), keyHex(1)[2:], keyHex(77)[2:]} {
		if strings.Contains(out, k) {
			t.Fatalf("a key is in the log:\n%s", out)
		}
	}
}

func TestDiffLogBounded(t *testing.T) {
	var lb logBuffer
	c := NewController(dataplane.New(), Options{Logger: lb.logger(), DiffLog: 3})
	if _, err := c.Commit(mustTree(t, labYAML(1, 2, 3, 4)), "alice", ""); err != nil {
		t.Fatal(err)
	}
	if out := lb.String(); !strings.Contains(out, `"diff_truncated":`) {
		t.Fatalf("a long diff was not truncated:\n%s", out)
	}
}
