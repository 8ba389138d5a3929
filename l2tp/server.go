package l2tp

// Control plane code: allocates, never on the dataplane's hot path.

import (
	"container/heap"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"time"
)

// The LNS in one picture (RFC 2661 sections 5 to 7):
//
//	UDP/1701 payload ─► Server.Input(peer, payload, now)
//	    ParseHeader ─► tunnel 0: SCCRQ ─► duplicate? token? limits? ─► new tunnel
//	                 └► tunnel id ─► bound to this peer? ─► tunnel.input
//	    tunnel.input: ParseControl ─► reliable.receive (Ns/Nr, acks, hold, re-ack)
//	                  ─► in order: tunnel state machine ─► session state machine
//	    replies ─► reliable.queueMsg (Ns, window, retransmission) ─► cfg.Send
//	    transitions ─► cfg.Events (TunnelUp/Down, SessionUp/Down) ─► the dataplane's tables
//	Server.Tick(now) at Server.NextDeadline(): retransmissions, delayed ZLBs,
//	    HELLOs, set-up timeouts, release of closed tunnels (one timer heap)
//
// The caller owns sockets, clocks and encryption: control/ feeds Input with
// what the dataplane punts (Peer.Binding = the inbound SA it arrived in),
// encrypts what Send hands it with the paired outbound SA, and publishes
// the events as session tables.

// ServerConfig is the LNS's settings. control/config.LNSSpec maps onto it;
// DefaultServerConfig fills what an operator leaves out.
type ServerConfig struct {
	Hostname      string        // our Host Name AVP
	HelloInterval time.Duration // send HELLO after this long without a message from the peer; 0 disables
	Secret        Secret        // tunnel authentication and AVP hiding; nil: no tunnel authentication
	ReceiveWindow uint16        // our Receive Window Size AVP: how many control messages the peer may have outstanding

	// Limits; 0 means no limit.
	MaxTunnels           int
	MaxTunnelsPerPeer    int // per (peer address, binding)
	MaxSessionsPerTunnel int
	MaxSessions          int

	// Token bucket for new tunnels: SCCRQRate per second, bursts of
	// SCCRQBurst. An SCCRQ without a token is dropped unanswered (the peer
	// retransmits), so a flood cannot starve established tunnels. A
	// retransmitted SCCRQ for a tunnel we already have costs no token.
	SCCRQRate  float64
	SCCRQBurst int

	RetransmitTimeout time.Duration // first retransmission interval (RFC 2661 section 5.8: 1s)
	RetransmitCap     time.Duration // the interval doubles up to this (section 5.8: at least 8s)
	MaxRetransmits    int           // retransmissions without progress before the tunnel is cleared
	AckDelay          time.Duration // how long an ack waits for a message to ride on before a ZLB goes

	// Send transmits one L2TP control message (the UDP payload) to p. It
	// is called on the Server's goroutine, must not block, and must not
	// retain payload.
	Send   func(p Peer, payload []byte)
	Events EventHandler // tunnel and session up/down; nil: none
	Rand   io.Reader    // ids, challenges, random vectors; nil: crypto/rand
	Logger *slog.Logger // nil: discard
}

// DefaultServerConfig returns the defaults: RFC 2661's timers (1s first
// retransmission doubling to 8s, 5 retransmissions, 60s hellos) and limits
// sized for a remote-access LNS where each client brings one tunnel and
// one session. Send must still be set.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		Hostname:             "sluice",
		HelloInterval:        60 * time.Second,
		ReceiveWindow:        16,
		MaxTunnels:           16384,
		MaxTunnelsPerPeer:    4,
		MaxSessionsPerTunnel: 64,
		MaxSessions:          16384,
		SCCRQRate:            100,
		SCCRQBurst:           200,
		RetransmitTimeout:    time.Second,
		RetransmitCap:        8 * time.Second,
		MaxRetransmits:       5,
		AckDelay:             100 * time.Millisecond,
	}
}

