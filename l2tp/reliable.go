package l2tp

// Control plane code: allocates, never on the dataplane's hot path.

import (
	"encoding/binary"
	"time"
)

// Reliable delivery of control messages (RFC 2661 section 5.8, Appendix A
// and B): one engine per control connection.
//
// Sending: every message except a ZLB takes the next Ns when it is queued.
// Up to min(peer's Receive Window Size, congestion window) messages are
// outstanding; the rest wait in order. Each transmission carries the
// current Nr, so retransmissions and new messages double as acks. One
// timer covers the oldest unacknowledged message; when it fires, every
// outstanding message is sent again and the interval doubles up to a cap.
// The connection is dead after maxRetrans retransmissions without progress.
// The congestion window follows Appendix A: it starts at 1, grows by one
// per acknowledged message up to the slow-start threshold and by 1/cwnd
// after it, and a timeout halves the threshold and resets the window to 1.
//
// Receiving: a message whose Ns is the expected Nr is delivered and an ack
// is owed; if nothing is sent within ackDelay, a ZLB carries it. A message
// from the past (Ns before Nr, a retransmission whose ack was lost) is
// dropped and acked at once with a ZLB. A message ahead of Nr but inside
// our advertised receive window is copied and held until the gap fills
// (Appendix B's "queue, don't drop", which saves the peer a retransmission
// round); one past the window is dropped. Nr in every message, ZLBs and
// out-of-order ones included, acknowledges what we sent, when it is in
// range. Sequence numbers compare modulo 2^16 (section 5.8).
//
// Time is always passed in; the engine never reads the clock.

// relConfig is the reliable-delivery tuning shared by all connections.
type relConfig struct {
	rto        time.Duration // first retransmission interval
	rtoCap     time.Duration // the interval doubles up to this
	maxRetrans int           // retransmissions without progress before the connection is dead
	ackDelay   time.Duration // how long an ack may wait for a message to ride on
	recvWindow uint16        // what we advertise; out-of-order messages held up to it
}

// cycle is the time a full retransmission cycle takes: how long to keep a
// closed connection's state to acknowledge retransmissions (section 5.7).
func (c *relConfig) cycle() time.Duration {
	var total time.Duration
	iv := c.rto
	for i := 0; i <= c.maxRetrans; i++ {
		total += iv
		iv = min(2*iv, c.rtoCap)
	}
	return total
}

// ControlStats are one control connection's counters (RFC 2661 section 5.8 machinery and the messages it carried).
type ControlStats struct {
	RxMessages  uint64 // messages delivered in order (ZLBs not included)
	TxMessages  uint64 // messages queued for sending (ZLBs not included)
	RxZLB       uint64
	TxZLB       uint64
	Retransmits uint64 // messages sent again
	Duplicates  uint64 // received messages already delivered, re-acked
	OutOfOrder  uint64 // received ahead of Nr and held
	OutOfWindow uint64 // received past the receive window, dropped
	HellosSent  uint64 // HELLOs we sent (section 6.5)
	HellosAcked uint64 // of which the peer acknowledged
	Malformed   uint64 // messages dropped before sequencing: broken AVP framing
	Unexpected  uint64 // known messages the state machine ignored
	Refused     uint64 // calls refused with CDN (limits, bad ICRQ)
}

type outMsg struct {
	ns uint16
	b  []byte // the encoded message; Ns set, Nr patched at each transmission
}

// reliable is one control connection's sequencing state. Not safe for
// concurrent use; the Server's goroutine owns it.
type reliable struct {
	cfg  *relConfig
	send func(b []byte) // transmit one message; must not retain b

	peerTunnel uint16 // header tunnel id of the ZLBs we send
	nextNs     uint16 // Ns of the next message queued
	nr         uint16 // next Ns expected from the peer
	peerWindow int    // peer's Receive Window Size (default 4, section 4.4.3)

	cwnd, ssthresh int
	cwndAcc        int // acks counted towards the next congestion-avoidance step

	queue   []outMsg // unacknowledged, in Ns order; queue[:sent] transmitted
	sent    int
	rtxAt   time.Time // zero: nothing outstanding
	rtxIv   time.Duration
	retries int
	ackAt   time.Time // zero: no ack owed
	held    map[uint16][]byte
	onAck   func(ns uint16) // optional: called as each message is acknowledged
	dead    bool
	lastRx  time.Time // last message (ZLB included) from the peer
	stats   ControlStats
}

func newReliable(cfg *relConfig, send func([]byte)) *reliable {
	return &reliable{cfg: cfg, send: send, peerWindow: 4, cwnd: 1, ssthresh: 4}
}

// setPeerWindow applies the peer's Receive Window Size AVP. Zero is not a
// valid window (section 4.4.3); it is treated as absent.
func (r *reliable) setPeerWindow(w uint16) {
	if w == 0 {
		return
	}
	r.peerWindow = int(w)
	r.ssthresh = int(w)
}

// window is how many messages may be outstanding now.
func (r *reliable) window() int { return max(1, min(r.peerWindow, r.cwnd)) }

// queueMsg takes an encoded control message (header included), assigns its
// Ns and sends it if the window allows. It keeps b.
func (r *reliable) queueMsg(b []byte, now time.Time) uint16 {
	ns := r.nextNs
	r.nextNs++
	binary.BigEndian.PutUint16(b[offNs:], ns)
	r.queue = append(r.queue, outMsg{ns: ns, b: b})
	r.stats.TxMessages++
	r.pump(now)
	return ns
}

// pump transmits queued messages while the window has room.
func (r *reliable) pump(now time.Time) {
	for r.sent < len(r.queue) && r.sent < r.window() {
		r.transmit(r.queue[r.sent].b)
		r.sent++
		if r.rtxAt.IsZero() {
			r.rtxIv = r.cfg.rto
			r.rtxAt = now.Add(r.rtxIv)
		}
	}
}

