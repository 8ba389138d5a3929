package control

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

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
// dataplane. Commits are serialised; readers never block workers.
type Controller struct {
	dp   *dataplane.Dataplane
	log  *slog.Logger
	opts Options

	mu      sync.Mutex // guards everything below
	b       *Builder
	running *Revision
	history []*Revision // oldest first, bounded by opts.History
}

// NewController returns a controller with an empty running configuration
// (revision 0) and nothing published.
func NewController(dp *dataplane.Dataplane, opts Options) *Controller {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.History <= 0 {
		opts.History = 50
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	c := &Controller{dp: dp, log: opts.Logger, opts: opts, b: NewBuilder(opts.SAOptions...)}
	c.running = &Revision{N: 0, Tree: config.New(), When: opts.Clock(), Who: "boot"}
	return c
}

// Dataplane returns the dataplane the controller publishes to.
func (c *Controller) Dataplane() *dataplane.Dataplane { return c.dp }

// Running returns the running revision. The tree must not be modified
// (Clone it to edit).
func (c *Controller) Running() *Revision {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running
}

// History returns the committed revisions kept for rollback, newest last.
func (c *Controller) History() []*Revision {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Revision(nil), c.history...)
}

// ErrConflict is returned by CommitIf when the running configuration changed
// since the caller's candidate was based on it.
var ErrConflict = errors.New("the running configuration changed since your candidate was made; compare and merge, then commit again")

// Commit validates tree as a whole, compiles it, and publishes it
// atomically. On any error nothing changes and the error lists every
// problem with its path. It returns ErrNoChanges (and the running revision)
// when tree equals the running configuration.
func (c *Controller) Commit(tree *config.Tree, who, comment string) (*Revision, error) {
	return c.CommitIf(-1, tree, who, comment)
}

// CommitIf is Commit that refuses with ErrConflict unless the running
// revision is still base (base < 0 skips the check).
func (c *Controller) CommitIf(base int, tree *config.Tree, who, comment string) (*Revision, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if base >= 0 && base != c.running.N {
		return nil, ErrConflict
	}
	if config.Equal(tree, c.running.Tree) && c.running.N > 0 {
		return c.running, ErrNoChanges
	}
	start := time.Now()
	cfg, err := tree.Config()
	if err != nil {
		return nil, err
	}
	plan, err := c.b.Prepare(cfg)
	if err != nil {
		return nil, err
	}
	c.b.Apply(plan, c.dp)
	rev := &Revision{N: c.running.N + 1, Tree: tree.Clone(), Who: who, When: c.opts.Clock(), Comment: comment}
	diff := config.Diff(c.running.Tree, rev.Tree)
	c.running = rev
	c.history = append(c.history, rev)
	if len(c.history) > c.opts.History {
		c.history = c.history[len(c.history)-c.opts.History:]
	}
	c.log.Info("configuration committed", "revision", rev.N, "who", who, "comment", comment,
		"changes", len(diff), "took", time.Since(start))
	for _, d := range diff {
		c.log.Debug("config change", "revision", rev.N, "line", d.String())
	}
	return rev, nil
}

// Revision returns the kept revision n.
func (c *Controller) Revision(n int) (*Revision, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.history {
		if r.N == n {
			return r, nil
		}
	}
	return nil, fmt.Errorf("revision %d is not in the history", n)
}

// Stats returns every counter in ARCHITECTURE.md's stats shape.
func (c *Controller) Stats() *Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Collect(c.dp, c.b)
}

// Builder returns the builder (for the L2TP server and operator data).
// Callers must hold no assumption beyond the current commit.
func (c *Controller) Builder() *Builder { return c.b }
