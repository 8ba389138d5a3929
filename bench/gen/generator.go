package gen

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/sluicenet/sluice/ipsec"
	"github.com/sluicenet/sluice/l2tp"
)

// tmpl is one pre-built frame in the generator's arena.
type tmpl struct {
	off uint32
	n   uint32
}

// Generator holds every pre-built frame of a scenario and the schedules
// that interleave them. It is immutable once New returns: any number of
// Streams (one per goroutine) read it at once.
//
// Templates, all in one arena:
//
//	data[(sa*Sessions + session)*len(sizes) + size]  ESP data, one per flow and size
//	hello[sa]                                         ESP HELLO, one per traffic SA
//	clearData[size], clearHello                       cleartext L2TP to UDP/1701
//	junk[size]                                        IPv4 "ESP" with a bad header checksum
//
// bad-icv and unknown-spi frames are data templates patched as they are
// copied out (one ICV bit flipped, the SPI replaced).
type Generator struct {
	sc        Scenario
	traffic   int   // SAs that carry traffic (one tunnel each)
	sizes     []int // payload size per size index
	kindSched []Kind
	sizeSched []uint8
	fresh     bool
	v6natt    bool // NAT-T over IPv6: patches must keep the UDP checksum right
	espOff    int  // offset of the ESP header in ESP frames
	icvLen    int
	maxFrame  int

	arena      []byte
	data       []tmpl
	hello      []tmpl
	clearData  []tmpl
	clearHello tmpl
	junk       []tmpl
	// shift[sa*(len(sizes)+1)+class]: the GHASH factor of SA sa for data
	// frames of size class (class len(sizes) is HELLO); fresh mode only.
	shift []seqShift
}

// New validates sc, derives its keys and builds every template (it
// encrypts one frame per flow and size, so it takes a while for 65535 SAs).
// Control path: allocates.
func New(sc Scenario) (*Generator, error) {
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	sc = sc.withDefaults()
	g := &Generator{
		sc:        sc,
		traffic:   sc.trafficSAs(),
		fresh:     sc.FreshSeq,
		kindSched: schedule[Kind](sc.Mix[:]),
	}
	var sw []uint32
	for _, w := range sc.Sizes.Weights {
		g.sizes = append(g.sizes, w.Size)
		sw = append(sw, uint32(w.Weight))
	}
	g.sizeSched = schedule[uint8](sw)
	g.espOff = ethHdrLen + ipv4HdrLen
	if sc.IPv6 {
		g.espOff = ethHdrLen + ipv6HdrLen
	}
	if sc.NATT {
		g.espOff += udpHdrLen
	}
	g.v6natt = sc.NATT && sc.IPv6
	if err := g.build(); err != nil {
		return nil, err
	}
	return g, nil
}

