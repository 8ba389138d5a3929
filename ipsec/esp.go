// Package ipsec is sluice's ESP implementation: the wire format, the runtime
// security associations (SAs) workers use, the crypto suites, in-place
// decapsulation and encapsulation, and the SA database.
//
// Data flow: the control plane turns an operator's SASpec into an InboundSA
// or OutboundSA (NewInboundSA, NewOutboundSA: keys expanded, salt split off,
// sizes and flags precomputed) and publishes inbound SAs in an SADB. A worker
// parses the outer IP (and NAT-T UDP) header, finds the SA with
// SADB.Lookup(SPI, destination), and calls InboundSA.Decap, which checks the
// replay window, verifies the ICV, decrypts in place, records the sequence
// number and hands back the inner packet as a sub-slice of the same buffer.
// Replies go the other way through OutboundSA.Encap, which grows the packet in
// place into the frame's headroom and tailroom.
//
// Decap and Encap return a Result, never an error: they are called per packet,
// allocate nothing, take no lock and never panic on packet bytes.
//
// Sharing: several workers may use one SA at once. What they share is either
// immutable (keys, AEAD and block cipher objects, HMAC pad states, limits) or
// atomic (the replay window of package replay, the outbound sequence number,
// counters, lifetime flags). What is not safe to share (hash.Hash and
// cipher.BlockMode of the CBC suites) is borrowed per packet from the SA's
// sync.Pool. AEAD nonces and AADs are built inside the packet buffer, not on
// the stack, because they pass through the cipher.AEAD interface and a stack
// array would escape to the heap.
//
// Lifetimes (Lifetime, WithExpiryHook, WithBirth, CheckLifetime): soft limits
// are reported once, hard limits make the SA refuse traffic with
// ResultExpired; an outbound SA without ESN expires instead of wrapping its
// sequence number.
//
// Standards: ESP RFC 4303 (ESN in 2.2.1 and Appendix A), AES-GCM RFC 4106,
// ChaCha20-Poly1305 RFC 7634, AES-CBC RFC 3602, HMAC-SHA1-96 RFC 2404,
// HMAC-SHA-256-128 RFC 4868, UDP encapsulation (NAT-T) RFC 3948.
package ipsec

import "encoding/binary"

// Result is the outcome of Decap and Encap. The hot path returns it instead
// of an error value; each refusal maps to one drop reason of ARCHITECTURE.md.
type Result uint8

// Results.
const (
	// OK: the packet was processed; the returned offsets are valid.
	OK Result = iota
	// ResultMalformed (esp-malformed): too short for header, IV and ICV, CBC
	// payload not block aligned, outer headers inconsistent with the ESP
	// offset, or an authentic packet whose trailer is impossible (pad length
	// past the payload, pad bytes not 1, 2, 3, ... as RFC 4303 section 2.4
	// prescribes, a next header the mode does not expect).
	ResultMalformed
	// ResultAuthFailed (esp-auth-failed): the ICV does not verify, including
	// a valid ICV computed with another ESN high half.
	ResultAuthFailed
	// ResultReplay (esp-replay): the sequence number was seen or is left of
	// the window.
	ResultReplay
	// ResultExpired (esp-sa-expired): the SA is past a hard lifetime, or an
	// outbound SA without ESN ran out of sequence numbers.
	ResultExpired
	// ResultNoRoom: Encap only; the buffer lacks headroom or tailroom.
	ResultNoRoom
	numResults
)

var resultNames = [numResults]string{
	OK:               "ok",
	ResultMalformed:  "esp-malformed",
	ResultAuthFailed: "esp-auth-failed",
	ResultReplay:     "esp-replay",
	ResultExpired:    "esp-sa-expired",
	ResultNoRoom:     "no-room",
}

// String returns the drop-reason name of ARCHITECTURE.md for refusals
// ("esp-replay", ...), "ok" and "no-room" otherwise.
func (r Result) String() string {
	if r < numResults {
		return resultNames[r]
	}
	return "unknown"
}

// ESP is an ESP packet (RFC 4303 section 2): the bytes from the SPI on.
//
//	0               4               8
//	+---------------+---------------+---------------...---+------------+-----+
//	|      SPI      |  Sequence lo  | IV | payload, padding, pad len, NH | ICV |
//	+---------------+---------------+---------------...---+------------+-----+
type ESP []byte

// ESP header field offsets and sizes.
const (
	espSPI    = 0
	espSeq    = 4
	espHdrLen = 8
	// ESPHeaderLen is the length of the SPI and sequence number fields.
	ESPHeaderLen = espHdrLen
)

// SPI returns the Security Parameters Index; the caller checks len >= 4.
func (e ESP) SPI() uint32 { return binary.BigEndian.Uint32(e[espSPI:]) }

// Seq returns the low 32 bits of the sequence number; the caller checks
// len >= 8.
func (e ESP) Seq() uint32 { return binary.BigEndian.Uint32(e[espSeq:]) }

// IP protocol numbers ESP deals with.
const (
	protoIPv4   = 4
	protoTCP    = 6
	protoUDP    = 17
	protoIPv6   = 41
	protoESP    = 50
	protoNoNext = 59 // RFC 4303 2.6: dummy packet, discarded
	ipv4MinHdr  = 20
	ipv6HdrLen  = 40
	udpHdrLen   = 8
	nattPort    = 4500 // RFC 3948 default port for both ends
	defaultTTL  = 64
	maxLen16    = 0xffff // the largest IPv4 total length and IPv6 payload length
)
