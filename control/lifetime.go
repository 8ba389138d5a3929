package control

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/sluicenet/sluice/dataplane"
)

// SAExpiry is one SA reaching a lifetime limit, as ipsec's expiry hook
// reports it from a worker (or CheckLifetimes from the control plane).
type SAExpiry struct {
	SA   string
	Hard bool // hard (life-*) limit: the SA now refuses traffic
}

// ExpiryQueue carries SA lifetime events from workers to the control plane
// without ever blocking a worker: Hook does a non-blocking send and counts
// what did not fit.
type ExpiryQueue struct {
	ch      chan SAExpiry
	dropped atomic.Uint64
}

// NewExpiryQueue returns a queue of depth events.
func NewExpiryQueue(depth int) *ExpiryQueue { return &ExpiryQueue{ch: make(chan SAExpiry, depth)} }

// Hook is the function for ipsec.WithExpiryHook: called on a worker's
// goroutine at most once per SA and kind, it never blocks.
func (q *ExpiryQueue) Hook(sa string, hard bool) {
	select {
	case q.ch <- SAExpiry{SA: sa, Hard: hard}:
	default:
		q.dropped.Add(1) // best effort: the SA's Stats still say it expired
	}
}

// Dropped returns how many events found the queue full.
func (q *ExpiryQueue) Dropped() uint64 { return q.dropped.Load() }

// Events is the channel the control plane reads.
func (q *ExpiryQueue) Events() <-chan SAExpiry { return q.ch }

// CheckLifetimes expires SAs whose time lifetime passed while no packet
// came to notice it (an idle SA): workers check limits only when they
// process a packet. now is dataplane.Now's clock. It returns how many SAs
// are hard-expired.
func (c *Controller) CheckLifetimes(now int64) int {
	l := c.live.Load()
	n := 0
	for _, sa := range l.inbound {
		if sa.CheckLifetime(now) {
			n++
		}
	}
	for _, sa := range l.outbound {
		if sa.CheckLifetime(now) {
			n++
		}
	}
	return n
}

// WatchLifetimes logs lifetime events from q and calls CheckLifetimes every
// interval until ctx ends. Soft expiry is where an IKE daemon would rekey;
// sluice has none, so it tells the operator once (Warn), and after a hard
// expiry the SA refuses traffic (esp-sa-expired) until a commit replaces it.
func (c *Controller) WatchLifetimes(ctx context.Context, q *ExpiryQueue, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-q.Events():
			if e.Hard {
				c.log.Warn("SA hard lifetime reached: it refuses traffic until replaced", "sa", e.SA)
			} else {
				c.log.Warn("SA soft lifetime reached: rekey it", "sa", e.SA)
			}
		case <-t.C:
			c.CheckLifetimes(dataplane.Now())
		}
	}
}
