package l2tp

// Control plane code: allocates, never on the dataplane's hot path.

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// Peer identifies where a control connection lives: the outer peer address
// and port its messages arrive from, and an opaque binding label (the
// inbound SA's name; "" for cleartext labs). A control connection is bound
// to its Peer: messages for it from another address or binding are dropped.
// The port may float (NAT rebinding); replies follow the latest one.
type Peer struct {
	Addr    netip.AddrPort
	Binding string
}

// String returns "addr:port", with " via binding" when bound to an SA.
func (p Peer) String() string {
	if p.Binding == "" {
		return p.Addr.String()
	}
	return p.Addr.String() + " via " + p.Binding
}

// Secret is the tunnel authentication secret (RFC 2661 section 5.1.1),
// also used to hide AVPs. It never prints: String, Format, LogValue and
// MarshalJSON all redact it.
type Secret []byte

const redacted = "<redacted>"

// String returns a redacted placeholder, never the secret.
func (Secret) String() string { return redacted }

// GoString returns a redacted placeholder, never the secret.
func (Secret) GoString() string { return redacted }

// Format makes every fmt verb (%x included) print the placeholder.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue redacts the secret in log/slog output.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts the secret in JSON output.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// CloseReason says why a tunnel or session went down.
type CloseReason uint8

// Close reasons.
const (
	ReasonNone       CloseReason = iota
	ReasonPeerStop               // the peer sent StopCCN
	ReasonPeerCDN                // the peer sent CDN
	ReasonAdmin                  // CloseTunnel / CloseSession / Shutdown
	ReasonTimeout                // retransmissions exhausted: the peer is unreachable
	ReasonAuth                   // tunnel authentication failed
	ReasonProtocol               // a message the state machine cannot accept
	ReasonUnknownAVP             // an unknown AVP with the M bit set (RFC 2661 section 4.1)
	ReasonMalformed              // a mandatory AVP with a bad length or value
	ReasonTunnelDown             // the session's tunnel went down
	ReasonReplaced               // the peer reused the session's id in a new ICRQ
)

var reasonNames = [...]string{"", "peer-stopccn", "peer-cdn", "admin", "timeout", "auth-failed",
	"protocol-error", "unknown-mandatory-avp", "malformed-avp", "tunnel-down", "replaced"}

