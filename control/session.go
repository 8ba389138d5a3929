package control

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluicenet/sluice/control/api/types"
	"github.com/sluicenet/sluice/control/config"
)

// Operator sessions: each operator in configuration mode edits a private
// candidate: the running revision it was made from (its base), copied on
// its first edit.
// Commit hands the candidate over to the controller with that base, so a
// commit over someone else's newer commit is refused (ErrConflict) instead
// of silently undoing it. A session whose candidate has no changes follows
// the running configuration by itself.

// SessionOptions configure Sessions.
type SessionOptions struct {
	// Idle closes sessions unused for this long (default 24h): operators
	// who lose their connection do not pin candidates forever.
	Idle time.Duration
	// Max is the most sessions open at once (default 64).
	Max int
}

// Session errors.
var (
	ErrNoSession       = errors.New("no such configuration session")
	ErrTooManySessions = errors.New("too many configuration sessions")
	// ErrUncommitted: an operation that would lose the candidate's
	// changes (rollback) while it has some.
	ErrUncommitted = errors.New("the candidate has uncommitted changes; commit or discard them first")
)

// Sessions are the open operator sessions of one controller. Safe for
// concurrent use.
type Sessions struct {
	c    *Controller
	opts SessionOptions
	mu   sync.Mutex
	m    map[string]*Session // +checklocks:mu
}

// NewSessions returns an empty session table for c.
func NewSessions(c *Controller, opts SessionOptions) *Sessions {
	if opts.Idle <= 0 {
		opts.Idle = 24 * time.Hour
	}
	if opts.Max <= 0 {
		opts.Max = 64
	}
	return &Sessions{c: c, opts: opts, m: map[string]*Session{}}
}

// Open starts a session for who with a candidate equal to the running
// configuration.
func (ss *Sessions) Open(who string) (*Session, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.expireLocked()
	if len(ss.m) >= ss.opts.Max {
		return nil, fmt.Errorf("%w (%d open)", ErrTooManySessions, len(ss.m))
	}
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	now := ss.c.Now()
	run := ss.c.Running()
	s := &Session{ID: hex.EncodeToString(id[:]), Who: who, Created: now, c: ss.c, used: now, base: run, cand: run.Tree, shared: true}
	ss.m[s.ID] = s
	ss.c.log.Debug("configuration session opened", "session", s.ID, "who", who, "base", run.N)
	return s, nil
}

// Get returns the open session id.
func (ss *Sessions) Get(id string) (*Session, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.expireLocked()
	s := ss.m[id]
	if s == nil {
		return nil, fmt.Errorf("%w %q", ErrNoSession, id)
	}
	s.touch()
	return s, nil
}

// Close ends session id, dropping its candidate.
func (ss *Sessions) Close(id string) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[id]
	if s == nil {
		return fmt.Errorf("%w %q", ErrNoSession, id)
	}
	delete(ss.m, id)
	ss.c.log.Debug("configuration session closed", "session", id, "who", s.Who, "changed", s.Info().Changed)
	return nil
}

// List describes every open session, oldest first.
func (ss *Sessions) List() []types.Session {
	ss.mu.Lock()
	all := make([]*Session, 0, len(ss.m))
	ss.expireLocked()
	for _, s := range ss.m {
		all = append(all, s)
	}
	ss.mu.Unlock()
	out := make([]types.Session, len(all))
	for i, s := range all {
		out[i] = s.Info()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

// Len returns how many sessions are open.
func (ss *Sessions) Len() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.m)
}

// +checklocks:mu
func (ss *Sessions) expireLocked() {
	now := ss.c.Now()
	for id, s := range ss.m {
		if now.Sub(s.lastUsed()) > ss.opts.Idle {
			delete(ss.m, id)
			ss.c.log.Info("idle configuration session closed", "session", id, "who", s.Who)
		}
	}
}

