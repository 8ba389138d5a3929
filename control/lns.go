package control

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/sluicenet/sluice/control/config"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/l2tp"
)

// The L2TP network server in production: one goroutine (LNS.Run) between
// the workers and l2tp.Server.
//
//	worker punt queues ─► LNS.Run (drains every worker, round robin)
//	  PuntIKE ─► counted and dropped (no IKE daemon in sluice: an external
//	             one would attach here, reading these punts)
//	  PuntL2TPControl ─► inner IP/UDP parsed ─► route learnt (worker, MACs,
//	             VLAN, addresses, NAT-T ports) ─► l2tp.Server.Input(Peer{
//	             outer source address + inner UDP source port, SA name})
//	  l2tp.Server.Send ─► lns_reply.go: IP+UDP from 1701 ─► Encap with the
//	             binding's paired outbound SA ─► Ethernet ─► the inject queue
//	             of the worker the peer's packets arrive on
//	  l2tp.Server events ─► l2tpdyn.go: dynamic sessions, coalesced publish
//	  l2tp.Server.Tick at NextDeadline; commits followed (Controller.Running)
//
// Wake-ups: a pass that found punts is followed at once by another; after
// an empty pass the runner sleeps PollBusy (1 ms) while the last punt is
// recent (BusyFor, 250 ms: a handshake's next message is a round trip
// away), then doubles the sleep up to PollIdle (10 ms). Every sleep is cut
// short by the server's next timer and a pending publish. The worst case
// punt-to-reply latency is therefore PollIdle plus the worker's own idle
// wait before it drains its inject queue (WorkerOptions.IdleWait).

// LNSOptions configure an LNS. The zero value of every field is usable.
type LNSOptions struct {
	Logger *slog.Logger     // nil discards
	Clock  func() time.Time // wall clock with monotonic reading; default time.Now
	// PollBusy is the sleep between passes shortly after work, PollIdle
	// the longest sleep when idle (defaults 1 ms and 10 ms); BusyFor is
	// how long after the last punt the runner stays at PollBusy (250 ms).
	PollBusy, PollIdle, BusyFor time.Duration
	// PublishEvery is the shortest time between two publishes of the
	// session map (default 1 ms): session changes within it are coalesced.
	PublishEvery time.Duration
	// Budget is how many punts one pass takes from one worker (default
	// 256), so that one busy worker cannot starve the others' peers.
	Budget int
	// ShutdownGrace is how long Run keeps serving after its context ends,
	// for the StopCCNs it sends to be acknowledged (default 2 s).
	ShutdownGrace time.Duration
	// MaxRoutes bounds the reply routes (one per peer address, port and
	// SA) the LNS keeps (default 65536); punts from new peers past it are
	// dropped and counted.
	MaxRoutes int
	// RouteIdle is how long a route with no tunnel is kept after its last
	// punt (default 5 minutes, longer than a retransmission cycle).
	RouteIdle time.Duration
	// Rand is the server's random source (tunnel and session ids,
	// challenges, random vectors); nil: crypto/rand.
	Rand io.Reader
	// Nice, when positive (1-19), runs Run on an OS thread of its own at
	// that niceness (Linux), so that where a worker shares a core with the
	// LNS the worker wins the CPU under a flood of control messages, as
	// Options.Nice does for commits. 0 leaves priorities alone.
	Nice int
}

// DefaultLNSOptions returns the defaults NewLNS fills in for zero fields.
func DefaultLNSOptions() LNSOptions {
	return LNSOptions{
		Logger:        slog.New(slog.DiscardHandler),
		Clock:         time.Now,
		PollBusy:      time.Millisecond,
		PollIdle:      10 * time.Millisecond,
		BusyFor:       250 * time.Millisecond,
		PublishEvery:  time.Millisecond,
		Budget:        256,
		ShutdownGrace: 2 * time.Second,
		MaxRoutes:     65536,
		RouteIdle:     5 * time.Minute,
	}
}

