package ipsec

import (
	"fmt"
	"math"
	"net/netip"
	"sync/atomic"

	"github.com/sluicenet/sluice/ipsec/replay"
)

// SAStats are an SA's counters.
//
// Packets and Bytes count what authenticated and passed the replay check
// (inbound) or what Encap protected (outbound). Bytes is the plaintext ESP
// protected, without padding and trailer: in transport mode the inner L4
// segment (e.g. UDP + L2TP + PPP), in tunnel mode the inner IP packet. Byte
// lifetimes count the same bytes. Refused packets are counted only in the
// refusal counters.
type SAStats struct {
	Packets      uint64 `json:"packets"`
	Bytes        uint64 `json:"bytes"`
	AuthFailures uint64 `json:"auth-failures"`
	ReplayDrops  uint64 `json:"replay-drops"`
	Malformed    uint64 `json:"malformed"`
	ExpiredDrops uint64 `json:"expired-drops"`
	SoftExpired  bool   `json:"soft-expired"` // a soft (rekey) limit was reached
	HardExpired  bool   `json:"hard-expired"` // a hard (life) limit was reached: traffic is refused
}

// Option tunes NewInboundSA and NewOutboundSA.
type Option func(*options)

type options struct {
	hook  func(sa string, hard bool)
	birth int64
	born  bool
}

// WithExpiryHook sets the function told when the SA reaches its soft
// lifetime (hard false) and its hard lifetime (hard true); each at most once
// per SA. It is called from the worker goroutine that processed the packet
// crossing the limit, inside Decap or Encap: it must not block, allocate
// much or take locks a worker could wait on. Typically it does a non-blocking
// send on a buffered channel, or sets a flag the control plane polls.
func WithExpiryHook(fn func(sa string, hard bool)) Option {
	return func(o *options) { o.hook = fn }
}

// WithBirth sets the SA's creation time in the clock of the now values the
// workers pass to Decap and Encap (monotonic nanoseconds). Without it the SA
// is born at the now of the first packet it processes. Time lifetimes
// (rekey-time, life-time) count from birth and are checked per packet; an
// idle SA is checked by CheckLifetime.
func WithBirth(now int64) Option {
	return func(o *options) { o.birth, o.born = now, true }
}

// Lifetime state bits.
const (
	stateSoft uint32 = 1 << iota
	stateHard
)

const unborn = math.MinInt64

// limits are a Lifetime as the hot path compares it: "no limit" is the
// largest value, so a packet costs compares only, never a zero test.
type limits struct {
	softPkts, hardPkts   uint64
	softBytes, hardBytes uint64
	minPkts, minBytes    uint64 // min of soft and hard: one compare per packet
	softTime, hardTime   int64  // nanoseconds
	timed                bool   // a time limit is set
	counted              bool   // a packet or byte limit is set
}

func newLimits(l Lifetime) limits {
	orMax := func(v uint64) uint64 {
		if v == 0 {
			return math.MaxUint64
		}
		return v
	}
	orMaxT := func(d int64) int64 {
		if d <= 0 {
			return math.MaxInt64
		}
		return d
	}
	x := limits{
		softPkts: orMax(l.RekeyPackets), hardPkts: orMax(l.LifePackets),
		softBytes: orMax(l.RekeyBytes), hardBytes: orMax(l.LifeBytes),
		softTime: orMaxT(int64(l.RekeyTime)), hardTime: orMaxT(int64(l.LifeTime)),
	}
	x.minPkts = min(x.softPkts, x.hardPkts)
	x.minBytes = min(x.softBytes, x.hardBytes)
	x.timed = l.RekeyTime > 0 || l.LifeTime > 0
	x.counted = l.RekeyPackets > 0 || l.LifePackets > 0 || l.RekeyBytes > 0 || l.LifeBytes > 0
	return x
}

// counters are an SA's mutable state besides the replay window, shared by
// every worker that processes the SA: atomic, never locked.
//
// An accepted packet costs one atomic add: packets and bytes travel packed
// in recent (packets in the top 24 bits, bytes in the low 40), and are moved
// into the 64-bit totals long before either field could overflow (every
// 2^23 packets or 2^39 bytes). A locked instruction costs as much as the
// rest of a 64-byte packet's ESP work on the machines measured, so this is
// the difference between 4 and 3 per packet. flushGen makes the move
// invisible to readers (a seqlock: odd while moving).
type counters struct {
	// Written for every accepted packet (first cache line).
	recent   atomic.Uint64 // packets<<recentShift | bytes, not yet in the totals
	flushGen atomic.Uint32
	state    atomic.Uint32 // stateSoft | stateHard
	birth    atomic.Int64
	// Written rarely: moves out of recent, refusals.
	packets, bytes atomic.Uint64 // totals moved out of recent
	authFail       atomic.Uint64
	replay         atomic.Uint64
	malformed      atomic.Uint64
	expired        atomic.Uint64
}

