package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicenet/sluice/control/api/types"
	"github.com/sluicenet/sluice/control/config"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/ipsec"
)

// Options configure a Controller.
type Options struct {
	Logger *slog.Logger // nil discards
	// History is how many committed revisions are kept for rollback
	// (default 50).
	History int
	// SAOptions are applied to every SA the controller creates.
	SAOptions []ipsec.Option
	// Clock returns the wall time (default time.Now); tests replace it.
	Clock func() time.Time
	// AfterFunc schedules the rollback of an unconfirmed commit-confirm
	// (default time.AfterFunc); tests replace it to fire at will.
	AfterFunc func(d time.Duration, f func()) Stopper
	// Version is what GET /v1/status reports (default: the main module's
	// version from the build information).
	Version string
	// DiffLog bounds how many diff lines a commit's log record carries
	// (default 200); the count of the rest is logged instead.
	DiffLog int
	// Nice, when positive (1-19), runs every commit on an OS thread of its
	// own at that niceness (Linux), so that where a worker shares a core
	// with the control plane the worker wins the CPU: a big commit takes
	// longer, a worker does not lose bursts to it. Workers never wait for
	// a commit in any case (they read an atomic snapshot); this is about
	// CPU time on oversubscribed machines. 0 leaves priorities alone.
	Nice int
}

// Stopper cancels a scheduled function, like *time.Timer.
type Stopper interface{ Stop() bool }

