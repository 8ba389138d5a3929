package gen

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicenet/sluice/ipsec"
)

// Kind is the kind of a generated frame; each kind has one expected outcome
// in the dataplane (see Outcome).
type Kind uint8

// Frame kinds.
const (
	// KindESPData is an L2TP data message (a PPP frame) in ESP, on an SA
	// and session the config binds together: delivered.
	KindESPData Kind = iota
	// KindESPHello is an L2TP HELLO control message in ESP: punted to the
	// control plane (punted.l2tp-control).
	KindESPHello
	// KindClearData is an L2TP data message to UDP/1701 outside IPsec:
	// refused by the seed rule (l2tp-cleartext).
	KindClearData
	// KindClearHello is an L2TP HELLO to UDP/1701 outside IPsec:
	// l2tp-cleartext.
	KindClearHello
	// KindBadICV is an ESP data frame with one ICV bit flipped:
	// esp-auth-failed.
	KindBadICV
	// KindUnknownSPI is an ESP data frame whose SPI no SA has:
	// esp-unknown-spi.
	KindUnknownSPI
	// KindJunk is an IPv4 header claiming ESP with a wrong header checksum,
	// followed by random bytes: malformed. The steering program redirects
	// it (it only reads the protocol), so it reaches the worker.
	KindJunk
	// NumKinds is the number of kinds; not a kind.
	NumKinds
)

var kindNames = [NumKinds]string{
	KindESPData:    "esp-data",
	KindESPHello:   "esp-hello",
	KindClearData:  "clear-data",
	KindClearHello: "clear-hello",
	KindBadICV:     "bad-icv",
	KindUnknownSPI: "unknown-spi",
	KindJunk:       "junk",
}

// String returns the kind's name as --mix spells it.
func (k Kind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind maps a name (as String returns it) to a Kind.
func ParseKind(s string) (Kind, bool) {
	for k, n := range kindNames {
		if n == s {
			return Kind(k), true
		}
	}
	return 0, false
}

// MixScale is the resolution of a Mix: weights are in hundredths of a
// percent, so a mix sums to MixScale.
const MixScale = 10000

// Mix is the share of every kind in the traffic, in hundredths of a percent
// (basis points). The zero Mix means all KindESPData.
type Mix [NumKinds]uint32

// ParseMix reads "clear-data=5,bad-icv=2.5" (percentages per kind; at most
// two decimals). KindESPData gets what the others leave; it may be given
// too, but then the shares must add up to exactly 100.
func ParseMix(s string) (Mix, error) {
	var m Mix
	s = strings.TrimSpace(s)
	if s == "" {
		m[KindESPData] = MixScale
		return m, nil
	}
	var seen [NumKinds]bool
	for _, part := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Mix{}, fmt.Errorf("mix %q: want kind=percent", part)
		}
		k, ok := ParseKind(strings.TrimSpace(name))
		if !ok {
			return Mix{}, fmt.Errorf("mix: unknown kind %q (want one of %s)", name, strings.Join(kindNames[:], ", "))
		}
		if seen[k] {
			return Mix{}, fmt.Errorf("mix: %s given twice", k)
		}
		seen[k] = true
		bp, err := parsePercent(strings.TrimSpace(val))
		if err != nil {
			return Mix{}, fmt.Errorf("mix %s: %w", k, err)
		}
		m[k] = bp
	}
	var sum uint32
	for _, w := range m {
		sum += w
	}
	switch {
	case sum > MixScale:
		return Mix{}, fmt.Errorf("mix: shares add up to %s%%, more than 100%%", percent(sum))
	case seen[KindESPData] && sum != MixScale:
		return Mix{}, fmt.Errorf("mix: shares add up to %s%%, want 100%% when esp-data is given", percent(sum))
	}
	m[KindESPData] += MixScale - sum
	return m, nil
}

// parsePercent parses a percentage with at most two decimals into basis
// points, without going through a float (0.29 must not become 28).
func parsePercent(s string) (uint32, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || len(frac) > 2 {
		return 0, fmt.Errorf("%q: want a percentage with at most two decimals", s)
	}
	if whole == "" {
		whole = "0"
	}
	w, err := strconv.ParseUint(whole, 10, 8)
	if err != nil || w > 100 {
		return 0, fmt.Errorf("%q: want 0 to 100", s)
	}
	f := uint64(0)
	if frac != "" {
		for len(frac) < 2 {
			frac += "0"
		}
		if f, err = strconv.ParseUint(frac, 10, 8); err != nil {
			return 0, fmt.Errorf("%q: want a percentage with at most two decimals", s)
		}
	}
	bp := uint32(w*100 + f)
	if bp > MixScale {
		return 0, fmt.Errorf("%q: want 0 to 100", s)
	}
	return bp, nil
}

func percent(bp uint32) string {
	if bp%100 == 0 {
		return strconv.Itoa(int(bp / 100))
	}
	return fmt.Sprintf("%d.%02d", bp/100, bp%100)
}