const (
	recentShift     = 40
	recentBytesMask = 1<<recentShift - 1
	flushPackets    = 1 << 23 << recentShift // packets field value that triggers a move
	flushBytes      = 1 << 39
)

// totals returns packets and bytes, consistent against a concurrent move.
func (c *counters) totals() (p, b uint64) {
	for {
		g := c.flushGen.Load()
		if g&1 != 0 {
			continue // a move is under way: a few instructions
		}
		r := c.recent.Load()
		p, b = c.packets.Load()+r>>recentShift, c.bytes.Load()+r&recentBytesMask
		if c.flushGen.Load() == g {
			return p, b
		}
	}
}

func (c *counters) stats() SAStats {
	st := c.state.Load()
	p, b := c.totals()
	return SAStats{
		Packets: p, Bytes: b,
		AuthFailures: c.authFail.Load(), ReplayDrops: c.replay.Load(),
		Malformed: c.malformed.Load(), ExpiredDrops: c.expired.Load(),
		SoftExpired: st&stateSoft != 0, HardExpired: st&stateHard != 0,
	}
}

// saCommon is what inbound and outbound SAs share: read-only after
// construction.
type saCommon struct {
	suite
	spi  uint32
	esn  bool
	tun  bool
	life limits
	hook func(sa string, hard bool)
	spec *SASpec
}

// cacheLinePad keeps the read-only part of an SA off the cache line the
// workers write.
type cacheLinePad struct{ _ [64]byte }

func newCommon(spec SASpec, want Direction, opts []Option) (saCommon, *options, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if err := spec.Validate(); err != nil {
		return saCommon{}, nil, fmt.Errorf("sa %q: %w", spec.Name, err)
	}
	if spec.Direction != want {
		return saCommon{}, nil, fmt.Errorf("sa %q: direction: want %v, got %v", spec.Name, want, spec.Direction)
	}
	s, err := newSuite(spec.Proposal, spec.EncKey, spec.AuthKey)
	if err != nil {
		return saCommon{}, nil, fmt.Errorf("sa %q: %w", spec.Name, err)
	}
	cp := spec.clone()
	return saCommon{
		suite: s,
		spi:   spec.SPI,
		esn:   spec.ESN,
		tun:   spec.Mode == Tunnel,
		life:  newLimits(spec.Life),
		hook:  o.hook,
		spec:  &cp,
	}, &o, nil
}

func (s *SASpec) clone() SASpec {
	c := *s
	c.EncKey = append(Key(nil), s.EncKey...)
	c.AuthKey = append(Key(nil), s.AuthKey...)
	return c
}

// InboundSA is the runtime form of an inbound SA: what a worker reads to
// decapsulate. Built by the control plane with NewInboundSA; shared by
// pointer between snapshots, so its replay window, counters and lifetime
// state survive a table swap. All methods are safe for concurrent use.
type InboundSA struct {
	saCommon
	_      cacheLinePad
	window replay.Window
	ctr    counters
}

// NewInboundSA validates spec (Direction must be In) and precomputes the
// runtime SA: cipher or AEAD, salt, HMAC pad states, IV and ICV sizes,
// flags and limits. Control plane only; it allocates.
func NewInboundSA(spec SASpec, opts ...Option) (*InboundSA, error) {
	c, o, err := newCommon(spec, In, opts)
	if err != nil {
		return nil, err
	}
	sa := &InboundSA{saCommon: c}
	sa.window.Init(spec.ReplayWindow)
	sa.ctr.birth.Store(unborn)
	if o.born {
		sa.ctr.birth.Store(o.birth)
	}
	return sa, nil
}

// Name returns the SA's configured name.
func (sa *InboundSA) Name() string { return sa.spec.Name }

// CheckLifetime applies the time lifetimes at now (same clock as Decap's),
// for an SA that may see no packet: the expiry hook fires as a packet would
// make it. It reports whether the SA is hard-expired. Safe to call from the
// control plane while workers run.
func (sa *InboundSA) CheckLifetime(now int64) (hardExpired bool) {
	if sa.life.timed {
		sa.checkTime(&sa.ctr, now)
	}
	return sa.ctr.state.Load()&stateHard != 0
}

