// Package types holds the documents of sluice's local API (/v1/): what the
// daemon serves and what the operator shell decodes. Plain structs and the
// standard library only, so that the shell links neither the control plane
// nor the dataplane.
//
// Names are kebab-case, like the stats document of ARCHITECTURE.md. Key
// material has no field anywhere in this package: an SA is described by its
// SPI, proposal, peers and counters, never by its keys.
package types

import "time"

// Status is GET /v1/status.
type Status struct {
	Version       string          `json:"version"`
	Started       time.Time       `json:"started"`
	UptimeSeconds float64         `json:"uptime-seconds"`
	Revision      int             `json:"revision"` // the running configuration's revision
	Workers       int             `json:"workers"`
	Sessions      int             `json:"sessions"` // open operator (configuration) sessions
	Pending       *PendingConfirm `json:"pending-confirm,omitempty"`
	Saved         int             `json:"saved-revision"` // revision last saved to a file; -1 never
}

// PendingConfirm is a commit-confirm waiting for `confirm`.
type PendingConfirm struct {
	Revision   int       `json:"revision"`    // the unconfirmed revision
	RollbackTo int       `json:"rollback-to"` // the revision restored if not confirmed
	Who        string    `json:"who"`
	Deadline   time.Time `json:"deadline"`
}

// PortStats are a port's own counters (kernel ring statistics for AF_XDP).
type PortStats struct {
	Mode           string `json:"mode"` // native, generic, mem, pcap
	ZeroCopy       bool   `json:"zero-copy"`
	RxDropped      uint64 `json:"rx-dropped"`
	RxInvalidDescs uint64 `json:"rx-invalid-descs"`
	TxInvalidDescs uint64 `json:"tx-invalid-descs"`
	RxRingFull     uint64 `json:"rx-ring-full"`
	FillRingEmpty  uint64 `json:"fill-ring-empty"`
	TxRingEmpty    uint64 `json:"tx-ring-empty"`
	TxCompleted    uint64 `json:"tx-completed"`
}

// Interface is one entry of GET /v1/interfaces: its workers' counters
// summed, and its ports' own statistics summed.
type Interface struct {
	Name      string    `json:"name"`
	Queues    []int     `json:"queues"`
	Workers   []int     `json:"workers"`
	RxPackets uint64    `json:"rx-packets"`
	RxBytes   uint64    `json:"rx-bytes"`
	TxPackets uint64    `json:"tx-packets"`
	TxBytes   uint64    `json:"tx-bytes"`
	Drops     uint64    `json:"drops"` // every drop reason, summed
	Port      PortStats `json:"port"`
}

// Worker is one entry of GET /v1/workers.
type Worker struct {
	ID        int    `json:"id"`
	Interface string `json:"interface"`
	Queue     int    `json:"queue"`
	// Counters holds every worker statistic by name (rx-packets, bursts,
	// delivered, ...); Drops every drop reason, zeros included.
	Counters map[string]uint64 `json:"counters"`
	Drops    map[string]uint64 `json:"drops"`
	// PuntDepth and PuntCap are the punt queue's fill and size now.
	PuntDepth int `json:"punt-queue-depth"`
	PuntCap   int `json:"punt-queue-capacity"`
}

// SA is one entry of GET /v1/ipsec/sa. It never carries keys.
type SA struct {
	Name            string     `json:"name"`
	SPI             string     `json:"spi"` // 0x%08x
	Direction       string     `json:"direction"`
	Mode            string     `json:"mode"`
	Proposal        string     `json:"proposal"`
	Encapsulation   string     `json:"encapsulation"`
	Source          string     `json:"source"`
	Destination     string     `json:"destination"`
	SourcePort      uint16     `json:"source-port,omitempty"`
	DestinationPort uint16     `json:"destination-port,omitempty"`
	ESN             bool       `json:"esn"`
	ReplayWindow    uint32     `json:"replay-window"`
	Pair            string     `json:"pair,omitempty"`
	Packets         uint64     `json:"packets"`
	Bytes           uint64     `json:"bytes"`
	AuthFailures    uint64     `json:"auth-failures"`
	ReplayDrops     uint64     `json:"replay-drops"`
	Malformed       uint64     `json:"malformed"`
	ExpiredDrops    uint64     `json:"expired-drops"`
	Seq             uint64     `json:"seq,omitempty"` // outbound: last sequence number used
	Lifetime        SALifetime `json:"lifetime"`
}

// SA lifetime states.
const (
	LifetimeOK          = "ok"
	LifetimeSoftExpired = "soft-expired" // a rekey-* limit was reached
	LifetimeHardExpired = "hard-expired" // a life-* limit was reached: traffic is refused
)