func (o LNSOptions) withDefaults() LNSOptions {
	d := DefaultLNSOptions()
	if o.Logger == nil {
		o.Logger = d.Logger
	}
	if o.Clock == nil {
		o.Clock = d.Clock
	}
	for _, p := range []struct{ v, d *time.Duration }{{&o.PollBusy, &d.PollBusy}, {&o.PollIdle, &d.PollIdle},
		{&o.BusyFor, &d.BusyFor}, {&o.PublishEvery, &d.PublishEvery}, {&o.ShutdownGrace, &d.ShutdownGrace},
		{&o.RouteIdle, &d.RouteIdle}} {
		if *p.v <= 0 {
			*p.v = *p.d
		}
	}
	if o.PollIdle < o.PollBusy {
		o.PollIdle = o.PollBusy
	}
	if o.Budget <= 0 {
		o.Budget = d.Budget
	}
	if o.MaxRoutes <= 0 {
		o.MaxRoutes = d.MaxRoutes
	}
	return o
}

// LNS runs sluice's L2TP network server against a Controller's dataplane:
// it drains every worker's punt queue, feeds l2tp.Server, sends its replies
// through the workers' inject queues encrypted with the paired outbound SA,
// and publishes negotiated sessions. It follows the controller's commits by
// itself: l2tp.lns settings, SAs that disappear.
//
// An LNS must be the only consumer of the workers' punt queues and the
// only producer of their inject queues (both are single-producer,
// single-consumer rings).
//
// Its methods are safe for concurrent use; Run is called once.
type LNS struct {
	ctrl *Controller
	dp   *dataplane.Dataplane
	log  *slog.Logger
	opts LNSOptions

	mu      sync.Mutex
	srv     *l2tp.Server         // +checklocks:mu; nil until the first commit
	spec    config.LNSSpec       // +checklocks:mu: what srv was built from
	rev     int                  // +checklocks:mu: the revision last followed
	drain   *drainingServer      // +checklocks:mu: the server a config change replaced
	workers []*dataplane.Worker  // +checklocks:mu
	routes  map[l2tp.Peer]*route // +checklocks:mu
	sweepAt time.Time            // +checklocks:mu

	want      map[uint32]*dataplane.Session // +checklocks:mu: dynamic sessions as they should be published
	dirty     map[uint32]struct{}           // +checklocks:mu: keys changed since the last publish
	changes   map[uint32]*dataplane.Session // +checklocks:mu: scratch for publish
	published time.Time                     // +checklocks:mu
	closes    []sessionRef                  // +checklocks:mu: sessions to hang up after the current call

	binds    map[string]*binding // +checklocks:mu: reply SA per binding, for bindLive
	bindLive *live               // +checklocks:mu
	pairs    map[string]string   // +checklocks:mu: last pair seen per inbound SA name
	warned   map[string]bool     // +checklocks:mu: bindings whose missing pair was logged
	ipID     uint16              // +checklocks:mu
	lastWork time.Time           // +checklocks:mu
	st       LNSStats            // +checklocks:mu
}

// drainingServer is a server replaced by a configuration change: it has
// sent StopCCN on all its tunnels and keeps them until acknowledged.
type drainingServer struct {
	srv   *l2tp.Server
	ids   map[uint16]bool // its tunnel ids: their messages go to it
	until time.Time
}

// sessionRef names a session by its local ids.
type sessionRef struct{ tunnel, session uint16 }

// NewLNS returns an LNS for ctrl and installs it as ctrl's L2TPInfo (the
// API's source of negotiated tunnels and sessions). It starts nothing: the
// daemon runs `go lns.Run(ctx)` once its workers run.
func NewLNS(ctrl *Controller, opts LNSOptions) *LNS {
	opts = opts.withDefaults()
	l := &LNS{
		ctrl: ctrl, dp: ctrl.Dataplane(), log: opts.Logger, opts: opts,
		rev:    -1,
		routes: map[l2tp.Peer]*route{},
		want:   map[uint32]*dataplane.Session{}, dirty: map[uint32]struct{}{}, changes: map[uint32]*dataplane.Session{},
		binds: map[string]*binding{}, pairs: map[string]string{}, warned: map[string]bool{},
	}
	ctrl.SetL2TPInfo(l)
	return l
}

