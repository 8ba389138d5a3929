package config

import (
	"net/netip"
	"time"

	"github.com/sluicenet/sluice/ipsec"
)

// Config is the typed view of a validated configuration tree: what the
// control plane compiles into the dataplane's Tables. It is built from the
// tree by (*Tree).Config and never edited in place.
type Config struct {
	API        APISpec
	Metrics    MetricsSpec
	Dataplane  DataplaneSpec
	Interfaces map[string]InterfaceSpec // by interface name
	SAs        map[string]ipsec.SASpec  // ipsec.sa, by SA name
	Firewall   FirewallSpec
	L2TP       L2TPSpec
	Log        LogSpec
}

// APISpec is the local API's settings (api.*).
type APISpec struct {
	Socket string // unix socket path
	Group  string // group owning the socket (mode 0660); empty keeps the daemon's
}

// MetricsSpec is the Prometheus endpoint's settings (metrics.*).
type MetricsSpec struct {
	Listen string // host:port; empty disables
}

// LogSpec is the daemon's logging settings (log.*).
type LogSpec struct {
	Format string // "text" or "json"
	Level  string // "debug", "info", "warn", "error"
}

// Idle strategies for workers (dataplane.idle).
const (
	IdleBusy = "busy" // spin on the rings
	IdlePoll = "poll" // back off to poll(2) with need-wakeup after an idle spell
)

// DataplaneSpec is dataplane.*.
type DataplaneSpec struct {
	Workers int    // 0 means auto: one per RX queue
	Idle    string // IdleBusy or IdlePoll
	CPUs    []int  // optional CPU list workers are pinned to, in order
}

// Interface drivers (interfaces.NAME.driver).
const (
	DriverAFXDP = "afxdp"
	DriverPcap  = "pcap"
	DriverMem   = "mem"
)

// XDP attach modes (interfaces.NAME.xdp-mode).
const (
	XDPModeAuto    = "auto"
	XDPModeNative  = "native"
	XDPModeGeneric = "generic"
)

// InterfaceSpec is interfaces.NAME.
type InterfaceSpec struct {
	Name    string
	Driver  string       // DriverAFXDP, DriverPcap or DriverMem
	Queues  []int        // nil means all of the interface's RX queues
	XDPMode string       // XDPModeAuto, XDPModeNative or XDPModeGeneric
	Address []netip.Addr // the box's addresses on this interface; empty: every destination is ours
}

// Action is a firewall action.
type Action uint8

// Actions.
const (
	ActionDrop Action = iota
	ActionAccept
)

// String returns the action as written in the configuration.
func (a Action) String() string {
	if a == ActionAccept {
		return "accept"
	}
	return "drop"
}

// IPsecMatch is a rule's ipsec condition.
type IPsecMatch uint8

// IPsec conditions: any packet, only packets that arrived inside an SA, or
// only packets that did not.
const (
	IPsecAny   IPsecMatch = iota
	MatchIPsec            // match-ipsec (VyOS: match-ipsec-in)
	MatchNone             // match-none (VyOS: match-none-in)
)

// String returns the condition as written in the configuration (any when
// the rule has none).
func (m IPsecMatch) String() string {
	switch m {
	case MatchIPsec:
		return "match-ipsec"
	case MatchNone:
		return "match-none"
	}
	return "any"
}

// PortRange is an inclusive range of L4 ports; a single port has Lo == Hi.
type PortRange struct{ Lo, Hi uint16 }

// AddrMatch is a rule's source or destination condition. Empty fields match
// everything.
type AddrMatch struct {
	Prefixes []netip.Prefix // any of these (address)
	Negate   bool           // address was written "!prefix": match when NOT in Prefixes
	Ports    []PortRange    // any of these (port: "1701", "1000-2000", "500,4500")
}

// RuleSpec is firewall.name.NAME.rule.N.
type RuleSpec struct {
	Number      uint32
	Description string
	Disable     bool
	Action      Action
	Protocol    uint8 // IP protocol number; 0 with AnyProtocol means all
	AnyProtocol bool  // protocol was left out or written "all"
	Source      AddrMatch
	Destination AddrMatch
	IPsec       IPsecMatch
}

// RuleSetSpec is firewall.name.NAME.
type RuleSetSpec struct {
	Name          string
	Description   string
	DefaultAction Action
	Rules         []RuleSpec // sorted by Number
}

// FirewallSpec is firewall.*.
type FirewallSpec struct {
	Names      map[string]RuleSetSpec // firewall.name
	Interfaces map[string]string      // firewall.interface.IF.local: ruleset name, by interface
}

// LNSSpec is l2tp.lns.*: the L2TP network server's settings.
type LNSSpec struct {
	Hostname             string
	HelloInterval        time.Duration
	Secret               ipsec.Key // tunnel authentication secret; nil disables it
	ReceiveWindow        uint16
	MaxTunnels           int
	MaxTunnelsPerPeer    int
	MaxSessionsPerTunnel int
	MaxSessions          int
	SCCRQRate            float64 // new tunnels per second accepted (token bucket)
	RetransmitTimeout    time.Duration
	RetransmitCap        time.Duration
	MaxRetransmits       int
}

// SessionSpec is l2tp.static.tunnel.T.session.S.
type SessionSpec struct {
	ID          uint16 // local session id (what incoming messages carry)
	PeerSession uint16 // what we put in messages we send
}

// TunnelSpec is l2tp.static.tunnel.T: a statically configured tunnel.
type TunnelSpec struct {
	ID         uint16 // local tunnel id (what incoming messages carry)
	PeerTunnel uint16 // what we put in messages we send
	SA         string // inbound SA the tunnel is bound to; empty: cleartext (labs only)
	Sessions   map[uint16]SessionSpec
}

// L2TPSpec is l2tp.*.
type L2TPSpec struct {
	LNS    LNSSpec
	Static map[uint16]TunnelSpec // by local tunnel id
}