// schedule returns one period of a smooth weighted round-robin over
// weights (reduced by their gcd): every index appears weight times, as
// evenly spread as the weights allow, so any prefix of the traffic has
// close to the configured shares.
func schedule[T ~uint8 | ~uint32](w []uint32) []T {
	g := uint32(0)
	for _, x := range w {
		g = gcd(g, x)
	}
	var total int64
	for _, x := range w {
		total += int64(x / g)
	}
	cur := make([]int64, len(w))
	out := make([]T, 0, total)
	for range total {
		best := -1
		for i, x := range w {
			if x == 0 {
				continue
			}
			cur[i] += int64(x / g)
			if best < 0 || cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		out = append(out, T(best))
	}
	return out
}

func gcd(a, b uint32) uint32 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// build crafts every template.
func (g *Generator) build() error {
	sc := g.sc
	nsz := len(g.sizes)
	rnd := &splitmix{s: sc.Seed ^ 0x6a756e6b} // "junk"
	add := func(f []byte) tmpl {
		t := tmpl{off: uint32(len(g.arena)), n: uint32(len(f))}
		g.arena = append(g.arena, f...)
		g.maxFrame = max(g.maxFrame, len(f))
		return t
	}
	g.icvLen = icvLen(sc.Proposal)
	g.data = make([]tmpl, g.traffic*sc.Sessions*nsz)
	g.hello = make([]tmpl, g.traffic)
	if g.fresh {
		g.shift = make([]seqShift, g.traffic*(nsz+1))
	}
	for i := 0; i < g.traffic; i++ {
		csa, err := ipsec.NewOutboundSA(sc.ClientSpec(i))
		if err != nil {
			return fmt.Errorf("client SA %d: %w", i, err)
		}
		tun := Tunnel(i)
		for s := 0; s < sc.Sessions; s++ {
			for z, size := range g.sizes {
				tag := uint32(i)<<16 ^ uint32(s)<<8 ^ uint32(z)
				ip := ipUDP(uint16(tag), sc.Client, sc.Server, l2tp.Port, l2tp.Port, l2tpData(tun, uint16(s+1), pppFrame(size, tag)))
				f, err := espFrame(csa, sc.ServerMAC, sc.ClientMAC, ip)
				if err != nil {
					return err
				}
				if g.fresh {
					if err := g.normalise(f, i, z); err != nil {
						return err
					}
				}
				g.data[(i*sc.Sessions+s)*nsz+z] = add(f)
			}
		}
		hello, err := l2tpHello(tun, 0)
		if err != nil {
			return err
		}
		f, err := espFrame(csa, sc.ServerMAC, sc.ClientMAC, ipUDP(uint16(i), sc.Client, sc.Server, l2tp.Port, l2tp.Port, hello))
		if err != nil {
			return err
		}
		if g.fresh {
			if err := g.normalise(f, i, nsz); err != nil {
				return err
			}
		}
		g.hello[i] = add(f)
		if i == 0 && g.traffic > 1 {
			// Every SA's frames are as long as SA 0's: size the arena once
			// instead of growing a few hundred megabytes by doubling.
			arena := make([]byte, len(g.arena), len(g.arena)*g.traffic+len(g.arena)/8+4096)
			copy(arena, g.arena)
			g.arena = arena
		}
	}
	hello, err := l2tpHello(1, 0)
	if err != nil {
		return err
	}
	g.clearHello = add(ether(sc.ServerMAC, sc.ClientMAC, ipUDP(1, sc.Client, sc.Server, l2tp.Port, l2tp.Port, hello)))
	junkFrom, junkTo := netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.99.0.1")
	if sc.Client.Is4() {
		junkFrom, junkTo = sc.Client, sc.Server
	}
	for z, size := range g.sizes {
		ip := ipUDP(uint16(z), sc.Client, sc.Server, l2tp.Port, l2tp.Port, l2tpData(1, 1, pppFrame(size, uint32(z))))
		g.clearData = append(g.clearData, add(ether(sc.ServerMAC, sc.ClientMAC, ip)))
		n := int(g.data[z].n)
		g.junk = append(g.junk, add(junkFrame(sc.ServerMAC, sc.ClientMAC, n, rnd, junkFrom, junkTo)))
	}
	return nil
}

// icvLen is the ICV length of a proposal (RFC 4106: 16; RFC 7634: 16;
// RFC 2404: 12; RFC 4868: 16).
func icvLen(p ipsec.Proposal) int {
	if p == ipsec.AES128SHA1 || p == ipsec.AES256SHA1 {
		return 12
	}
	return 16
}

// normalise computes SA i's GHASH factor for the frame's ciphertext length
// (class z) and rewrites the frame to sequence number 0, the base every
// fresh number is patched from.
func (g *Generator) normalise(f []byte, i, z int) error {
	esp := f[g.espOff:]
	ctLen := len(esp) - espHdrLen - 8 - 16 // SPI, seq, IV, ICV
	key := g.sc.ClientSpec(i).EncKey
	w, err := newSeqShift(key[:len(key)-4], ctLen)
	if err != nil {
		return err
	}
	g.shift[i*(len(g.sizes)+1)+z] = w
	orig := append([]byte(nil), f...)
	reseq(esp, be.Uint32(esp[4:]), 0, w)
	if g.v6natt {
		g.fixUDPChecksum(f, orig)
	}
	return nil
}

// Scenario returns the scenario, defaults filled in.
func (g *Generator) Scenario() Scenario { return g.sc }

// TrafficSAs returns how many SAs carry traffic (SA 0 to TrafficSAs-1).
func (g *Generator) TrafficSAs() int { return g.traffic }

// MaxFrameLen returns the longest frame the generator writes: the least
// buffer Stream.Next needs.
func (g *Generator) MaxFrameLen() int { return g.maxFrame }

// ESPOffset returns the offset of the ESP header (the SPI) in ESP frames.
func (g *Generator) ESPOffset() int { return g.espOff }

// ICVLen returns the ICV length of the scenario's proposal.
func (g *Generator) ICVLen() int { return g.icvLen }

// Sizes returns the payload size of each size index.
func (g *Generator) Sizes() []int { return g.sizes }

// String describes the generator for logs and reports (never keys).
func (g *Generator) String() string {
	sc := g.sc
	fam := "ipv4"
	if sc.IPv6 {
		fam = "ipv6"
	}
	if sc.NATT {
		fam += "+natt"
	}
	return fmt.Sprintf("%v %s sas=%d sessions=%d sizes=%s mix=%s", sc.Proposal, fam, sc.SAs, sc.Sessions, sc.Sizes.Name, sc.Mix)
}

// ErrShardTooSmall is returned by NewStream when fresh sequence numbers are
// asked for and there are fewer traffic SAs than shards: two streams would
// number the same SA independently and the replay window would drop one.
var ErrShardTooSmall = errors.New("fresh sequence numbers need at least one traffic SA per stream")

// NewStream returns a stream of the generator's traffic for shard shard of
// shards: it carries the traffic SAs i with i%shards == shard (an SA's
// packets stay on one worker, as RSS keeps them on one queue), or every SA
// when there are fewer SAs than shards. Each stream has its own position in
// the schedules and its own counters.
func (g *Generator) NewStream(shard, shards int) (*Stream, error) {
	if shards < 1 || shard < 0 || shard >= shards {
		return nil, fmt.Errorf("shard %d of %d", shard, shards)
	}
	s := &Stream{g: g, last: FrameInfo{SA: -1}}
	if g.traffic >= shards {
		for i := shard; i < g.traffic; i += shards {
			s.sas = append(s.sas, int32(i))
		}
		// Start the schedules at different points so shards do not march
		// in step (harmless either way; closer to real traffic).
		s.ki = shard * len(g.kindSched) / shards
	} else {
		if g.fresh && shards > 1 {
			return nil, ErrShardTooSmall
		}
		for i := 0; i < g.traffic; i++ {
			s.sas = append(s.sas, int32(i))
		}
	}
	if g.fresh {
		s.seq = make([]uint32, g.traffic)
	}
	s.flows = len(s.sas) * g.sc.Sessions
	return s, nil
}
