package config

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/sluicenet/sluice/ipsec"
)

// The schema: every node of the configuration tree, declared once. Defaults
// live here and nowhere else; Config reads them through the schema.
//
// The shape is ARCHITECTURE.md's example configuration plus the daemon's
// own settings (log, api.group, dataplane.cpus), the Vyatta rule options
// (description, disable, source/destination, protocol) and the LNS limits.
var root = &Schema{Name: "", Children: []*Schema{
	{Name: "log", Help: "Daemon logging (log/slog)", Children: []*Schema{
		{Name: "format", Kind: KindLeaf, Type: TypeEnum, Values: []string{"text", "json"}, Default: "text",
			Help: "Log line format"},
		{Name: "level", Kind: KindLeaf, Type: TypeEnum, Values: []string{"debug", "info", "warn", "error"}, Default: "info",
			Help: "Least severe level logged"},
	}},
	{Name: "api", Help: "Local API: HTTP+JSON on a unix socket, versioned under /v1/", Children: []*Schema{
		{Name: "socket", Kind: KindLeaf, Type: TypePath, Default: "/run/sluice/sluice.sock",
			Help: "Path of the API's unix socket (mode 0660)"},
		{Name: "group", Kind: KindLeaf, Type: TypeName,
			Help: "Group owning the API socket; left out, the daemon's own group"},
	}},
	{Name: "metrics", Help: "Prometheus metrics endpoint", Children: []*Schema{
		{Name: "listen", Kind: KindLeaf, Type: TypeHostPort, Default: "127.0.0.1:9477",
			Help: `Address and port to serve /metrics on; "" disables the endpoint`},
	}},
	{Name: "dataplane", Help: "Packet workers", Children: []*Schema{
		{Name: "workers", Kind: KindLeaf, Type: TypeUint, Min: 1, Max: 1024, Values: []string{"auto"}, Default: "auto",
			Help: "Number of workers; auto starts one per RX queue"},
		{Name: "idle", Kind: KindLeaf, Type: TypeEnum, Values: []string{IdleBusy, IdlePoll}, Default: IdlePoll,
			Help: "What an idle worker does: busy spins on the rings, poll backs off to poll(2)"},
		{Name: "cpus", Kind: KindLeaf, Type: TypeIndexList, Min: 0, Max: 4095,
			Help: "CPUs workers are pinned to, in order (0-3,6); left out, workers are not pinned"},
	}},
	{Name: "interfaces", Kind: KindTag, Type: TypeIfName, Help: "Interfaces the dataplane drives", Children: []*Schema{
		{Name: "driver", Kind: KindLeaf, Type: TypeEnum, Values: []string{DriverAFXDP, DriverPcap, DriverMem}, Default: DriverAFXDP,
			Help: "Packet I/O: afxdp (AF_XDP sockets), pcap (capture files), mem (in-memory rings, tests)"},
		{Name: "queues", Kind: KindLeaf, Type: TypeIndexList, Min: 0, Max: 1023, Values: []string{"all"}, Default: "all",
			Help: "RX queues to attach to: all, or a list such as 0-3,6"},
		{Name: "xdp-mode", Kind: KindLeaf, Type: TypeEnum, Values: []string{XDPModeAuto, XDPModeNative, XDPModeGeneric}, Default: XDPModeAuto,
			Help: "XDP attach mode (afxdp only): native, generic, or auto (native when the driver has it)"},
		{Name: "address", Kind: KindLeafList, Type: TypeIP,
			Help: "The box's addresses on this interface; left out, every destination counts as ours"},
	}},
	{Name: "ipsec", Help: "IPsec", Children: []*Schema{
		{Name: "sa", Kind: KindTag, Type: TypeName, Help: "Statically keyed ESP security associations", Children: saNodes},
	}},
	{Name: "firewall", Help: "Stateless rule sets (Vyatta style)", Children: []*Schema{
		{Name: "name", Kind: KindTag, Type: TypeName, Help: "A named rule set", Children: []*Schema{
			{Name: "description", Kind: KindLeaf, Type: TypeString, Help: "What the rule set is for"},
			{Name: "default-action", Kind: KindLeaf, Type: TypeEnum, Values: []string{"accept", "drop"}, Default: "drop",
				Help: "What happens to a packet no rule matched"},
			{Name: "rule", Kind: KindTag, Type: TypeUint, Min: 1, Max: 999999,
				Help: "A rule; rules are tried in number order and the first match decides", Children: ruleNodes},
		}},
		{Name: "interface", Kind: KindTag, Type: TypeIfName, Help: "Rule sets applied to an interface", Children: []*Schema{
			{Name: "local", Kind: KindLeaf, Type: TypeName, Ref: "firewall name",
				Help: "Rule set for packets to the box itself (cleartext and decrypted inner packets)"},
		}},
	}},
	{Name: "l2tp", Help: "L2TPv2 (RFC 2661)", Children: []*Schema{
		{Name: "lns", Help: "The L2TP network server", Children: lnsNodes},
		{Name: "static", Help: "Statically configured tunnels and sessions (labs, benchmarks)", Children: []*Schema{
			{Name: "tunnel", Kind: KindTag, Type: TypeUint, Min: 1, Max: 65535,
				Help: "A tunnel, by the LOCAL tunnel id incoming messages carry (RFC 2661 section 3.1; 0 is reserved)", Children: []*Schema{
					{Name: "peer-tunnel", Kind: KindLeaf, Type: TypeUint, Min: 1, Max: 65535, Required: true,
						Help: "Tunnel id we put in messages we send (the peer's id)"},
					{Name: "sa", Kind: KindLeaf, Type: TypeName, Ref: "ipsec sa",
						Help: "Inbound SA the tunnel is bound to; data from any other SA is refused; left out: cleartext (labs only)"},
					{Name: "session", Kind: KindTag, Type: TypeUint, Min: 1, Max: 65535,
						Help: "A session, by the LOCAL session id incoming messages carry (0 is the tunnel itself)", Children: []*Schema{
							{Name: "peer-session", Kind: KindLeaf, Type: TypeUint, Min: 1, Max: 65535, Required: true,
								Help: "Session id we put in messages we send"},
						}},
				}},
		}},
	}},
}}