// Run serves until ctx ends, then sends StopCCN on every tunnel (Result
// Code 6, shutting down), keeps serving up to ShutdownGrace for them to be
// acknowledged, unpublishes the negotiated sessions and returns nil. Call
// it once, on its own goroutine, while the workers run (replies leave
// through them).
func (l *LNS) Run(ctx context.Context) error {
	if l.opts.Nice > 0 {
		if err := withNice(l.opts.Nice, func() { l.run(ctx) }); err != nil {
			l.log.Warn("l2tp: LNS ran at normal priority", "nice", l.opts.Nice, "err", err)
		}
		return nil
	}
	l.run(ctx)
	return nil
}

// run is Run's loop.
func (l *LNS) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	sleep := l.opts.PollBusy
	for {
		now := l.opts.Clock()
		l.mu.Lock()
		n := l.passLocked(now)
		if n > 0 || now.Sub(l.lastWork) < l.opts.BusyFor {
			sleep = l.opts.PollBusy
		}
		wake := l.wakeLocked(now, sleep)
		l.mu.Unlock()
		if n > 0 && ctx.Err() == nil {
			continue // more may be waiting: poll again before sleeping
		}
		if ctx.Err() != nil {
			l.shutdown()
			return
		}
		timer.Reset(wake)
		select {
		case <-ctx.Done():
			l.shutdown()
			return
		case <-timer.C:
		}
		sleep = min(2*sleep, l.opts.PollIdle)
	}
}

// wakeLocked returns how long to sleep: sleep, cut short by the servers'
// timers and a pending publish.
//
// +checklocks:mu
func (l *LNS) wakeLocked(now time.Time, sleep time.Duration) time.Duration {
	at := now.Add(sleep)
	earlier := func(t time.Time) {
		if !t.IsZero() && t.Before(at) {
			at = t
		}
	}
	if l.srv != nil {
		earlier(l.srv.NextDeadline())
	}
	if l.drain != nil {
		earlier(l.drain.srv.NextDeadline())
	}
	if len(l.dirty) > 0 {
		earlier(l.published.Add(l.opts.PublishEvery))
	}
	return max(at.Sub(now), 50*time.Microsecond)
}

// passLocked is one round of the runner: follow a commit, drain the punt
// queues, run due timers, hang up sessions the events asked for, publish
// and sweep routes. It returns how many punts it took.
//
// +checklocks:mu
func (l *LNS) passLocked(now time.Time) int {
	l.followLocked(now)
	l.workers = l.dp.Workers()
	n := 0
	for _, w := range l.workers {
		q := w.Punts()
		if q == nil {
			continue
		}
		for i := 0; i < l.opts.Budget; i++ {
			p := q.Peek()
			if p == nil {
				break
			}
			l.puntLocked(p, now)
			q.Advance()
			n++
		}
	}
	if n > 0 {
		l.lastWork = now
	}
	l.tickLocked(now)
	l.publishLocked(now, false)
	if now.After(l.sweepAt) {
		l.sweepRoutesLocked(now)
	}
	return n
}

// tickLocked runs the servers' due timers and the hang-ups queued by event
// handlers (which may not call back into the server themselves).
//
// +checklocks:mu
func (l *LNS) tickLocked(now time.Time) {
	if l.srv != nil {
		if d := l.srv.NextDeadline(); !d.IsZero() && !d.After(now) {
			l.srv.Tick(now)
		}
		for len(l.closes) > 0 {
			c := l.closes[0]
			l.closes = l.closes[1:]
			l.srv.CloseSession(c.tunnel, c.session, now)
		}
	}
	if d := l.drain; d != nil {
		if nd := d.srv.NextDeadline(); !nd.IsZero() && !nd.After(now) {
			d.srv.Tick(now)
		}
		if d.srv.NextDeadline().IsZero() || now.After(d.until) {
			l.drain = nil
		}
	}
}