// DefaultOptions returns the options NewController fills in for zero
// fields.
func DefaultOptions() Options {
	return Options{
		Logger:    slog.New(slog.DiscardHandler),
		History:   50,
		Clock:     time.Now,
		AfterFunc: func(d time.Duration, f func()) Stopper { return time.AfterFunc(d, f) },
		Version:   buildVersion(),
		DiffLog:   200,
	}
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// Revision is one committed configuration.
type Revision struct {
	N       int          // increases by one per commit
	Tree    *config.Tree // the configuration as committed (never modified)
	Who     string
	When    time.Time
	Comment string
}

// Controller owns the running configuration and publishes it to the
// dataplane. Commits are serialised by one mutex; readers (Running,
// History, the operator views, Stats) never wait for a commit in progress,
// and nothing here ever waits for a worker.
type Controller struct {
	dp      *dataplane.Dataplane
	log     *slog.Logger
	opts    Options
	started time.Time

	mu      sync.Mutex // serialises commits; guards b and pending
	b       *Builder   // +checklocks:mu
	pending *pending   // +checklocks:mu
	confirm uint64     // +checklocks:mu: generation of the pending confirm timer

	running atomic.Pointer[Revision]
	live    atomic.Pointer[live] // what the builder last applied, for readers
	saved   atomic.Int64         // revision last saved; -1 never

	hmu     sync.Mutex  // guards history
	history []*Revision // oldest first, bounded by opts.History

	latency latencyHistogram
	commits atomic.Uint64 // successful commits
	failed  atomic.Uint64 // refused commits (validation, conflict)
	expired atomic.Uint64 // commit-confirms rolled back

	l2tpInfo atomic.Pointer[l2tpProvider]

	vmu  sync.Mutex // guards base
	base baselines  // +checklocks:vmu
}

// live is the state the builder applied last: maps it never mutates after
// Apply, shared with readers.
type live struct {
	inbound  map[string]*ipsec.InboundSA
	outbound map[string]*ipsec.OutboundSA
	rulesets map[string]*dataplane.RuleSet
	sessions map[uint32]*dataplane.Session
	cfg      *config.Config
}

// builder returns a read-only Builder over l, for Collect.
func (l *live) builder() *Builder {
	return &Builder{inbound: l.inbound, outbound: l.outbound, rulesets: l.rulesets, sessions: l.sessions, cfg: l.cfg}
}

// pending is a commit-confirm waiting for Confirm.
type pending struct {
	rev        *Revision // the unconfirmed revision
	rollbackTo *Revision // restored if the timer fires first
	who        string
	deadline   time.Time
	timer      Stopper
}

// NewController returns a controller with an empty running configuration
// (revision 0) and nothing published.
func NewController(dp *dataplane.Dataplane, opts Options) *Controller {
	def := DefaultOptions()
	if opts.Logger == nil {
		opts.Logger = def.Logger
	}
	if opts.History <= 0 {
		opts.History = def.History
	}
	if opts.Clock == nil {
		opts.Clock = def.Clock
	}
	if opts.AfterFunc == nil {
		opts.AfterFunc = def.AfterFunc
	}
	if opts.Version == "" {
		opts.Version = def.Version
	}
	if opts.DiffLog <= 0 {
		opts.DiffLog = def.DiffLog
	}
	c := &Controller{dp: dp, log: opts.Logger, opts: opts, b: NewBuilder(opts.SAOptions...), started: opts.Clock()}
	c.running.Store(&Revision{N: 0, Tree: config.New(), When: c.started, Who: "boot"})
	c.live.Store(&live{})
	c.saved.Store(-1)
	c.latency.init()
	return c
}

// Dataplane returns the dataplane the controller publishes to.
func (c *Controller) Dataplane() *dataplane.Dataplane { return c.dp }

// Running returns the running revision. The tree must not be modified
// (Clone it to edit). It never waits for a commit in progress.
func (c *Controller) Running() *Revision { return c.running.Load() }

// History returns the committed revisions kept for rollback, newest last.
func (c *Controller) History() []*Revision {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	return append([]*Revision(nil), c.history...)
}

// Errors callers branch on (the API maps them to HTTP status codes).
var (
	// ErrConflict is returned by CommitIf when the running configuration
	// changed since the caller's candidate was based on it.
	ErrConflict = errors.New("the running configuration changed since your candidate was made; compare and merge, then commit again")
	// ErrNothingToConfirm is returned by Confirm when no commit-confirm is
	// pending.
	ErrNothingToConfirm = errors.New("no commit is waiting for confirmation")
	// ErrUnknownRevision is returned for a revision not in the history.
	ErrUnknownRevision = errors.New("revision is not in the history")
)

// Commit validates tree as a whole, compiles it, and publishes it
// atomically. On any error nothing changes and the error lists every
// problem with its path. It returns ErrNoChanges (and the running revision)
// when tree equals the running configuration. A commit confirms a pending
// commit-confirm, as in Junos: committing again proves the operator still
// reaches the box.
func (c *Controller) Commit(tree *config.Tree, who, comment string) (*Revision, error) {
	return c.CommitIf(-1, tree, who, comment)
}

// CommitIf is Commit that refuses with ErrConflict unless the running
// revision is still base (base < 0 skips the check).
func (c *Controller) CommitIf(base int, tree *config.Tree, who, comment string) (*Revision, error) {
	return c.commitIf(base, tree, false, who, comment)
}

// commitIf is CommitIf; owned says the caller hands tree over (it never
// modifies it again), so the new revision keeps it instead of a copy. A
// 100,000-SA tree takes ~0.2s and ~100MB to copy.
func (c *Controller) commitIf(base int, tree *config.Tree, owned bool, who, comment string) (*Revision, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rev, err := c.commitLocked(base, tree, owned, who, comment)
	if err == nil && c.pending != nil {
		c.log.Info("commit-confirm confirmed by a later commit", "revision", c.pending.rev.N, "who", who)
		c.clearPendingLocked()
	}
	return rev, err
}

// commitLocked is the commit itself: validate, prepare, apply, record; at
// the configured niceness. The revision keeps tree itself when owned, a
// copy otherwise.
//
// +checklocks:mu
func (c *Controller) commitLocked(base int, tree *config.Tree, owned bool, who, comment string) (rev *Revision, err error) {
	if c.opts.Nice <= 0 {
		return c.doCommitLocked(base, tree, owned, who, comment)
	}
	if nerr := withNice(c.opts.Nice, func() { rev, err = c.doCommitLocked(base, tree, owned, who, comment) }); nerr != nil {
		c.log.Warn("commit ran at normal priority", "nice", c.opts.Nice, "err", nerr)
	}
	return rev, err
}

// +checklocks:mu
func (c *Controller) doCommitLocked(base int, tree *config.Tree, owned bool, who, comment string) (*Revision, error) {
	running := c.running.Load()
	if base >= 0 && base != running.N {
		c.failed.Add(1)
		return nil, ErrConflict
	}
	if config.Equal(tree, running.Tree) && running.N > 0 {
		return running, ErrNoChanges
	}
	start := time.Now()
	cfg, err := tree.Config()
	if err != nil {
		c.failed.Add(1)
		return nil, err
	}
	plan, err := c.b.Prepare(cfg)
	if err != nil {
		c.failed.Add(1)
		return nil, err
	}
	c.b.Apply(plan, c.dp)
	c.live.Store(&live{inbound: c.b.inbound, outbound: c.b.outbound, rulesets: c.b.rulesets, sessions: c.b.sessions, cfg: c.b.cfg})
	took := time.Since(start)
	c.latency.observe(took)
	c.commits.Add(1)

	if !owned {
		tree = tree.Clone()
	}
	rev := &Revision{N: running.N + 1, Tree: tree, Who: who, When: c.opts.Clock(), Comment: comment}
	c.running.Store(rev)
	c.hmu.Lock()
	c.history = append(c.history, rev)
	if len(c.history) > c.opts.History {
		c.history = append([]*Revision(nil), c.history[len(c.history)-c.opts.History:]...)
	}
	c.hmu.Unlock()
	c.logDiff(running, rev, took)
	return rev, nil
}

// logDiff logs a commit with its diff, keys redacted (config.Diff never
// renders them), bounded to opts.DiffLog lines.
func (c *Controller) logDiff(from, to *Revision, took time.Duration) {
	if !c.log.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	diff := config.Diff(from.Tree, to.Tree)
	lines := make([]string, 0, min(len(diff), c.opts.DiffLog))
	for i, d := range diff {
		if i == c.opts.DiffLog {
			break
		}
		lines = append(lines, d.String())
	}
	attrs := []any{"revision", to.N, "who", to.Who, "comment", to.Comment, "changes", len(diff), "took", took, "diff", lines}
	if len(diff) > len(lines) {
		attrs = append(attrs, "diff_truncated", len(diff)-len(lines))
	}
	c.log.Info("configuration committed", attrs...)
}

// CommitConfirm commits like CommitIf, then rolls back to the revision
// that ran before it unless Confirm is called within d (Junos's and VyOS's
// commit-confirm, for operators who may cut themselves off). A second
// commit-confirm while one is pending restarts the timer and keeps the
// original rollback target.
func (c *Controller) CommitConfirm(base int, tree *config.Tree, who, comment string, d time.Duration) (*Revision, error) {
	return c.commitConfirm(base, tree, false, who, comment, d)
}

// commitConfirm is CommitConfirm; owned as for commitIf.
func (c *Controller) commitConfirm(base int, tree *config.Tree, owned bool, who, comment string, d time.Duration) (*Revision, error) {
	if d <= 0 {
		return nil, fmt.Errorf("commit-confirm needs a positive time, not %v", d)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	target := c.running.Load()
	if c.pending != nil {
		target = c.pending.rollbackTo
	}
	rev, err := c.commitLocked(base, tree, owned, who, comment)
	if err != nil {
		return rev, err
	}
	c.clearPendingLocked()
	c.confirm++
	gen := c.confirm
	c.pending = &pending{rev: rev, rollbackTo: target, who: who, deadline: c.opts.Clock().Add(d)}
	c.pending.timer = c.opts.AfterFunc(d, func() { c.expire(gen) })
	c.log.Info("commit-confirm pending", "revision", rev.N, "rollback_to", target.N, "who", who, "within", d)
	return rev, nil
}

// Confirm keeps a pending commit-confirm.
func (c *Controller) Confirm(who string) (*Revision, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		return nil, ErrNothingToConfirm
	}
	rev := c.pending.rev
	c.log.Info("commit confirmed", "revision", rev.N, "who", who)
	c.clearPendingLocked()
	return rev, nil
}

// Pending returns the commit-confirm waiting for Confirm, or nil.
func (c *Controller) Pending() *types.PendingConfirm {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		return nil
	}
	p := c.pending
	return &types.PendingConfirm{Revision: p.rev.N, RollbackTo: p.rollbackTo.N, Who: p.who, Deadline: p.deadline}
}

