package ipsec

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Proposal names an ESP transform suite by its swanctl name.
type Proposal uint8

// The proposals sluice speaks. The zero value is invalid on purpose, so a
// forgotten field is refused by Validate instead of silently meaning GCM.
const (
	ProposalInvalid  Proposal = iota
	AES128GCM16               // RFC 4106, 16-byte ICV
	AES256GCM16               // RFC 4106, 16-byte ICV
	ChaCha20Poly1305          // RFC 7634
	AES128SHA1                // AES-CBC (RFC 3602) + HMAC-SHA1-96 (RFC 2404)
	AES256SHA1                // AES-256-CBC + HMAC-SHA1-96
	AES128SHA256              // AES-CBC + HMAC-SHA-256-128 (RFC 4868)
	AES256SHA256              // AES-256-CBC + HMAC-SHA-256-128 (RFC 4868)
	numProposals
)

var proposalNames = [numProposals]string{
	ProposalInvalid:  "invalid",
	AES128GCM16:      "aes128gcm16",
	AES256GCM16:      "aes256gcm16",
	ChaCha20Poly1305: "chacha20poly1305",
	AES128SHA1:       "aes128-sha1",
	AES256SHA1:       "aes256-sha1",
	AES128SHA256:     "aes128-sha256",
	AES256SHA256:     "aes256-sha256",
}

// String returns the swanctl name of the proposal.
func (p Proposal) String() string {
	if p < numProposals {
		return proposalNames[p]
	}
	return fmt.Sprintf("proposal(%d)", uint8(p))
}

// Proposals lists every valid proposal, in declaration order.
func Proposals() []Proposal {
	out := make([]Proposal, 0, numProposals-1)
	for p := ProposalInvalid + 1; p < numProposals; p++ {
		out = append(out, p)
	}
	return out
}

// ParseProposal maps a swanctl name (case-insensitive) to a Proposal.
func ParseProposal(s string) (Proposal, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for p := ProposalInvalid + 1; p < numProposals; p++ {
		if proposalNames[p] == s {
			return p, nil
		}
	}
	return ProposalInvalid, fmt.Errorf("unknown proposal %q (want one of %s)", s, strings.Join(proposalNames[1:], ", "))
}

// KeyLens returns the lengths in bytes of the encryption key material
// (for AEAD suites: the key followed by the 4-byte salt, RFC 4106 section 8.1,
// RFC 7634 section 4) and of the authentication key (0 for AEAD suites).
func (p Proposal) KeyLens() (enc, auth int) {
	switch p {
	case AES128GCM16:
		return 16 + 4, 0
	case AES256GCM16:
		return 32 + 4, 0
	case ChaCha20Poly1305:
		return 32 + 4, 0
	case AES128SHA1:
		return 16, 20
	case AES256SHA1:
		return 32, 20
	case AES128SHA256:
		return 16, 32
	case AES256SHA256:
		return 32, 32
	}
	return 0, 0
}

// AEAD reports whether the proposal is a combined-mode suite.
func (p Proposal) AEAD() bool {
	return p == AES128GCM16 || p == AES256GCM16 || p == ChaCha20Poly1305
}

// Direction says whether an SA protects traffic to us or from us.
type Direction uint8

// Directions.
const (
	In Direction = iota
	Out
)

// String returns the config spelling ("in" or "out").
func (d Direction) String() string {
	if d == Out {
		return "out"
	}
	return "in"
}

// Mode is the ESP mode of an SA.
type Mode uint8

// Modes (RFC 4303 section 3.1).
const (
	Transport Mode = iota
	Tunnel
)

// String returns the config spelling ("transport" or "tunnel").
func (m Mode) String() string {
	if m == Tunnel {
		return "tunnel"
	}
	return "transport"
}

// Encapsulation says how ESP travels on the wire.
type Encapsulation uint8

// Encapsulations.
const (
	EncapNone Encapsulation = iota // ESP directly over IP (protocol 50)
	EncapUDP                       // ESP in UDP, RFC 3948
)

// String returns the config spelling ("none" or "udp").
func (e Encapsulation) String() string {
	if e == EncapUDP {
		return "udp"
	}
	return "none"
}

// Key is secret key material. It never prints: String, Format and the
// text/JSON marshalers all redact it, so a Key can be logged or put in an
// API response by mistake without leaking. (log/slog's text and JSON
// handlers use MarshalText for such values, so ipsec need not import slog.)
type Key []byte

const redacted = "<redacted>"

// String returns a redacted placeholder, never the key.
func (k Key) String() string { return redacted }

// GoString returns a redacted placeholder, never the key.
func (k Key) GoString() string { return redacted }

// Format makes every fmt verb (%x included) print the placeholder.
func (k Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalText redacts the key in JSON, YAML and text encodings.
func (k Key) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// keySeparators are the characters ParseKey ignores; built once (a
// Replacer per call cost 0.5 s of a 100k-SA commit).
var keySeparators = strings.NewReplacer(":", "", " ", "", "_", "")

// ParseKey decodes key material written as operators write it: 0x-prefixed
// hex (the prefix is optional), with optional ':' or ' ' separators.
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	s = keySeparators.Replace(s)
	if s == "" {
		return nil, fmt.Errorf("empty key")
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("key is not hex")
	}
	return Key(b), nil
}

// Lifetime holds an SA's soft (rekey) and hard (life) limits; zero means no
// limit. Names follow swanctl: rekey-* is soft, life-* is hard.
type Lifetime struct {
	RekeyTime    time.Duration
	LifeTime     time.Duration
	RekeyBytes   uint64
	LifeBytes    uint64
	RekeyPackets uint64
	LifePackets  uint64
}

// DefaultReplayWindow is the anti-replay window used when a spec leaves it out.
const DefaultReplayWindow = 1024

// SASpec is an SA as an operator wrote it (configuration, not runtime state).
type SASpec struct {
	Name            string
	SPI             uint32
	Direction       Direction
	Mode            Mode
	Source          netip.Addr // outer source address
	Destination     netip.Addr // outer destination address
	Encapsulation   Encapsulation
	SourcePort      uint16 // UDP encapsulation only
	DestinationPort uint16 // UDP encapsulation only
	Proposal        Proposal
	EncKey          Key
	AuthKey         Key
	ESN             bool
	ReplayWindow    uint32 // 0 disables anti-replay
	Pair            string // name of the outbound SA used for replies (inbound SAs)
	Life            Lifetime
}