// followLocked applies a commit the controller made since the last pass:
// a changed l2tp.lns restarts the server, and tunnels bound to an inbound
// SA that is no longer configured are torn down (StopCCN, Result Code 1).
//
// What a restart does to live tunnels: the old server sends StopCCN with
// Result Code 6 (shutting down) on each and keeps them, answering
// retransmissions and acks, until they are acknowledged or a full
// retransmission cycle passes; their sessions are unpublished at once.
// Clients reconnect to the new server, which has the new settings
// (hostname, secret, timers, limits). l2tp.Server has no way to change
// settings under live tunnels, and RFC 2661 gives none to tell a peer.
//
// +checklocks:mu
func (l *LNS) followLocked(now time.Time) {
	rev := l.ctrl.Running()
	if rev.N == l.rev {
		return
	}
	l.rev = rev.N
	lv := l.ctrl.live.Load()
	if lv.cfg == nil {
		return
	}
	if l.srv == nil || !sameLNS(lv.cfg.L2TP.LNS, l.spec) {
		l.restartLocked(lv.cfg.L2TP.LNS, now)
	}
	if l.srv == nil {
		return // refused settings and nothing running: punts count as no-server
	}
	for _, t := range l.srv.Tunnels() {
		if b := t.Peer.Binding; b != "" && lv.inbound[b] == nil && t.State < l2tp.TunnelClosing {
			if l.srv.CloseTunnel(t.LocalID, now) {
				l.st.SATeardowns++
				l.log.Info("l2tp: tunnel torn down: its SA is no longer configured", "tunnel_id", t.LocalID, "sa", b)
			}
		}
	}
}

// restartLocked replaces the server with one built from spec.
//
// +checklocks:mu
func (l *LNS) restartLocked(spec config.LNSSpec, now time.Time) {
	cfg := serverConfig(spec)
	cfg.Send = l.sendLocked
	cfg.Events = lnsEvents{l}
	cfg.Rand = l.opts.Rand
	cfg.Logger = l.log
	srv, err := l2tp.NewServer(cfg)
	if err != nil {
		// config validation keeps this from happening; keep what runs.
		l.log.Error("l2tp: LNS settings refused, previous ones kept", "err", err)
		return
	}
	if old := l.srv; old != nil {
		ids := map[uint16]bool{}
		for _, t := range old.Tunnels() {
			ids[t.LocalID] = true
		}
		old.Shutdown(now)
		l.drain = nil
		if len(ids) > 0 {
			// The new server draws its ids at random and may, rarely, reuse
			// one of these while they drain: that tunnel's messages then go
			// to the old server until it lets go, and its peer retries.
			l.drain = &drainingServer{srv: old, ids: ids, until: now.Add(time.Minute)}
		}
		l.st.Restarts++
		l.log.Info("l2tp: LNS settings changed; server restarted", "tunnels_stopped", len(ids))
	}
	l.srv, l.spec = srv, spec
}

