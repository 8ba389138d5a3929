package control

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicenet/sluice/control/config"
	"github.com/sluicenet/sluice/dataplane"
)

func words(s string) []string { return strings.Fields(s) }

func openSession(t *testing.T, ss *Sessions, who string) *Session {
	t.Helper()
	s, err := ss.Open(who)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSessionsConflict is two operators editing at once: the second commit
// is refused, Compare says the base is stale, Rebase keeps both changes.
func TestSessionsConflict(t *testing.T) {
	c := NewController(dataplane.New(), Options{})
	if _, err := c.Commit(mustTree(t, labYAML(1)), "boot", ""); err != nil {
		t.Fatal(err)
	}
	ss := NewSessions(c, SessionOptions{})
	alice, bob, carol := openSession(t, ss, "alice"), openSession(t, ss, "bob"), openSession(t, ss, "carol")
	if alice.ID == bob.ID || len(alice.ID) < 16 {
		t.Fatalf("session ids %q and %q", alice.ID, bob.ID)
	}
	if err := alice.Set(words("firewall name WAN_LOCAL rule 20 action drop")); err != nil {
		t.Fatal(err)
	}
	if err := bob.Set(words("firewall name WAN_LOCAL rule 30 action accept")); err != nil {
		t.Fatal(err)
	}
	if err := bob.Set(words("firewall name WAN_LOCAL default-action accept")); err != nil {
		t.Fatal(err)
	}
	if !alice.Info().Changed || carol.Info().Changed {
		t.Fatal("Changed is wrong")
	}
	if _, _, err := alice.Commit("rule 20"); err != nil {
		t.Fatal(err)
	}
	if c.Running().Tree.Exists(words("firewall name WAN_LOCAL rule 30")) {
		t.Fatal("bob's uncommitted change is running")
	}
	if _, _, err := bob.Commit("rule 30"); !errors.Is(err, ErrConflict) {
		t.Fatalf("bob committed over alice: %v", err)
	}
	lines, base, stale := bob.Compare()
	if !stale || base != 1 {
		t.Fatalf("compare: base %d stale %v", base, stale)
	}
	var text []string
	for _, l := range lines {
		text = append(text, l.String())
	}
	joined := strings.Join(text, "\n")
	// Against the running configuration, bob's candidate adds his rule
	// and would drop alice's: compare must show both.
	for _, want := range []string{"+ set firewall name WAN_LOCAL rule 30 action accept", "- set firewall name WAN_LOCAL rule 20 action drop"} {
		if !strings.Contains(joined, want) {
			t.Errorf("compare lacks %q:\n%s", want, joined)
		}
	}
	// carol had no changes: her candidate followed the running one.
	if info := carol.Info(); info.Base != 2 || info.Stale || info.Changed {
		t.Fatalf("carol = %+v", info)
	}
	if _, err := bob.Rebase(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bob.Commit("rule 30, rebased"); err != nil {
		t.Fatal(err)
	}
	run := c.Running().Tree
	for _, p := range []string{"firewall name WAN_LOCAL rule 20 action drop", "firewall name WAN_LOCAL rule 30 action accept",
		"firewall name WAN_LOCAL default-action accept", "ipsec sa in-c1 enc-key " + keyHex(1)} {
		if !run.Exists(words(p)) {
			t.Errorf("running lacks %q after the rebase", p)
		}
	}
	if len(ss.List()) != 3 || ss.Len() != 3 {
		t.Fatalf("list = %+v", ss.List())
	}
	if err := ss.Close(bob.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Get(bob.ID); !errors.Is(err, ErrNoSession) {
		t.Fatalf("closed session: %v", err)
	}
}

// TestRebaseDeletesAndKeepsOthers: a rebase replays deletions and leaf
// changes, keeps other operators' additions, and lets mine win a leaf both
// changed.
func TestRebaseDeletesAndKeepsOthers(t *testing.T) {
	c := NewController(dataplane.New(), Options{})
	if _, err := c.Commit(mustTree(t, labYAML(1, 2)), "boot", ""); err != nil {
		t.Fatal(err)
	}
	ss := NewSessions(c, SessionOptions{})
	a, b := openSession(t, ss, "a"), openSession(t, ss, "b")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.Set(words("firewall name WAN_LOCAL description 'theirs'")))
	must(a.Set(words("interfaces eth0 address 10.99.0.9")))
	if _, _, err := a.Commit(""); err != nil {
		t.Fatal(err)
	}
	must(b.Delete(words("l2tp static tunnel 2")))
	must(b.Delete(words("ipsec sa in-c2")))
	must(b.Set(words("firewall name WAN_LOCAL description mine")))
	if _, err := b.Rebase(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Commit(""); err != nil {
		t.Fatal(err)
	}
	run := c.Running().Tree
	if run.Exists(words("ipsec sa in-c2")) || run.Exists(words("l2tp static tunnel 2")) {
		t.Error("b's deletions were lost")
	}
	if !run.Exists(words("interfaces eth0 address 10.99.0.9")) {
		t.Error("a's addition was lost")
	}
	if v, _ := run.Get(words("firewall name WAN_LOCAL description")); len(v) != 1 || v[0] != "mine" {
		t.Errorf("description = %v, want mine", v)
	}
}

func TestSessionLoadMergeDiscard(t *testing.T) {
	c := NewController(dataplane.New(), Options{})
	ss := NewSessions(c, SessionOptions{})
	s := openSession(t, ss, "alice")
	if err := s.Load(nil, []byte(labYAML(1)), config.FormatAuto); err != nil {
		t.Fatal(err)
	}
	// The seed's block, pasted at a ruleset with its tabs, as curly text.
	seed := "rule 20 {\n\taction accept\n    destination {\n\t\tport 4500\n  }\n\tprotocol udp\n}\n"
	if err := s.Merge(words("firewall name WAN_LOCAL"), []byte(seed), config.FormatAuto); err != nil {
		t.Fatal(err)
	}
	cand := s.Candidate()
	if !cand.Exists(words("firewall name WAN_LOCAL rule 10")) || !cand.Exists(words("firewall name WAN_LOCAL rule 20 destination port 4500")) {
		t.Fatalf("merge lost or missed rules:\n%s", cand)
	}
	// Load at a path replaces that subtree only.
	if err := s.Load(words("firewall name WAN_LOCAL"), []byte("default-action accept\n"), config.FormatCurly); err != nil {
		t.Fatal(err)
	}
	cand = s.Candidate()
	if cand.Exists(words("firewall name WAN_LOCAL rule 10")) || !cand.Exists(words("ipsec sa in-c1")) {
		t.Fatalf("load at a path replaced the wrong part:\n%s", cand)
	}
	before := s.Candidate()
	if err := s.Load(nil, []byte("ipsec:\n  sa:\n    x: {spi: 0x1, bogus: 1}\n"), config.FormatYAML); err == nil {
		t.Fatal("a bad file loaded")
	}
	if err := s.Merge(nil, []byte("set nonsense 1\n"), config.FormatAuto); err == nil {
		t.Fatal("a bad merge succeeded")
	}
	if !config.Equal(before, s.Candidate()) {
		t.Fatal("a failed load changed the candidate")
	}
	s.Discard()
	if !s.Candidate().Empty() || s.Info().Changed {
		t.Fatal("discard kept changes")
	}
	if _, _, err := s.Commit(""); !errors.Is(err, ErrNoChanges) && err != nil {
		t.Fatalf("commit of nothing: %v", err)
	}
}

func TestSessionRollback(t *testing.T) {
	c := NewController(dataplane.New(), Options{})
	ss := NewSessions(c, SessionOptions{})
	s := openSession(t, ss, "alice")
	for _, y := range []string{labYAML(1), labYAML(2)} {
		if err := s.Load(nil, []byte(y), config.FormatAuto); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Commit(""); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Set(words("interfaces eth1 driver mem")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Rollback(1); !errors.Is(err, ErrUncommitted) {
		t.Fatalf("rollback with uncommitted changes: %v", err)
	}
	s.Discard()
	rev, diff, err := s.Rollback(1)
	if err != nil {
		t.Fatal(err)
	}
	if rev.N != 3 || len(diff) == 0 || !config.Equal(s.Candidate(), mustTree(t, labYAML(1))) {
		t.Fatalf("rollback: revision %d, %d diff lines", rev.N, len(diff))
	}
}

func TestSessionsLimitsAndIdle(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := NewController(dataplane.New(), Options{Clock: clock})
	ss := NewSessions(c, SessionOptions{Max: 2, Idle: time.Hour})
	a := openSession(t, ss, "a")
	openSession(t, ss, "b")
	if _, err := ss.Open("c"); !errors.Is(err, ErrTooManySessions) {
		t.Fatalf("third session: %v", err)
	}
	mu.Lock()
	now = now.Add(50 * time.Minute)
	mu.Unlock()
	if _, err := ss.Get(a.ID); err != nil { // a is used, b is not
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(20 * time.Minute)
	mu.Unlock()
	if ss.Len() != 2 {
		t.Fatal("sessions expired too early")
	}
	if _, err := ss.Open("c"); err != nil {
		t.Fatalf("b idle for 70 minutes should have made room: %v", err)
	}
	if _, err := ss.Get(a.ID); err != nil {
		t.Fatalf("a was used 20 minutes ago: %v", err)
	}
}

// TestConcurrentSessions: operators commit at once; every commit is either
// applied whole or refused with ErrConflict, refused ones rebase and retry,
// and in the end every operator's change is in the running configuration
// and the history is one revision per successful commit.
func TestConcurrentSessions(t *testing.T) {
	c := NewController(dataplane.New(), Options{History: 1000})
	if _, err := c.Commit(mustTree(t, labYAML(1)), "boot", ""); err != nil {
		t.Fatal(err)
	}
	ss := NewSessions(c, SessionOptions{})
	const operators, each = 6, 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	conflicts, commits := 0, 0
	errs := make(chan error, operators)
	for op := 0; op < operators; op++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := ss.Open(fmt.Sprintf("op%d", op))
			if err != nil {
				errs <- err
				return
			}
			for k := 0; k < each; k++ {
				rule := strconv.Itoa(100 + op*each + k)
				if err := s.Set(words("firewall name WAN_LOCAL rule " + rule + " action drop")); err != nil {
					errs <- err
					return
				}
				for {
					_, _, err := s.Commit("rule " + rule)
					if err == nil {
						mu.Lock()
						commits++
						mu.Unlock()
						break
					}
					if !errors.Is(err, ErrConflict) {
						errs <- err
						return
					}
					mu.Lock()
					conflicts++
					mu.Unlock()
					if _, err := s.Rebase(); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	run := c.Running()
	for r := 100; r < 100+operators*each; r++ {
		if !run.Tree.Exists(words("firewall name WAN_LOCAL rule " + strconv.Itoa(r))) {
			t.Errorf("rule %d was lost", r)
		}
	}
	if commits != operators*each || run.N != 1+commits || len(c.History()) != run.N {
		t.Fatalf("%d commits, running revision %d, %d in history", commits, run.N, len(c.History()))
	}
	t.Logf("%d commits, %d conflicts refused and rebased", commits, conflicts)
}

// TestSessionCandidateCopiedOnEdit checks that sessions share committed
// trees without ever changing one: a session's candidate is the revision's
// tree until its first edit, a commit hands the candidate over to the new
// revision, and a rollback's revision shares the old revision's tree.
func TestSessionCandidateCopiedOnEdit(t *testing.T) {
	c := NewController(dataplane.New(), Options{})
	if _, err := c.Commit(mustTree(t, labYAML(1)), "boot", ""); err != nil {
		t.Fatal(err)
	}
	ss := NewSessions(c, SessionOptions{})
	// snapshot records a revision's configuration as text, to check later
	// that nothing changed it.
	snapshot := func(r *Revision) string { return strings.Join(r.Tree.Commands(config.Revealed), "\n") }
	r1 := c.Running()
	r1Text := snapshot(r1)

	alice, bob := openSession(t, ss, "alice"), openSession(t, ss, "bob")
	if err := alice.Set(words("firewall name WAN_LOCAL rule 20 action drop")); err != nil {
		t.Fatal(err)
	}
	if snapshot(r1) != r1Text {
		t.Fatal("an edit in a session changed the running revision's tree")
	}
	if bob.Candidate().Exists(words("firewall name WAN_LOCAL rule 20")) {
		t.Fatal("alice's edit shows in bob's candidate")
	}
	r2, _, err := alice.Commit("rule 20")
	if err != nil {
		t.Fatal(err)
	}
	r2Text := snapshot(r2)
	if !strings.Contains(r2Text, "rule 20 action drop") {
		t.Fatalf("revision %d lacks the committed rule:\n%s", r2.N, r2Text)
	}
	// The committed candidate is the revision's tree now: editing on must
	// copy it first.
	if err := alice.Set(words("firewall name WAN_LOCAL rule 30 action accept")); err != nil {
		t.Fatal(err)
	}
	if err := alice.Delete(words("firewall name WAN_LOCAL rule 20")); err != nil {
		t.Fatal(err)
	}
	if snapshot(r2) != r2Text || snapshot(c.Running()) != r2Text {
		t.Fatal("editing after a commit changed the committed revision")
	}
	// bob followed the running configuration (he had no changes) and
	// edits his own copy of it.
	if err := bob.Set(words("firewall name WAN_LOCAL rule 40 action drop")); err != nil {
		t.Fatal(err)
	}
	if snapshot(r2) != r2Text || alice.Candidate().Exists(words("firewall name WAN_LOCAL rule 40")) {
		t.Fatal("bob's edit leaked into the revision or alice's candidate")
	}
	bob.Discard()
	alice.Discard()

	// A rollback's revision shares revision 1's tree; editing after it
	// leaves both unchanged.
	r3, _, err := bob.Rollback(r1.N)
	if err != nil {
		t.Fatal(err)
	}
	if snapshot(r3) != r1Text {
		t.Fatal("rollback did not restore revision 1")
	}
	if err := bob.Set(words("firewall name WAN_LOCAL rule 50 action drop")); err != nil {
		t.Fatal(err)
	}
	if snapshot(r1) != r1Text || snapshot(r3) != r1Text {
		t.Fatal("editing after a rollback changed a kept revision")
	}
}