// String renders the mix as ParseMix reads it, kinds with a zero share
// left out.
func (m Mix) String() string {
	var parts []string
	for k, w := range m {
		if w != 0 {
			parts = append(parts, kindNames[k]+"="+percent(w))
		}
	}
	return strings.Join(parts, ",")
}

// L2TP payload sizes (the PPP frame: FF 03, protocol, an inner IPv4/UDP
// packet) the generator builds.
const (
	MinPayload = 32   // PPP header (4) + IPv4 (20) + UDP (8)
	MaxPayload = 1500 // a frame still fits a 2048-byte UMEM chunk behind 256 bytes of headroom
)

// SizeWeight is one payload size of a Sizes and its weight.
type SizeWeight struct {
	Size   int
	Weight int
}

// Sizes is a distribution of L2TP payload sizes: one size, or a weighted
// mix such as IMIX. Name labels it in reports ("64", "imix").
type Sizes struct {
	Name    string
	Weights []SizeWeight
}

// IMIX is the simple IMIX of 7:4:1, applied to the L2TP payload: seven
// 64-byte, four 576-byte and one 1400-byte PPP frames in every twelve,
// interleaved, mean 346 bytes. (The classic simple IMIX is 7:4:1 of
// 40/576/1500-byte IP packets; its small and large sizes do not fit an
// L2TP/IPsec payload, so the task's 64/576/1400 are used.)
var IMIX = Sizes{Name: "imix", Weights: []SizeWeight{{64, 7}, {576, 4}, {1400, 1}}}

// Fixed returns the distribution of a single size.
func Fixed(size int) Sizes {
	return Sizes{Name: strconv.Itoa(size), Weights: []SizeWeight{{size, 1}}}
}

// Mean returns the weighted mean payload size.
func (s Sizes) Mean() float64 {
	var sum, w int
	for _, sw := range s.Weights {
		sum += sw.Size * sw.Weight
		w += sw.Weight
	}
	if w == 0 {
		return 0
	}
	return float64(sum) / float64(w)
}

// Validate checks sizes and weights.
func (s Sizes) Validate() error {
	if len(s.Weights) == 0 {
		return errors.New("sizes: empty")
	}
	if len(s.Weights) > 255 {
		return errors.New("sizes: more than 255 sizes")
	}
	for _, sw := range s.Weights {
		if sw.Size < MinPayload || sw.Size > MaxPayload {
			return fmt.Errorf("size %d: want %d to %d bytes of L2TP payload", sw.Size, MinPayload, MaxPayload)
		}
		if sw.Weight <= 0 || sw.Weight > 1000 {
			return fmt.Errorf("size %d: weight %d: want 1 to 1000", sw.Size, sw.Weight)
		}
	}
	return nil
}

// ParseSizeList reads a comma-separated list of sizes, each a number of
// bytes of L2TP payload or "imix", e.g. "64,512,1400,imix".
func ParseSizeList(s string) ([]Sizes, error) {
	var out []Sizes
	for _, tok := range strings.Split(s, ",") {
		tok = strings.ToLower(strings.TrimSpace(tok))
		if tok == "imix" {
			out = append(out, IMIX)
			continue
		}
		n, err := strconv.Atoi(tok)
		if err != nil {
			return nil, fmt.Errorf("size %q: want a number of bytes or imix", tok)
		}
		sz := Fixed(n)
		if err := sz.Validate(); err != nil {
			return nil, err
		}
		out = append(out, sz)
	}
	return out, nil
}

// Scenario is what the generator builds traffic for: both the frames and
// the sluice configuration that must accept them.
type Scenario struct {
	// Proposal is the ESP suite of every SA (default aes128gcm16).
	Proposal ipsec.Proposal
	// SAs is the number of inbound SAs (each with its outbound pair),
	// 1 to MaxSAs (default 1). SA i carries L2TP tunnel i+1; since L2TPv2
	// tunnel ids are 16 bits, SAs past MaxTunnels are configured (they load
	// the SA database) but carry no traffic.
	SAs int
	// Sessions is the number of sessions per tunnel (default 1).
	Sessions int
	// Sizes is the L2TP payload size distribution (default 64 bytes).
	Sizes Sizes
	// IPv6 makes the outer header IPv6 (default IPv4).
	IPv6 bool
	// NATT puts ESP in UDP/4500 (RFC 3948).
	NATT bool
	// Mix is the share of each kind (zero value: all esp-data).
	Mix Mix
	// ReplayWindow is written into every inbound SA of the config. 0
	// disables anti-replay: the generator may then send the same
	// pre-encrypted frames again and again. A window needs FreshSeq.
	ReplayWindow uint32
	// FreshSeq gives every ESP frame a new sequence number, per SA,
	// increasing: pre-encrypted AES-GCM frames are re-sequenced by
	// patching the ICV (GHASH is linear in the AAD), so it costs tens of
	// nanoseconds. AES-GCM proposals only.
	FreshSeq bool
	// Seed derives the keys and junk bytes (same seed, same traffic).
	Seed uint64
	// Interface, Driver and XDPMode go into the config's interfaces
	// section (defaults eth0, mem, and xdp-mode left out).
	Interface string
	Driver    string
	XDPMode   string
	// Server and Client are the outer addresses (defaults: the lab's
	// 10.99.0.1/10.99.0.2, or fd00:99::1/fd00:99::2 with IPv6).
	Server, Client netip.Addr
	// ServerMAC and ClientMAC are the Ethernet addresses (defaults:
	// locally administered 02:00:00:00:00:01 and :02).
	ServerMAC, ClientMAC net.HardwareAddr
}