// transmit sends b with the current Nr, which also pays any ack owed.
func (r *reliable) transmit(b []byte) {
	binary.BigEndian.PutUint16(b[offNr:], r.nr)
	r.ackAt = time.Time{}
	r.send(b)
}

// sendZLB sends a zero-length body acknowledgement. Its Ns is the Ns of
// the next message to be transmitted, which it does not consume.
func (r *reliable) sendZLB() {
	ns := r.nextNs
	if r.sent < len(r.queue) {
		ns = r.queue[r.sent].ns
	}
	var b [ctrlHeaderLen]byte
	binary.BigEndian.PutUint16(b[0:], ctrlFlags)
	binary.BigEndian.PutUint16(b[offLength:], ctrlHeaderLen)
	binary.BigEndian.PutUint16(b[4:], r.peerTunnel)
	binary.BigEndian.PutUint16(b[offNs:], ns)
	r.stats.TxZLB++
	r.transmit(b[:])
}

// rxVerdict says what receive decided about a message.
type rxVerdict uint8

const (
	rxDeliver   rxVerdict = iota // in order: process it now
	rxZLB                        // an acknowledgement only
	rxDuplicate                  // seen before: dropped and re-acked
	rxHeld                       // ahead of Nr: held until the gap fills
	rxDropped                    // past the receive window
)

// receive applies one message's Ns and Nr. raw is copied if held.
func (r *reliable) receive(ns, nr uint16, zlb bool, raw []byte, now time.Time) rxVerdict {
	r.lastRx = now
	r.ack(nr, now)
	if zlb {
		r.stats.RxZLB++
		return rxZLB
	}
	d := ns - r.nr
	switch {
	case d == 0:
		r.nr++
		r.stats.RxMessages++
		r.oweAck(now)
		return rxDeliver
	case int16(d) < 0:
		r.stats.Duplicates++
		r.sendZLB()
		return rxDuplicate
	case d < r.cfg.recvWindow:
		if _, ok := r.held[ns]; !ok {
			if r.held == nil {
				r.held = make(map[uint16][]byte)
			}
			r.held[ns] = append([]byte(nil), raw...)
			r.stats.OutOfOrder++
		}
		return rxHeld
	default:
		r.stats.OutOfWindow++
		return rxDropped
	}
}

// nextHeld returns the held message that is now in order, if any, and
// delivers it (advances Nr).
func (r *reliable) nextHeld(now time.Time) ([]byte, bool) {
	b, ok := r.held[r.nr]
	if !ok {
		return nil, false
	}
	delete(r.held, r.nr)
	r.nr++
	r.stats.RxMessages++
	r.oweAck(now)
	return b, true
}

func (r *reliable) oweAck(now time.Time) {
	if r.ackAt.IsZero() {
		r.ackAt = now.Add(r.cfg.ackDelay)
	}
}

// ack applies the peer's Nr: every message with Ns before it is delivered.
// An Nr outside [oldest outstanding, next to transmit] is stale or bogus
// and ignored.
func (r *reliable) ack(nr uint16, now time.Time) {
	if len(r.queue) == 0 {
		return
	}
	n := int(nr - r.queue[0].ns)
	if n == 0 || n > r.sent {
		return
	}
	for _, m := range r.queue[:n] {
		if r.onAck != nil {
			r.onAck(m.ns)
		}
		// Appendix A: slow start below the threshold, then one step per window.
		if r.cwnd < r.ssthresh {
			r.cwnd++
		} else if r.cwndAcc++; r.cwndAcc >= r.cwnd {
			r.cwndAcc = 0
			r.cwnd = min(r.cwnd+1, r.peerWindow)
		}
	}
	clear(r.queue[:n])
	r.queue = r.queue[n:]
	r.sent -= n
	r.retries = 0
	r.rtxAt = time.Time{}
	if r.sent > 0 {
		r.rtxIv = r.cfg.rto
		r.rtxAt = now.Add(r.rtxIv)
	}
	r.pump(now)
}

// outstanding reports how many messages are queued or unacknowledged.
func (r *reliable) outstanding() int { return len(r.queue) }

// deadline is when tick must next run; zero when no timer is armed.
func (r *reliable) deadline() time.Time {
	switch {
	case r.ackAt.IsZero():
		return r.rtxAt
	case r.rtxAt.IsZero() || r.ackAt.Before(r.rtxAt):
		return r.ackAt
	}
	return r.rtxAt
}

// tick runs the timers: the delayed ack and retransmission. It reports
// false once the connection is dead (retry limit reached).
func (r *reliable) tick(now time.Time) bool {
	if r.dead {
		return false
	}
	if !r.rtxAt.IsZero() && !now.Before(r.rtxAt) {
		if r.retries >= r.cfg.maxRetrans {
			r.dead = true
			r.rtxAt, r.ackAt = time.Time{}, time.Time{}
			return false
		}
		r.retries++
		r.ssthresh = max(r.cwnd/2, 1)
		r.cwnd, r.cwndAcc = 1, 0
		for i := range r.sent {
			r.transmit(r.queue[i].b)
			r.stats.Retransmits++
		}
		r.rtxIv = min(2*r.rtxIv, r.cfg.rtoCap)
		r.rtxAt = now.Add(r.rtxIv)
	}
	if !r.ackAt.IsZero() && !now.Before(r.ackAt) {
		r.sendZLB()
	}
	return true
}

// abandon forgets everything we still had to deliver: the peer closed the
// connection, so retransmitting to it is pointless.
func (r *reliable) abandon() {
	clear(r.queue)
	r.queue = r.queue[:0]
	r.sent = 0
	r.retries = 0
	r.rtxAt = time.Time{}
}