// String returns the reason as shown to operators ("peer-stopccn", ...).
func (r CloseReason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// TunnelEvent describes a tunnel that came up or went down.
type TunnelEvent struct {
	Peer     Peer
	LocalID  uint16 // the id the peer puts in messages to us
	PeerID   uint16 // the id we put in messages to the peer
	HostName string // the peer's Host Name AVP
	Reason   CloseReason
	Result   ResultCode // TunnelDown by StopCCN: the Result Code sent or received
}

// SessionEvent describes a session that came up or went down.
type SessionEvent struct {
	Peer          Peer
	LocalTunnelID uint16
	PeerTunnelID  uint16
	LocalID       uint16 // the session id data messages to us carry
	PeerID        uint16 // the session id we put in data messages to the peer
	// SequencingRequired is set when the LAC asked for sequenced data
	// messages (RFC 2661 section 4.4.4).
	SequencingRequired bool
	Reason             CloseReason
	Result             ResultCode // SessionDown by CDN: the Result Code sent or received
}

// EventHandler receives tunnel and session transitions, synchronously, on
// the Server's goroutine, from inside Input, Tick and the Close methods.
// TunnelUp follows SCCCN, SessionUp follows ICCN; every Up is matched by
// exactly one Down, and a tunnel's sessions go down before the tunnel.
// Handlers must not call back into the Server.
type EventHandler interface {
	TunnelUp(TunnelEvent)
	TunnelDown(TunnelEvent)
	SessionUp(SessionEvent)
	SessionDown(SessionEvent)
}

// EventFuncs adapts optional functions to EventHandler; nil ones are skipped.
type EventFuncs struct {
	OnTunnelUp    func(TunnelEvent)
	OnTunnelDown  func(TunnelEvent)
	OnSessionUp   func(SessionEvent)
	OnSessionDown func(SessionEvent)
}

// TunnelUp calls OnTunnelUp if set.
func (f EventFuncs) TunnelUp(e TunnelEvent) {
	if f.OnTunnelUp != nil {
		f.OnTunnelUp(e)
	}
}

// TunnelDown calls OnTunnelDown if set.
func (f EventFuncs) TunnelDown(e TunnelEvent) {
	if f.OnTunnelDown != nil {
		f.OnTunnelDown(e)
	}
}

// SessionUp calls OnSessionUp if set.
func (f EventFuncs) SessionUp(e SessionEvent) {
	if f.OnSessionUp != nil {
		f.OnSessionUp(e)
	}
}

// SessionDown calls OnSessionDown if set.
func (f EventFuncs) SessionDown(e SessionEvent) {
	if f.OnSessionDown != nil {
		f.OnSessionDown(e)
	}
}

// TunnelState is a control connection's state on the LNS side
// (RFC 2661 section 7.2.1, plus the tear-down hold of section 5.7).
type TunnelState uint8

// Tunnel states.
const (
	TunnelIdle        TunnelState = iota
	TunnelWaitCtlConn             // SCCRP sent, waiting for SCCCN
	TunnelEstablished             // SCCCN accepted
	TunnelClosing                 // we sent StopCCN; kept to retransmit it and ack the peer
	TunnelClosed                  // the peer sent StopCCN; kept to re-ack its retransmissions
)

var tunnelStateNames = [...]string{"idle", "wait-ctl-conn", "established", "closing", "closed"}

// String returns the state as shown to operators ("wait-ctl-conn", ...).
func (s TunnelState) String() string {
	if int(s) < len(tunnelStateNames) {
		return tunnelStateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// SessionState is an incoming call's state on the LNS side (RFC 2661
// section 7.4.2).
type SessionState uint8

// Session states.
const (
	SessionIdle        SessionState = iota
	SessionWaitConnect              // ICRP sent, waiting for ICCN
	SessionEstablished              // ICCN accepted
)

var sessionStateNames = [...]string{"idle", "wait-connect", "established"}

// String returns the state as shown to operators ("wait-connect", ...).
func (s SessionState) String() string {
	if int(s) < len(sessionStateNames) {
		return sessionStateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// TunnelInfo is operator data about one control connection.
type TunnelInfo struct {
	LocalID, PeerID  uint16
	Peer             Peer
	HostName         string
	VendorName       string
	FirmwareRevision uint16
	State            TunnelState
	Created          time.Time // SCCRQ accepted
	Established      time.Time // SCCCN accepted; zero before
	Sessions         int
	PeerWindow       int // the peer's Receive Window Size
	Outstanding      int // our messages not yet acknowledged
	Reason           CloseReason
	Control          ControlStats
}

// Uptime is how long the tunnel has been established at now; zero if it
// never was.
func (t TunnelInfo) Uptime(now time.Time) time.Duration {
	if t.Established.IsZero() {
		return 0
	}
	return now.Sub(t.Established)
}

// SessionInfo is operator data about one session. Packet and byte counts
// live in the dataplane, which carries the data messages.
type SessionInfo struct {
	TunnelID, PeerTunnelID uint16
	LocalID, PeerID        uint16
	Peer                   Peer
	State                  SessionState
	CallSerial             uint32
	Created                time.Time // ICRQ accepted
	Established            time.Time // ICCN accepted; zero before
	TxConnectSpeed         uint32
	RxConnectSpeed         uint32
	FramingType            uint32
	BearerType             uint32
	CallingNumber          string
	CalledNumber           string
	SequencingRequired     bool
	CallErrors             CallErrors // the latest WEN
	ACCM                   ACCM       // the latest SLI
}