// SPI returns the SA's SPI.
func (sa *InboundSA) SPI() uint32 { return sa.spi }

// Spec returns a copy of the spec the SA was built from. Its keys are
// copies too and stay of type Key, so printing the spec never shows them.
func (sa *InboundSA) Spec() SASpec { return sa.spec.clone() }

// Stats returns the SA's counters. Safe to call while workers run.
func (sa *InboundSA) Stats() SAStats { return sa.ctr.stats() }

// String names the SA for logs; it never includes key material.
func (sa *InboundSA) String() string {
	return fmt.Sprintf("in %s spi %#08x %v", sa.spec.Name, sa.spi, sa.proposal)
}

// OutboundSA is the runtime form of an outbound SA: what the control plane's
// replies and the bench generator encrypt with. Safe for concurrent use: the
// sequence number is one atomic counter.
type OutboundSA struct {
	saCommon
	src, dst   netip.Addr // tunnel mode outer addresses
	sport      uint16     // NAT-T ports (RFC 3948), 4500 when the spec leaves them 0
	dport      uint16
	natt       bool
	outer6     bool // tunnel mode: the outer header is IPv6
	outerLen   uint8
	srcB, dstB [16]byte
	_          cacheLinePad
	seq        atomic.Uint64 // last sequence number used
	ctr        counters
}

// NewOutboundSA validates spec (Direction must be Out) and precomputes the
// runtime SA. Control plane only; it allocates.
func NewOutboundSA(spec SASpec, opts ...Option) (*OutboundSA, error) {
	c, o, err := newCommon(spec, Out, opts)
	if err != nil {
		return nil, err
	}
	sa := &OutboundSA{saCommon: c}
	sa.natt = spec.Encapsulation == EncapUDP
	sa.sport, sa.dport = spec.SourcePort, spec.DestinationPort
	if sa.sport == 0 {
		sa.sport = nattPort
	}
	if sa.dport == 0 {
		sa.dport = nattPort
	}
	if sa.tun {
		sa.src, sa.dst = spec.Source.Unmap(), spec.Destination.Unmap()
		sa.outer6 = sa.src.Is6()
		sa.outerLen = ipv4MinHdr
		if sa.outer6 {
			sa.outerLen = ipv6HdrLen
			sa.srcB, sa.dstB = sa.src.As16(), sa.dst.As16()
		} else {
			s4, d4 := sa.src.As4(), sa.dst.As4()
			copy(sa.srcB[:], s4[:])
			copy(sa.dstB[:], d4[:])
		}
	}
	sa.ctr.birth.Store(unborn)
	if o.born {
		sa.ctr.birth.Store(o.birth)
	}
	return sa, nil
}

// Name returns the SA's configured name.
func (sa *OutboundSA) Name() string { return sa.spec.Name }

// CheckLifetime applies the time lifetimes at now (same clock as Encap's);
// see InboundSA.CheckLifetime.
func (sa *OutboundSA) CheckLifetime(now int64) (hardExpired bool) {
	if sa.life.timed {
		sa.checkTime(&sa.ctr, now)
	}
	return sa.ctr.state.Load()&stateHard != 0
}

// SPI returns the SA's SPI.
func (sa *OutboundSA) SPI() uint32 { return sa.spi }

// Spec returns a copy of the spec the SA was built from (keys redacted when
// printed).
func (sa *OutboundSA) Spec() SASpec { return sa.spec.clone() }

// Stats returns the SA's counters. Safe to call while workers run.
func (sa *OutboundSA) Stats() SAStats { return sa.ctr.stats() }

// Seq returns the last sequence number Encap used (0: none yet).
func (sa *OutboundSA) Seq() uint64 { return sa.seq.Load() }

// String names the SA for logs; it never includes key material.
func (sa *OutboundSA) String() string {
	return fmt.Sprintf("out %s spi %#08x %v", sa.spec.Name, sa.spi, sa.proposal)
}

// Overhead returns the most bytes Encap adds in front of the packet (outer
// IP header in tunnel mode, NAT-T UDP header, ESP header, IV) and behind it
// (padding, pad length, next header, ICV). A frame with this much headroom
// and tailroom never gets ResultNoRoom.
func (sa *OutboundSA) Overhead() (head, tail int) {
	head = espHdrLen + int(sa.ivLen)
	if sa.natt {
		head += udpHdrLen
	}
	if sa.tun {
		head += int(sa.outerLen)
	}
	tail = int(sa.align) - 1 + 2 + int(sa.icvLen)
	return head, tail
}