// Validate reports every problem with c, joined.
func (c *ServerConfig) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Send == nil {
		bad("l2tp: Send is nil")
	}
	if c.Hostname == "" || len(c.Hostname) > MaxAVPValue {
		bad("l2tp: hostname must be 1 to %d bytes", MaxAVPValue)
	}
	if c.HelloInterval < 0 {
		bad("l2tp: negative hello interval")
	}
	if c.ReceiveWindow == 0 {
		bad("l2tp: receive window must be at least 1")
	}
	if c.MaxTunnels < 0 || c.MaxTunnelsPerPeer < 0 || c.MaxSessionsPerTunnel < 0 || c.MaxSessions < 0 {
		bad("l2tp: negative limit")
	}
	if c.SCCRQRate <= 0 || c.SCCRQBurst < 1 {
		bad("l2tp: SCCRQ rate must be positive and burst at least 1")
	}
	if c.RetransmitTimeout <= 0 || c.RetransmitCap < c.RetransmitTimeout {
		bad("l2tp: retransmit timeout must be positive and not above the cap")
	}
	if c.MaxRetransmits < 1 {
		bad("l2tp: max retransmits must be at least 1")
	}
	if c.AckDelay < 0 || c.AckDelay >= c.RetransmitTimeout {
		bad("l2tp: ack delay must be between 0 and the retransmit timeout")
	}
	return errors.Join(errs...)
}

// ServerStats counts what the Server dropped or refused before a tunnel
// could account for it.
type ServerStats struct {
	Malformed     uint64 // not a parseable control message
	NotControl    uint64 // data messages handed to Input
	UnknownTunnel uint64 // no tunnel with the header's id
	WrongPeer     uint64 // a tunnel's message from another address or binding
	NoTunnelID    uint64 // tunnel id 0 on anything but an SCCRQ
	RateLimited   uint64 // SCCRQs dropped for want of a token
	Refused       uint64 // SCCRQs answered with StopCCN (limits, version, auth, bad AVPs)
	TunnelsOpened uint64 // SCCRQs accepted
}

// Server is the L2TP network server: the LNS side of RFC 2661's control
// connections and incoming calls. It never touches sockets or the clock:
// the caller feeds received control messages to Input, calls Tick at
// NextDeadline, and transmits what Send is handed.
//
// A Server is not safe for concurrent use: the control plane calls it from
// one goroutine, and it takes no locks. Work per message is O(log n) in the
// number of tunnels (a timer heap and maps), so 10,000 sessions are cheap.
type Server struct {
	cfg    ServerConfig
	rel    relConfig
	log    *slog.Logger
	events EventHandler

	tunnels  map[uint16]*tunnel
	byPeerID map[peerTunnelKey]*tunnel // duplicate SCCRQ detection
	perPeer  map[peerKey]int
	sessions int // all tunnels' sessions
	timers   timerHeap

	tokens   float64
	tokensAt time.Time

	stats ServerStats
	buf   []byte // scratch for stateless replies
}

type peerKey struct {
	addr    netip.Addr
	binding string
}

type peerTunnelKey struct {
	peerKey
	id uint16
}

func keyOf(p Peer) peerKey { return peerKey{p.Addr.Addr(), p.Binding} }

// noEvents is the EventHandler used when the config has none.
type noEvents struct{}

func (noEvents) TunnelUp(TunnelEvent)     {}
func (noEvents) TunnelDown(TunnelEvent)   {}
func (noEvents) SessionUp(SessionEvent)   {}
func (noEvents) SessionDown(SessionEvent) {}

// NewServer checks cfg and returns a Server with no tunnels.
func NewServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		events:   cfg.Events,
		tunnels:  make(map[uint16]*tunnel),
		byPeerID: make(map[peerTunnelKey]*tunnel),
		perPeer:  make(map[peerKey]int),
		tokens:   float64(cfg.SCCRQBurst),
	}
	s.rel = relConfig{rto: cfg.RetransmitTimeout, rtoCap: cfg.RetransmitCap, maxRetrans: cfg.MaxRetransmits,
		ackDelay: cfg.AckDelay, recvWindow: cfg.ReceiveWindow}
	if s.cfg.Rand == nil {
		s.cfg.Rand = rand.Reader
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.events == nil {
		s.events = noEvents{}
	}
	return s, nil
}