// Limits.
const (
	MaxSAs        = 100000
	MaxTunnels    = 65535 // L2TPv2 tunnel ids are 16 bits, 0 is reserved
	MaxSessions   = 65535
	maxFlowFrames = 1 << 18 // data templates (traffic SAs × sessions × sizes): at most ~420 MB
)

// withDefaults returns s with zero fields filled in.
func (s Scenario) withDefaults() Scenario {
	if s.Proposal == ipsec.ProposalInvalid {
		s.Proposal = ipsec.AES128GCM16
	}
	if s.SAs == 0 {
		s.SAs = 1
	}
	if s.Sessions == 0 {
		s.Sessions = 1
	}
	if len(s.Sizes.Weights) == 0 {
		s.Sizes = Fixed(64)
	}
	if s.Mix == (Mix{}) {
		s.Mix[KindESPData] = MixScale
	}
	if s.Interface == "" {
		s.Interface = "eth0"
	}
	if s.Driver == "" {
		s.Driver = "mem"
	}
	if !s.Server.IsValid() {
		s.Server = netip.MustParseAddr("10.99.0.1")
		if s.IPv6 {
			s.Server = netip.MustParseAddr("fd00:99::1")
		}
	}
	if !s.Client.IsValid() {
		s.Client = netip.MustParseAddr("10.99.0.2")
		if s.IPv6 {
			s.Client = netip.MustParseAddr("fd00:99::2")
		}
	}
	if s.ServerMAC == nil {
		s.ServerMAC = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	}
	if s.ClientMAC == nil {
		s.ClientMAC = net.HardwareAddr{2, 0, 0, 0, 0, 2}
	}
	return s
}

// Validate reports every problem of the scenario (after defaults) at once.
func (s Scenario) Validate() error {
	s = s.withDefaults()
	var errs []error
	if s.Proposal.String() == "invalid" || !slices.Contains(ipsec.Proposals(), s.Proposal) {
		errs = append(errs, fmt.Errorf("proposal %v: unknown", s.Proposal))
	}
	if s.SAs < 1 || s.SAs > MaxSAs {
		errs = append(errs, fmt.Errorf("sas %d: want 1 to %d", s.SAs, MaxSAs))
	}
	if s.Sessions < 1 || s.Sessions > MaxSessions {
		errs = append(errs, fmt.Errorf("sessions %d: want 1 to %d", s.Sessions, MaxSessions))
	}
	if err := s.Sizes.Validate(); err != nil {
		errs = append(errs, err)
	}
	if n := s.trafficSAs() * s.Sessions * len(s.Sizes.Weights); n > maxFlowFrames {
		errs = append(errs, fmt.Errorf("%d SAs × %d sessions × %d sizes: more than %d pre-built frames", s.trafficSAs(), s.Sessions, len(s.Sizes.Weights), maxFlowFrames))
	}
	var sum uint32
	for _, w := range s.Mix {
		sum += w
	}
	if sum != MixScale {
		errs = append(errs, fmt.Errorf("mix adds up to %s%%, want 100%%", percent(sum)))
	}
	if s.ReplayWindow > ipsec.MaxReplayWindow {
		errs = append(errs, fmt.Errorf("replay window %d: want at most %d", s.ReplayWindow, ipsec.MaxReplayWindow))
	}
	if s.ReplayWindow > 0 && !s.FreshSeq {
		errs = append(errs, errors.New("a replay window needs fresh sequence numbers (FreshSeq): replayed frames would be dropped as esp-replay"))
	}
	if s.FreshSeq && s.Proposal != ipsec.AES128GCM16 && s.Proposal != ipsec.AES256GCM16 {
		errs = append(errs, fmt.Errorf("fresh sequence numbers need an AES-GCM proposal, not %v (only GCM frames can be re-sequenced without encrypting them again)", s.Proposal))
	}
	if s.Server.Is4() == s.IPv6 || s.Client.Is4() == s.IPv6 {
		errs = append(errs, errors.New("server and client addresses must match the outer family (IPv6 flag)"))
	}
	if len(s.ServerMAC) != 6 || len(s.ClientMAC) != 6 {
		errs = append(errs, errors.New("MAC addresses must be 6 bytes"))
	}
	if s.Driver != "mem" && s.Driver != "afxdp" && s.Driver != "pcap" {
		errs = append(errs, fmt.Errorf("driver %q: want mem, afxdp or pcap", s.Driver))
	}
	return errors.Join(errs...)
}

// trafficSAs is how many SAs carry traffic: one L2TP tunnel each.
func (s Scenario) trafficSAs() int { return min(s.SAs, MaxTunnels) }