// SALifetime is an SA's limits and where it stands (swanctl's names:
// rekey-* soft, life-* hard; 0 means no limit).
type SALifetime struct {
	State        string `json:"state"`
	RekeyTime    string `json:"rekey-time,omitempty"`
	LifeTime     string `json:"life-time,omitempty"`
	RekeyBytes   uint64 `json:"rekey-bytes,omitempty"`
	LifeBytes    uint64 `json:"life-bytes,omitempty"`
	RekeyPackets uint64 `json:"rekey-packets,omitempty"`
	LifePackets  uint64 `json:"life-packets,omitempty"`
}

// RuleSet is one entry of GET /v1/firewall.
type RuleSet struct {
	Name          string   `json:"name"`
	Description   string   `json:"description,omitempty"`
	DefaultAction string   `json:"default-action"`
	Interfaces    []string `json:"interfaces"` // where it is applied as the local ruleset
	Builtin       bool     `json:"builtin,omitempty"`
	Rules         []Rule   `json:"rules"`
	// DefaultPackets and DefaultBytes count what fell through to the
	// default action.
	DefaultPackets uint64 `json:"default-packets"`
	DefaultBytes   uint64 `json:"default-bytes"`
}

// Rule is one rule of a RuleSet, with its counters.
type Rule struct {
	Number      uint32 `json:"number"`
	Action      string `json:"action"`
	Description string `json:"description,omitempty"`
	Disabled    bool   `json:"disabled,omitempty"`
	Protocol    string `json:"protocol"`
	Source      string `json:"source,omitempty"`      // "10.0.0.0/8 port 1701", as configured
	Destination string `json:"destination,omitempty"` // idem
	IPsec       string `json:"ipsec,omitempty"`       // match-ipsec | match-none
	Packets     uint64 `json:"packets"`
	Bytes       uint64 `json:"bytes"`
}

// DropCount is one reason's count.
type DropCount struct {
	Reason  string `json:"reason"`
	Packets uint64 `json:"packets"`
}

// Drops is GET /v1/drops: every reason in the vocabulary's order, zeros
// included.
type Drops struct {
	Reasons []DropCount `json:"reasons"`
	Total   uint64      `json:"total"`
}

// L2TP tunnel and session sources.
const (
	SourceStatic = "static" // l2tp static (configuration)
	SourceLNS    = "lns"    // negotiated by the L2TP network server
)

// L2TPTunnel is one entry of GET /v1/l2tp/tunnels.
type L2TPTunnel struct {
	LocalID     uint16    `json:"local-id"`
	PeerID      uint16    `json:"peer-id"`
	Source      string    `json:"source"` // static | lns
	SA          string    `json:"sa,omitempty"`
	Peer        string    `json:"peer,omitempty"`
	HostName    string    `json:"hostname,omitempty"`
	State       string    `json:"state"`
	Sessions    int       `json:"sessions"`
	Established time.Time `json:"established,omitzero"`
	// UptimeSeconds is how long an LNS tunnel has been established.
	UptimeSeconds float64 `json:"uptime-seconds,omitempty"`
	// Reason says why a closing LNS tunnel went down (peer-stopccn,
	// timeout, admin, ...).
	Reason string `json:"reason,omitempty"`
	// Control holds an LNS tunnel's control-connection counters.
	Control *L2TPControl `json:"control,omitempty"`
}

// L2TPControl is one LNS tunnel's control connection counters (RFC 2661
// section 5.8 reliable delivery and the messages it carried).
type L2TPControl struct {
	RxMessages  uint64 `json:"rx-messages"` // delivered in order, ZLBs not included
	TxMessages  uint64 `json:"tx-messages"`
	RxZLB       uint64 `json:"rx-zlb"`
	TxZLB       uint64 `json:"tx-zlb"`
	Retransmits uint64 `json:"retransmits"`
	Duplicates  uint64 `json:"duplicates"`
	OutOfOrder  uint64 `json:"out-of-order"`
	OutOfWindow uint64 `json:"out-of-window"`
	HellosSent  uint64 `json:"hellos-sent"`
	HellosAcked uint64 `json:"hellos-acked"`
	Malformed   uint64 `json:"malformed"`
	Unexpected  uint64 `json:"unexpected"`
	Refused     uint64 `json:"refused-calls"`
	Outstanding int    `json:"outstanding"` // our messages not yet acknowledged
	PeerWindow  int    `json:"peer-window"`
}

// L2TPSession is one entry of GET /v1/l2tp/sessions.
type L2TPSession struct {
	TunnelID      uint16    `json:"tunnel-id"`
	SessionID     uint16    `json:"session-id"`
	PeerTunnelID  uint16    `json:"peer-tunnel-id"`
	PeerSessionID uint16    `json:"peer-session-id"`
	Source        string    `json:"source"`
	SA            string    `json:"sa,omitempty"`
	State         string    `json:"state"`
	Established   time.Time `json:"established,omitzero"`
	Packets       uint64    `json:"packets"` // data messages delivered
	Bytes         uint64    `json:"bytes"`
	// CallSerial is an LNS session's Call Serial Number (RFC 2661 4.4.4).
	CallSerial uint32 `json:"call-serial,omitempty"`
	// TxPackets and TxBytes count data messages sent to the peer: sluice
	// does not terminate PPP, so it sends none and they stay 0.
	TxPackets uint64 `json:"tx-packets"`
	TxBytes   uint64 `json:"tx-bytes"`
}