// serverConfig maps l2tp.lns onto the server's settings. The SCCRQ burst
// is two seconds' worth of the rate; the ack delay stays below the first
// retransmission timeout.
func serverConfig(s config.LNSSpec) l2tp.ServerConfig {
	c := l2tp.DefaultServerConfig()
	if s.Hostname != "" {
		c.Hostname = s.Hostname
	}
	c.HelloInterval = s.HelloInterval
	if len(s.Secret) > 0 {
		c.Secret = l2tp.Secret(bytes.Clone(s.Secret))
	}
	if s.ReceiveWindow > 0 {
		c.ReceiveWindow = s.ReceiveWindow
	}
	for _, p := range []struct{ v, d *int }{{&s.MaxTunnels, &c.MaxTunnels}, {&s.MaxTunnelsPerPeer, &c.MaxTunnelsPerPeer},
		{&s.MaxSessionsPerTunnel, &c.MaxSessionsPerTunnel}, {&s.MaxSessions, &c.MaxSessions}, {&s.MaxRetransmits, &c.MaxRetransmits}} {
		if *p.v > 0 {
			*p.d = *p.v
		}
	}
	if s.SCCRQRate > 0 {
		c.SCCRQRate = s.SCCRQRate
		c.SCCRQBurst = max(1, int(math.Ceil(2*s.SCCRQRate)))
	}
	if s.RetransmitTimeout > 0 {
		c.RetransmitTimeout = s.RetransmitTimeout
	}
	if s.RetransmitCap >= c.RetransmitTimeout {
		c.RetransmitCap = s.RetransmitCap
	} else if c.RetransmitCap < c.RetransmitTimeout {
		c.RetransmitCap = c.RetransmitTimeout
	}
	c.AckDelay = min(c.AckDelay, c.RetransmitTimeout/2)
	return c
}

// sameLNS reports whether two l2tp.lns settings are equal, secret included.
func sameLNS(a, b config.LNSSpec) bool {
	return a.Hostname == b.Hostname && a.HelloInterval == b.HelloInterval && bytes.Equal(a.Secret, b.Secret) &&
		a.ReceiveWindow == b.ReceiveWindow && a.MaxTunnels == b.MaxTunnels && a.MaxTunnelsPerPeer == b.MaxTunnelsPerPeer &&
		a.MaxSessionsPerTunnel == b.MaxSessionsPerTunnel && a.MaxSessions == b.MaxSessions && a.SCCRQRate == b.SCCRQRate &&
		a.RetransmitTimeout == b.RetransmitTimeout && a.RetransmitCap == b.RetransmitCap && a.MaxRetransmits == b.MaxRetransmits
}

// shutdown stops every tunnel and serves until the StopCCNs are
// acknowledged or ShutdownGrace passes, then unpublishes what is left.
func (l *LNS) shutdown() {
	start := l.opts.Clock()
	l.mu.Lock()
	if l.srv != nil {
		l.srv.Shutdown(start)
	}
	l.mu.Unlock()
	for {
		now := l.opts.Clock()
		l.mu.Lock()
		l.passLocked(now)
		done := l.quietLocked() || now.Sub(start) >= l.opts.ShutdownGrace
		if done {
			l.publishLocked(now, true)
		}
		l.mu.Unlock()
		if done {
			return
		}
		time.Sleep(l.opts.PollBusy)
	}
}

// quietLocked reports whether no tunnel has a message outstanding.
//
// +checklocks:mu
func (l *LNS) quietLocked() bool {
	for _, s := range []*l2tp.Server{l.srv, l.drainSrv()} {
		if s == nil {
			continue
		}
		for _, t := range s.Tunnels() {
			if t.Outstanding > 0 {
				return false
			}
		}
	}
	return true
}

// +checklocks:mu
func (l *LNS) drainSrv() *l2tp.Server {
	if l.drain == nil {
		return nil
	}
	return l.drain.srv
}

// CloseTunnel tears tunnel id down from our side: StopCCN with Result Code
// 1 (general request to clear), its sessions unpublished. It reports
// whether the tunnel existed and was not already closing. Any goroutine;
// the StopCCN leaves through the worker at once, its retransmissions and
// the peer's ack are handled by Run.
func (l *LNS) CloseTunnel(id uint16) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.srv != nil && l.srv.CloseTunnel(id, l.opts.Clock())
}

// CloseSession hangs up one session from our side: CDN with Result Code 3
// (administrative reasons). It reports whether the session existed. Any
// goroutine.
func (l *LNS) CloseSession(tunnel, session uint16) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.srv != nil && l.srv.CloseSession(tunnel, session, l.opts.Clock())
}

// Stats returns the LNS's counters.
func (l *LNS) Stats() LNSStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.st
	st.Routes = len(l.routes)
	if l.srv != nil {
		st.Server = l.srv.Stats()
	}
	return st
}