// +checklocks:mu
func (c *Controller) clearPendingLocked() {
	if c.pending != nil {
		c.pending.timer.Stop()
		c.pending = nil
	}
}

// expire is the commit-confirm timer: it restores the rollback target
// unless the pending confirm it was armed for is gone.
func (c *Controller) expire(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil || c.confirm != gen {
		return
	}
	p := c.pending
	c.pending = nil
	c.expired.Add(1)
	comment := fmt.Sprintf("rollback: revision %d was not confirmed", p.rev.N)
	rev, err := c.commitLocked(-1, p.rollbackTo.Tree, true, "commit-confirm", comment)
	switch {
	case errors.Is(err, ErrNoChanges):
		c.log.Warn("commit-confirm expired; the running configuration already equals the rollback target",
			"revision", p.rev.N, "rollback_to", p.rollbackTo.N)
	case err != nil:
		// The target committed before, so this means the dataplane
		// refused what it accepted then: keep running what runs.
		c.log.Error("commit-confirm rollback failed", "revision", p.rev.N, "rollback_to", p.rollbackTo.N, "err", err)
	default:
		c.log.Warn("commit-confirm expired; rolled back", "revision", p.rev.N, "rollback_to", p.rollbackTo.N, "new_revision", rev.N)
	}
}

// Rollback commits the configuration of kept revision n again, as a new
// revision (refused with ErrConflict unless the running revision is still
// base; base < 0 skips the check).
func (c *Controller) Rollback(base, n int, who string) (*Revision, error) {
	old, err := c.Revision(n)
	if err != nil {
		return nil, err
	}
	// A revision's tree is never modified: the new revision shares it.
	return c.commitIf(base, old.Tree, true, who, fmt.Sprintf("rollback to revision %d", n))
}