// Session is one operator's candidate configuration. Its methods are safe
// for concurrent use (one operator may have two requests in flight).
type Session struct {
	ID      string
	Who     string
	Created time.Time
	c       *Controller

	mu    sync.Mutex
	used  time.Time    // +checklocks:mu
	base  *Revision    // +checklocks:mu: the running revision cand was made from
	cand  *config.Tree // +checklocks:mu
	dirty bool         // +checklocks:mu: cand was edited since it was made from base (it may still equal it)
	// shared: cand is a revision's tree, which is never modified; the
	// first edit copies it (a 100,000-SA tree costs ~0.2s to copy, and
	// most sessions only look, or commit once and go).
	shared bool // +checklocks:mu
}

func (s *Session) touch() {
	s.mu.Lock()
	s.used = s.c.Now()
	s.mu.Unlock()
}

func (s *Session) lastUsed() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

// followLocked moves an unchanged candidate to the running configuration,
// so a session that only looks never goes stale.
//
// +checklocks:mu
func (s *Session) followLocked() {
	run := s.c.Running()
	if run == s.base {
		return
	}
	if s.dirty && !config.Equal(s.cand, s.base.Tree) {
		return
	}
	s.resetLocked(run)
}

// resetLocked makes r the session's base and its tree the candidate, shared
// until the first edit copies it.
//
// +checklocks:mu
func (s *Session) resetLocked(r *Revision) {
	s.base, s.cand, s.dirty, s.shared = r, r.Tree, false, true
}

// Info describes the session.
func (s *Session) Info() types.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.followLocked()
	changed := s.dirty && !config.Equal(s.cand, s.base.Tree)
	return types.Session{ID: s.ID, Who: s.Who, Created: s.Created, Base: s.base.N, Changed: changed,
		Stale: s.c.Running().N != s.base.N}
}

// Base returns the revision the candidate is based on.
func (s *Session) Base() *Revision {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.followLocked()
	return s.base
}

// Candidate returns a copy of the candidate.
func (s *Session) Candidate() *config.Tree {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.followLocked()
	return s.cand.Clone()
}

// Set applies a `set` path to the candidate (config.Tree.Set).
func (s *Session) Set(path []string) error {
	return s.edit(func(t *config.Tree) error { return t.Set(path) })
}

// Delete applies a `delete` path to the candidate (config.Tree.Delete).
func (s *Session) Delete(path []string) error {
	return s.edit(func(t *config.Tree) error { return t.Delete(path) })
}

// Load replaces the candidate (path empty) or the subtree at path with the
// configuration in text (YAML, curly or set commands; config.FormatAuto
// detects). On any error the candidate is unchanged.
func (s *Session) Load(path []string, text []byte, f config.Format) error {
	frag, err := config.ParseFragment(path, text, f)
	if err != nil {
		return err
	}
	if len(path) == 0 {
		return s.edit(func(t *config.Tree) error { *t = *frag; return nil })
	}
	return s.edit(func(t *config.Tree) error {
		if err := t.Delete(path); err != nil && !errors.Is(err, config.ErrNotFound) {
			return err
		}
		t.Merge(frag)
		return nil
	})
}

// Merge merges the configuration in text into the candidate at path
// (empty: the root): its leaves replace the candidate's, its lists add.
func (s *Session) Merge(path []string, text []byte, f config.Format) error {
	frag, err := config.ParseFragment(path, text, f)
	if err != nil {
		return err
	}
	return s.edit(func(t *config.Tree) error { t.Merge(frag); return nil })
}

// edit runs fn on the candidate; fn's changes are kept only if it
// succeeds. Set and Delete leave the tree unchanged on error themselves,
// so they run in place; the others work on the same tree, which they only
// change on success too.
func (s *Session) edit(fn func(*config.Tree) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.followLocked()
	if s.shared {
		s.cand, s.shared = s.cand.Clone(), false
	}
	if err := fn(s.cand); err != nil {
		return err
	}
	s.dirty = true
	return nil
}

// Discard throws the candidate's changes away: it becomes the running
// configuration again.
func (s *Session) Discard() {
	s.mu.Lock()
	defer s.mu.Unlock()
	run := s.c.Running()
	s.resetLocked(run)
}