// portNode is a UDP port of an SA's RFC 3948 encapsulation.
func portNode(name, help string) *Schema {
	return &Schema{Name: name, Kind: KindLeaf, Type: TypeUint, Min: 1, Max: 65535, Default: "4500", Help: help}
}

var saNodes = []*Schema{
	{Name: "spi", Kind: KindLeaf, Type: TypeHex32, Required: true, Check: checkSPI,
		Help: "Security Parameters Index (RFC 4303 section 2.1), as 0x-hex or a number"},
	{Name: "direction", Kind: KindLeaf, Type: TypeEnum, Values: []string{"in", "out"}, Required: true,
		Help: "in: protects traffic to us (decrypted); out: traffic from us (encrypted)"},
	{Name: "mode", Kind: KindLeaf, Type: TypeEnum, Values: []string{"transport", "tunnel"}, Default: "transport",
		Help: "ESP mode (RFC 4303 section 3.1)"},
	{Name: "source", Kind: KindLeaf, Type: TypeIP, Required: true, Help: "Outer source address"},
	{Name: "destination", Kind: KindLeaf, Type: TypeIP, Required: true, Help: "Outer destination address"},
	{Name: "encapsulation", Kind: KindLeaf, Type: TypeEnum, Values: []string{"none", "udp"}, Default: "none",
		Help: "none: ESP over IP (protocol 50); udp: ESP in UDP (RFC 3948)"},
	portNode("source-port", "UDP source port with encapsulation udp (RFC 3948)"),
	portNode("destination-port", "UDP destination port with encapsulation udp (RFC 3948)"),
	{Name: "proposal", Kind: KindLeaf, Type: TypeEnum, Values: proposalValues(), Required: true,
		Help: "ESP transform suite, by its swanctl name"},
	{Name: "enc-key", Kind: KindLeaf, Type: TypeKey, Secret: true, Required: true,
		Help: "Encryption key; AEAD suites: the key followed by the 4-byte salt (RFC 4106 section 8.1, RFC 7634 section 4)"},
	{Name: "auth-key", Kind: KindLeaf, Type: TypeKey, Secret: true,
		Help: "Integrity key, CBC+HMAC suites only"},
	{Name: "esn", Kind: KindLeaf, Type: TypeBool, Default: "false",
		Help: "64-bit extended sequence numbers (RFC 4303 section 2.2.1)"},
	{Name: "replay-window", Kind: KindLeaf, Type: TypeUint, Min: 0, Max: ipsec.MaxReplayWindow, Default: strconv.Itoa(ipsec.DefaultReplayWindow),
		Help: "Anti-replay window in packets (RFC 4303 section 3.4.3); 0 disables anti-replay"},
	{Name: "pair", Kind: KindLeaf, Type: TypeName, Ref: "ipsec sa",
		Help: "Outbound SA that carries our replies (inbound SAs only)"},
	{Name: "life", Help: "Lifetimes; swanctl's names: rekey-* is soft, life-* is hard; left out: no limit", Children: []*Schema{
		{Name: "rekey-time", Kind: KindLeaf, Type: TypeDuration, Help: "Soft time limit"},
		{Name: "life-time", Kind: KindLeaf, Type: TypeDuration, Help: "Hard time limit: the SA expires"},
		{Name: "rekey-bytes", Kind: KindLeaf, Type: TypeBytes, Help: "Soft byte limit"},
		{Name: "life-bytes", Kind: KindLeaf, Type: TypeBytes, Help: "Hard byte limit: the SA expires"},
		{Name: "rekey-packets", Kind: KindLeaf, Type: TypeUint, Help: "Soft packet limit"},
		{Name: "life-packets", Kind: KindLeaf, Type: TypeUint, Help: "Hard packet limit: the SA expires"},
	}},
}