// Revision is one committed configuration in GET /v1/config/history.
type Revision struct {
	N       int       `json:"revision"`
	Who     string    `json:"who"`
	When    time.Time `json:"when"`
	Comment string    `json:"comment,omitempty"`
	Running bool      `json:"running,omitempty"`
}

// Config is GET /v1/config and GET /v1/config/sessions/{id}: a rendering
// of the running or candidate configuration, keys always redacted. Text
// holds yaml, curly and commands renderings; Tree holds the json one.
type Config struct {
	Format   string `json:"format"`
	Revision int    `json:"revision"` // running: its revision; candidate: the revision it is based on
	Text     string `json:"text,omitempty"`
	Tree     any    `json:"tree,omitempty"`
}

// Session is an operator's configuration session (one candidate).
type Session struct {
	ID      string    `json:"id"`
	Who     string    `json:"who"`
	Created time.Time `json:"created"`
	Base    int       `json:"base"`    // the running revision the candidate was made from
	Changed bool      `json:"changed"` // the candidate differs from its base
	Stale   bool      `json:"stale"`   // the running configuration moved on since base
}

// PathRequest is the body of set and delete: a command path, one word an
// element ([firewall name WAN_LOCAL rule 10 action accept]).
type PathRequest struct {
	Path []string `json:"path"`
}

// CommitRequest is the body of commit.
type CommitRequest struct {
	Comment string `json:"comment,omitempty"`
}

// CommitConfirmRequest is the body of commit-confirm: the commit is rolled
// back unless confirmed within Minutes (plus Seconds, for automation).
type CommitConfirmRequest struct {
	Comment string `json:"comment,omitempty"`
	Minutes int    `json:"minutes,omitempty"`
	Seconds int    `json:"seconds,omitempty"`
}

// CommitResult answers commit, commit-confirm, confirm and rollback.
type CommitResult struct {
	Revision int             `json:"revision"`
	Changed  bool            `json:"changed"` // false: nothing to commit
	Message  string          `json:"message"`
	Diff     []string        `json:"diff,omitempty"` // what changed, keys redacted
	Pending  *PendingConfirm `json:"pending-confirm,omitempty"`
}

// LoadRequest is the body of load and merge: configuration text (YAML,
// curly or set commands), applied at Path (empty: the whole tree). The
// shell reads files itself and sends their text, so the daemon never reads
// a file on behalf of an API client.
type LoadRequest struct {
	Text   string   `json:"text"`
	Format string   `json:"format,omitempty"` // auto (default), yaml, json, curly, commands
	Path   []string `json:"path,omitempty"`
}

// RollbackRequest is the body of rollback.
type RollbackRequest struct {
	Revision int `json:"revision"`
}

// SaveRequest is the body of save. Path empty means the daemon's
// configuration file; otherwise a file in that file's directory.
type SaveRequest struct {
	Path string `json:"path,omitempty"`
}

// SaveResult answers save.
type SaveResult struct {
	Path     string `json:"path"`
	Revision int    `json:"revision"`
	Bytes    int    `json:"bytes"`
}

// Compare is GET .../compare: the candidate against the running
// configuration as "- set ..." and "+ set ..." lines, keys redacted.
type Compare struct {
	Base  int      `json:"base"`
	Stale bool     `json:"stale"`
	Lines []string `json:"lines"`
}

// Clear scopes (POST /v1/clear).
const (
	ClearAll        = "all"
	ClearInterfaces = "interfaces" // rx/tx and port statistics
	ClearWorkers    = "workers"    // every worker counter (interfaces and drops included)
	ClearDrops      = "drops"
	ClearSA         = "ipsec-sa"
	ClearFirewall   = "firewall"
	ClearL2TP       = "l2tp"
)

// ClearRequest is the body of POST /v1/clear: zero what the API and the
// shell show for Scope (Name narrows it to one interface, SA or ruleset).
// Prometheus metrics are not affected: they stay monotonic.
type ClearRequest struct {
	Scope string `json:"scope"`
	Name  string `json:"name,omitempty"`
}

// Error is the body of every response with a status of 400 or more.
type Error struct {
	Error    string    `json:"error"`
	Problems []Problem `json:"problems,omitempty"`
}

// Problem is one problem in a configuration, with the path of the node it
// concerns ("" for the whole configuration) and where it was written when
// it came from text.
type Problem struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
	Line   int    `json:"line,omitempty"`
	Col    int    `json:"col,omitempty"`
}