// Stats returns the server-level counters.
func (s *Server) Stats() ServerStats { return s.stats }

// Input processes one received control message: payload is the UDP payload
// (starting at the L2TP header) that arrived from p. It is not retained.
// Anything that is not a well-formed control message for a tunnel bound to
// p, or an SCCRQ, is counted and dropped.
func (s *Server) Input(p Peer, payload []byte, now time.Time) {
	h, err := ParseHeader(payload)
	if err != nil {
		s.stats.Malformed++
		return
	}
	if !h.IsControl() {
		s.stats.NotControl++
		return
	}
	if h.TunnelID == 0 {
		s.inputSCCRQ(p, payload, now)
		return
	}
	t := s.tunnels[h.TunnelID]
	if t == nil {
		s.stats.UnknownTunnel++
		return
	}
	if keyOf(p) != keyOf(t.peer) {
		s.stats.WrongPeer++
		return
	}
	t.peer.Addr = p.Addr // the port may float
	t.input(h, payload, now)
	s.schedule(t)
}

// inputSCCRQ handles a message addressed to tunnel 0: only an SCCRQ may be
// (RFC 2661 section 5.1.1). A retransmitted SCCRQ goes to the tunnel it
// created; a new one, if a token and the limits allow, creates a tunnel.
func (s *Server) inputSCCRQ(p Peer, payload []byte, now time.Time) {
	m, perr := ParseControl(payload, s.cfg.Secret)
	if m == nil || m.Type != MsgSCCRQ {
		if m == nil {
			s.stats.Malformed++
		} else {
			s.stats.NoTunnelID++
		}
		return
	}
	if !m.Has(AVPAssignedTunnelID) || m.AssignedTunnelID == 0 {
		s.stats.Malformed++ // nowhere to send an answer
		return
	}
	key := peerTunnelKey{keyOf(p), m.AssignedTunnelID}
	if t := s.byPeerID[key]; t != nil {
		// The peer's retransmission: its Ns is behind, so reliable delivery
		// drops it and acks again.
		t.peer.Addr = p.Addr
		h, _ := ParseHeader(payload)
		t.input(h, payload, now)
		s.schedule(t)
		return
	}
	if !s.takeToken(now) {
		s.stats.RateLimited++
		return
	}
	refuse := func(result, code uint16, why string) {
		s.stats.Refused++
		s.log.Debug("l2tp: SCCRQ refused", "peer", p.String(), "peer_tunnel_id", m.AssignedTunnelID, "reason", why)
		// Result 2 always carries an Error Code; result 5 carries the
		// highest version we support in it (RFC 2661 section 4.4.2).
		hasCode := result == StopGeneralError || result == StopBadVersion
		s.sendStateless(p, m.AssignedTunnelID, 0, m.Ns+1, MsgStopCCN, result, code, hasCode)
	}
	var ae *AVPError
	switch {
	case perr != nil && errors.As(perr, &ae) && isFraming(ae.Err):
		s.stats.Malformed++
		return
	case perr != nil:
		refuse(StopGeneralError, ErrCodeLength, "malformed-avp")
		return
	}
	if _, ok := m.UnknownMandatory(); ok {
		refuse(StopGeneralError, ErrCodeUnknownMandat, "unknown-mandatory-avp")
		return
	}
	if !m.Has(AVPProtocolVersion) || m.ProtocolVersion != 1 || m.ProtocolRevision != 0 {
		refuse(StopBadVersion, 0x0100, "protocol-version") // Error Code: the highest version we speak, 1.0
		return
	}
	if !m.Has(AVPHostName) || !m.Has(AVPFramingCapabilities) {
		refuse(StopGeneralError, ErrCodeRange, "missing-mandatory-avp")
		return
	}
	if m.Has(AVPChallenge) && len(s.cfg.Secret) == 0 {
		refuse(StopNotAuthorized, 0, "challenge-without-secret")
		return
	}
	pk := keyOf(p)
	switch {
	case s.cfg.MaxTunnels > 0 && len(s.tunnels) >= s.cfg.MaxTunnels,
		s.cfg.MaxTunnelsPerPeer > 0 && s.perPeer[pk] >= s.cfg.MaxTunnelsPerPeer,
		len(s.tunnels) >= 0xffff:
		refuse(StopGeneralError, ErrCodeResources, "limit")
		return
	}
	id, ok := s.allocID(func(id uint16) bool { return s.tunnels[id] != nil })
	if !ok {
		refuse(StopGeneralError, ErrCodeResources, "ids")
		return
	}
	t := newTunnel(s, id, p, m, now)
	s.tunnels[id] = t
	s.byPeerID[key] = t
	s.perPeer[pk]++
	s.stats.TunnelsOpened++
	h, _ := ParseHeader(payload)
	t.rel.nr = h.Ns // the peer's first Ns; 0 unless it misbehaves
	t.input(h, payload, now)
	s.schedule(t)
}