// matchNodes are a rule's source or destination conditions.
func matchNodes() []*Schema {
	return []*Schema{
		{Name: "address", Kind: KindLeafList, Type: TypeAddrMatch,
			Help: "Address or prefix, any of the list; !prefix matches what is NOT in it"},
		{Name: "port", Kind: KindLeaf, Type: TypePorts,
			Help: "Ports: 1701, 1000-2000, 500,4500 (needs protocol tcp or udp)"},
	}
}

var ruleNodes = []*Schema{
	{Name: "description", Kind: KindLeaf, Type: TypeString, Help: "What the rule is for"},
	{Name: "disable", Kind: KindLeaf, Type: TypeBool, Valueless: true, Default: "false",
		Help: "Keep the rule but do not apply it"},
	{Name: "action", Kind: KindLeaf, Type: TypeEnum, Values: []string{"accept", "drop"}, Required: true,
		Help: "What happens to a matching packet"},
	{Name: "protocol", Kind: KindLeaf, Type: TypeProtocol, Default: "all",
		Help: "IP protocol (of the inner packet for traffic that arrived in IPsec)"},
	{Name: "source", Help: "Source conditions", Children: matchNodes()},
	{Name: "destination", Help: "Destination conditions", Children: matchNodes()},
	{Name: "ipsec", Kind: KindLeaf, Type: TypeEnum, Values: []string{"match-ipsec", "match-none"}, Block: true,
		Synonyms: map[string]string{"match-ipsec-in": "match-ipsec", "match-none-in": "match-none"},
		Help:     "match-ipsec: only packets that arrived inside an SA; match-none: only packets that did not"},
}

var lnsNodes = []*Schema{
	{Name: "hostname", Kind: KindLeaf, Type: TypeString, Default: "sluice", Check: checkHostname,
		Help: "Host Name AVP we send (RFC 2661 section 4.4.3)"},
	{Name: "hello-interval", Kind: KindLeaf, Type: TypeDuration, Default: "60s",
		Help: "Idle time before we send a HELLO (RFC 2661 section 6.5); 0 disables"},
	{Name: "secret", Kind: KindLeaf, Type: TypeKey, Secret: true,
		Help: "Tunnel authentication secret (RFC 2661 section 5.1.1); left out, tunnels are not authenticated"},
	{Name: "receive-window", Kind: KindLeaf, Type: TypeUint, Min: 1, Max: 65535, Default: "4",
		Help: "Receive Window Size we advertise (RFC 2661 section 4.4.3; 4 is what a peer assumes without it)"},
	{Name: "max-tunnels", Kind: KindLeaf, Type: TypeUint, Min: 1, Max: 65535, Default: "1024",
		Help: "Most tunnels at once"},
	{Name: "max-tunnels-per-peer", Kind: KindLeaf, Type: TypeUint, Min: 1, Max: 65535, Default: "16",
		Help: "Most tunnels from one peer address (clients behind one NAT share it)"},
	{Name: "max-sessions-per-tunnel", Kind: KindLeaf, Type: TypeUint, Min: 1, Max: 65535, Default: "16",
		Help: "Most sessions in one tunnel"},
	{Name: "max-sessions", Kind: KindLeaf, Type: TypeUint, Min: 1, Max: 1 << 24, Default: "4096",
		Help: "Most sessions at once"},
	{Name: "sccrq-rate", Kind: KindLeaf, Type: TypeDecimal, Default: "100",
		Help: "New tunnels (SCCRQ) accepted per second, token bucket"},
	{Name: "retransmit-timeout", Kind: KindLeaf, Type: TypeDuration, Default: "1s",
		Help: "First control-message retransmission timeout, doubled on each try (RFC 2661 section 5.8)"},
	{Name: "retransmit-cap", Kind: KindLeaf, Type: TypeDuration, Default: "8s",
		Help: "Longest retransmission timeout (RFC 2661 section 5.8: no less than 8 seconds)"},
	{Name: "max-retransmits", Kind: KindLeaf, Type: TypeUint, Min: 1, Max: 100, Default: "5",
		Help: "Retransmissions before the tunnel is torn down (RFC 2661 section 5.8 recommends 5)"},
}

func proposalValues() []string {
	ps := ipsec.Proposals()
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// checkSPI refuses the reserved SPI values (RFC 4303 section 2.1: 0 is for
// local use and never sent; 1-255 are reserved by IANA).
func checkSPI(v string) (string, error) {
	n, err := strconv.ParseUint(v, 0, 32)
	if err != nil {
		return "", err
	}
	if n == 0 {
		return "", errors.New("0 is reserved (RFC 4303 section 2.1; 1-255 are reserved too)")
	}
	if n < 256 {
		return "", fmt.Errorf("%d is reserved (RFC 4303 section 2.1: 1-255 are reserved by IANA)", n)
	}
	return v, nil
}

// checkHostname keeps the Host Name AVP non-empty (RFC 2661 section 4.4.3
// requires at least one octet).
func checkHostname(v string) (string, error) {
	if v == "" {
		return "", errors.New("must not be empty (RFC 2661 section 4.4.3)")
	}
	return v, nil
}

func init() { link(root) }