// Revision returns the kept revision n.
func (c *Controller) Revision(n int) (*Revision, error) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	for _, r := range c.history {
		if r.N == n {
			return r, nil
		}
	}
	return nil, fmt.Errorf("revision %d: %w", n, ErrUnknownRevision)
}

// Stats returns every counter in ARCHITECTURE.md's stats shape, raw
// (`clear` does not affect it). It never waits for a commit in progress.
func (c *Controller) Stats() *Stats {
	return Collect(c.dp, c.live.Load().builder())
}

// Builder returns the builder (for the L2TP server and operator data).
// Callers must hold no assumption beyond the current commit.
func (c *Controller) Builder() *Builder { return c.b }

// Started returns when the controller was created.
func (c *Controller) Started() time.Time { return c.started }

// Version returns the version the status reports.
func (c *Controller) Version() string { return c.opts.Version }

// Now returns the controller's wall clock time.
func (c *Controller) Now() time.Time { return c.opts.Clock() }

// Logger returns the controller's logger.
func (c *Controller) Logger() *slog.Logger { return c.log }

// CommitCounts returns how many commits succeeded, were refused, and how
// many commit-confirms were rolled back.
func (c *Controller) CommitCounts() (ok, refused, expired uint64) {
	return c.commits.Load(), c.failed.Load(), c.expired.Load()
}

// CommitLatency returns the distribution of successful commits' durations
// (validate, compile, publish).
func (c *Controller) CommitLatency() Histogram { return c.latency.snapshot() }