// isFraming reports whether an AVP error left the message unparseable, as
// opposed to one bad attribute inside an intact message.
func isFraming(err error) bool {
	return errors.Is(err, ErrAVPTruncated) || errors.Is(err, ErrAVPHeader) || errors.Is(err, ErrFirstAVP) ||
		errors.Is(err, ErrHiddenMsgType)
}

// takeToken refills the SCCRQ bucket for the time passed and takes one.
func (s *Server) takeToken(now time.Time) bool {
	if !s.tokensAt.IsZero() && now.After(s.tokensAt) {
		s.tokens = min(float64(s.cfg.SCCRQBurst), s.tokens+now.Sub(s.tokensAt).Seconds()*s.cfg.SCCRQRate)
	}
	if s.tokensAt.IsZero() || now.After(s.tokensAt) {
		s.tokensAt = now
	}
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

// allocID draws a random non-zero id that taken reports free. Random ids
// make blind injection into a tunnel or session harder (RFC 2661 section
// 9.1 leaves the choice to us). Past a few collisions it scans from a
// random start, so a nearly full space still terminates.
func (s *Server) allocID(taken func(uint16) bool) (uint16, bool) {
	var b [2]byte
	for range 16 {
		if _, err := io.ReadFull(s.cfg.Rand, b[:]); err != nil {
			s.log.Error("l2tp: random source failed", "err", err)
			return 0, false
		}
		if id := binary.BigEndian.Uint16(b[:]); id != 0 && !taken(id) {
			return id, true
		}
	}
	start := binary.BigEndian.Uint16(b[:])
	for i := range 0x10000 {
		if id := start + uint16(i); id != 0 && !taken(id) {
			return id, true
		}
	}
	return 0, false
}

// random fills b from the configured source.
func (s *Server) random(b []byte) error {
	_, err := io.ReadFull(s.cfg.Rand, b)
	return err
}

// sendStateless answers without a tunnel: a StopCCN refusing an SCCRQ or
// a CDN refusing a call, sent once and never retransmitted. Keeping state
// for a refusal would hand a flood the very resources the limits protect.
func (s *Server) sendStateless(p Peer, peerTunnel, peerSession, nr uint16, t MessageType, result, code uint16, hasCode bool) {
	m := Message{TunnelID: peerTunnel, SessionID: peerSession, Nr: nr, Type: t,
		Result: ResultCode{Result: result, Error: code, HasError: hasCode}}
	m.Add(AVPResultCode)
	if t == MsgStopCCN {
		m.Add(AVPAssignedTunnelID) // 0: we assigned none
	} else {
		m.Add(AVPAssignedSessionID)
	}
	b, err := m.Append(s.buf[:0], nil, nil)
	if err != nil {
		s.log.Error("l2tp: encode refusal", "err", err)
		return
	}
	s.buf = b
	s.cfg.Send(p, b)
}

// Tick runs every timer that is due at now: retransmissions, delayed acks,
// hellos and the release of closed tunnels.
func (s *Server) Tick(now time.Time) {
	// Each tunnel's tick moves its deadline past now or removes it, so
	// this visits each due tunnel once per timer it has due.
	for len(s.timers) > 0 && !s.timers[0].deadline.After(now) {
		t := s.timers[0]
		t.tick(now)
		s.schedule(t)
	}
}

// NextDeadline returns when Tick next needs to run; the zero time when no
// timer is armed.
func (s *Server) NextDeadline() time.Time {
	if len(s.timers) == 0 {
		return time.Time{}
	}
	return s.timers[0].deadline
}

// schedule puts t's next deadline into the heap, or takes it out.
func (s *Server) schedule(t *tunnel) {
	if t.removed {
		if t.heapIdx >= 0 {
			heap.Remove(&s.timers, t.heapIdx)
		}
		return
	}
	t.deadline = t.nextDeadline()
	switch {
	case t.deadline.IsZero() && t.heapIdx >= 0:
		heap.Remove(&s.timers, t.heapIdx)
	case t.deadline.IsZero():
	case t.heapIdx >= 0:
		heap.Fix(&s.timers, t.heapIdx)
	default:
		heap.Push(&s.timers, t)
	}
}

// remove forgets t: its id becomes free and its peer's count drops.
func (s *Server) remove(t *tunnel) {
	if t.removed {
		return
	}
	t.removed = true
	delete(s.tunnels, t.id)
	delete(s.byPeerID, peerTunnelKey{keyOf(t.peer), t.peerID})
	pk := keyOf(t.peer)
	if s.perPeer[pk]--; s.perPeer[pk] <= 0 {
		delete(s.perPeer, pk)
	}
}

// CloseTunnel tears down tunnel id from our side: StopCCN with Result Code
// 1 (general request to clear). It reports whether the tunnel existed and
// was not already closing.
func (s *Server) CloseTunnel(id uint16, now time.Time) bool {
	t := s.tunnels[id]
	if t == nil || t.state >= TunnelClosing {
		return false
	}
	t.stop(StopClear, 0, false, ReasonAdmin, now)
	s.schedule(t)
	return true
}

// CloseSession tears down one session from our side: CDN with Result Code
// 3 (administrative reasons). It reports whether the session existed.
func (s *Server) CloseSession(tunnelID, sessionID uint16, now time.Time) bool {
	t := s.tunnels[tunnelID]
	if t == nil || t.state >= TunnelClosing {
		return false
	}
	ss := t.sessions[sessionID]
	if ss == nil {
		return false
	}
	t.disconnect(ss, ResultCode{Result: CDNAdmin}, ReasonAdmin, now)
	s.schedule(t)
	return true
}

// Shutdown sends StopCCN with Result Code 6 (requester is being shut down)
// on every tunnel. Keep calling Tick until NextDeadline is zero to let the
// StopCCNs be acknowledged.
func (s *Server) Shutdown(now time.Time) {
	for _, t := range s.sortedTunnels() {
		if t.state < TunnelClosing {
			t.stop(StopShuttingDown, 0, false, ReasonAdmin, now)
			s.schedule(t)
		}
	}
}

func (s *Server) sortedTunnels() []*tunnel {
	ts := make([]*tunnel, 0, len(s.tunnels))
	for _, t := range s.tunnels {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b *tunnel) int { return int(a.id) - int(b.id) })
	return ts
}

// Tunnels returns every tunnel, closing ones included, ordered by local id.
func (s *Server) Tunnels() []TunnelInfo {
	ts := s.sortedTunnels()
	out := make([]TunnelInfo, len(ts))
	for i, t := range ts {
		out[i] = t.info()
	}
	return out
}

// Sessions returns every session, ordered by tunnel and session id.
func (s *Server) Sessions() []SessionInfo {
	out := make([]SessionInfo, 0, s.sessions)
	for _, t := range s.sortedTunnels() {
		start := len(out)
		for _, ss := range t.sessions {
			out = append(out, ss.info(t))
		}
		slices.SortFunc(out[start:], func(a, b SessionInfo) int { return int(a.LocalID) - int(b.LocalID) })
	}
	return out
}

// timerHeap orders tunnels by deadline; its methods implement
// heap.Interface and are only called through container/heap.
type timerHeap []*tunnel

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*tunnel)
	t.heapIdx = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.heapIdx = -1
	return t
}