// Compare returns what committing the candidate would change in the
// running configuration, keys redacted, and whether the running
// configuration moved on since the candidate's base (then the lines also
// undo the other commits, and Commit is refused until Rebase or Discard).
func (s *Session) Compare() (lines []config.DiffLine, base int, stale bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.followLocked()
	run := s.c.Running()
	return config.Diff(run.Tree, s.cand), s.base.N, run != s.base
}

// Commit commits the candidate with comment. It returns the new revision
// and what changed; on ErrConflict the operator must Compare and Rebase
// (or Discard). On any error the candidate is kept as it is.
func (s *Session) Commit(comment string) (*Revision, []config.DiffLine, error) {
	return s.commit(func(base int, t *config.Tree) (*Revision, error) {
		return s.c.commitIf(base, t, true, s.Who, comment)
	})
}

// CommitConfirm is Commit followed by an automatic rollback unless
// Controller.Confirm is called within d.
func (s *Session) CommitConfirm(comment string, d time.Duration) (*Revision, []config.DiffLine, error) {
	return s.commit(func(base int, t *config.Tree) (*Revision, error) {
		return s.c.commitConfirm(base, t, true, s.Who, comment, d)
	})
}

// commit hands the candidate over to do (the controller keeps it as the
// new revision's tree: the session never modifies it again, it shares the
// revision's tree from then on).
func (s *Session) commit(do func(base int, t *config.Tree) (*Revision, error)) (*Revision, []config.DiffLine, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.followLocked()
	prev := s.base
	rev, err := do(prev.N, s.cand)
	if err != nil {
		return rev, nil, err
	}
	s.resetLocked(rev)
	return rev, config.Diff(prev.Tree, rev.Tree), nil
}

// Rollback commits kept revision n again. It is refused while the
// candidate has changes (they would be lost) and, like Commit, when the
// running configuration moved on since the candidate's base.
func (s *Session) Rollback(n int) (*Revision, []config.DiffLine, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.followLocked()
	if s.dirty && !config.Equal(s.cand, s.base.Tree) {
		return nil, nil, ErrUncommitted
	}
	prev := s.base
	rev, err := s.c.Rollback(prev.N, n, s.Who)
	if err != nil {
		return rev, nil, err
	}
	s.resetLocked(rev)
	return rev, config.Diff(prev.Tree, rev.Tree), nil
}

// Rebase replays the candidate's changes (against its base) on top of the
// running configuration and makes that the new base, so a session refused
// with ErrConflict can commit: the other operators' commits are kept, and
// where both changed the same leaf, this candidate's value wins. It
// returns the candidate's changes as replayed, keys redacted.
func (s *Session) Rebase() ([]config.DiffLine, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	run := s.c.Running()
	mine := config.Diff(s.base.Tree, s.cand)
	if run == s.base {
		return mine, nil
	}
	// Work on set-command lines with keys revealed (they never leave
	// this function): what the candidate removed from its base is deleted
	// from the running configuration where the running one still has it,
	// then what the candidate added is set.
	baseL := lineSet(s.base.Tree.Commands(config.Revealed))
	candL := s.cand.Commands(config.Revealed)
	candS := lineSet(candL)
	runL := s.c.Running().Tree.Commands(config.Revealed)
	runS := lineSet(runL)
	var b strings.Builder
	for _, l := range runL {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	for l := range baseL {
		if !candS[l] && runS[l] {
			b.WriteString("delete " + strings.TrimPrefix(l, "set "))
			b.WriteByte('\n')
		}
	}
	for _, l := range candL {
		if !baseL[l] {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	t, err := config.Parse([]byte(b.String()), config.FormatCommands)
	if err != nil {
		return nil, fmt.Errorf("rebase: %w", err)
	}
	s.base, s.cand, s.dirty, s.shared = run, t, true, false
	return mine, nil
}

func lineSet(ls []string) map[string]bool {
	m := make(map[string]bool, len(ls))
	for _, l := range ls {
		m[l] = true
	}
	return m
}
