package gen

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/sluicenet/sluice/ipsec"
)

// SPIs. Inbound SA i (what the client encrypts with and the box decrypts
// with) has SPI InboundSPIBase+i, its outbound pair OutboundSPIBase+i.
// UnknownSPI belongs to no SA. All are above 255 (RFC 4303 2.1).
const (
	InboundSPIBase  uint32 = 0x00100000
	OutboundSPIBase uint32 = 0x80100000
	UnknownSPI      uint32 = 0x0000dead
)

// derive returns n bytes of key material for SA i, direction dir and
// purpose what, from the scenario's seed: SHA-256 in counter mode over
// ("sluice-bench", seed, i, dir, what, block). Deterministic, so a test or
// a second machine can rebuild the same keys from the same scenario; not a
// KDF for real keys (these are benchmark keys, written in the config).
func derive(seed uint64, i int, dir, what string, n int) ipsec.Key {
	out := make([]byte, 0, n+sha256.Size)
	for blk := uint32(0); len(out) < n; blk++ {
		h := sha256.New()
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], seed)
		binary.BigEndian.PutUint32(b[8:12], uint32(i))
		binary.BigEndian.PutUint32(b[12:], blk)
		h.Write([]byte("sluice-bench\x00" + dir + "\x00" + what + "\x00"))
		h.Write(b[:])
		out = h.Sum(out)
	}
	return ipsec.Key(out[:n])
}

// SANames returns the config names of SA i's inbound SA and its pair.
func SANames(i int) (in, out string) {
	return fmt.Sprintf("bench-in-%d", i+1), fmt.Sprintf("bench-out-%d", i+1)
}

// Tunnel returns the local L2TP tunnel id SA i carries (0 when SA i is
// beyond MaxTunnels and carries no traffic).
func Tunnel(i int) uint16 {
	if i >= MaxTunnels {
		return 0
	}
	return uint16(i + 1)
}

// InboundSpec returns SA i as the box configures it: direction in, SPI
// InboundSPIBase+i, from the client to the server.
func (s Scenario) InboundSpec(i int) ipsec.SASpec {
	s = s.withDefaults()
	in, out := SANames(i)
	sp := s.spec(i, "in")
	sp.Name, sp.SPI, sp.Direction = in, InboundSPIBase+uint32(i), ipsec.In
	sp.Source, sp.Destination = s.Client, s.Server
	sp.ReplayWindow = s.ReplayWindow
	sp.Pair = out
	return sp
}

// OutboundSpec returns SA i's outbound pair as the box configures it:
// direction out, SPI OutboundSPIBase+i, from the server to the client.
func (s Scenario) OutboundSpec(i int) ipsec.SASpec {
	s = s.withDefaults()
	_, out := SANames(i)
	sp := s.spec(i, "out")
	sp.Name, sp.SPI, sp.Direction = out, OutboundSPIBase+uint32(i), ipsec.Out
	sp.Source, sp.Destination = s.Server, s.Client
	return sp
}

// ClientSpec returns the client's view of inbound SA i: the same SPI and
// keys, direction out, so that ipsec.OutboundSA.Encap builds what the box
// must decrypt.
func (s Scenario) ClientSpec(i int) ipsec.SASpec {
	sp := s.InboundSpec(i)
	sp.Direction = ipsec.Out
	sp.Pair = ""
	sp.ReplayWindow = 0
	return sp
}

func (s Scenario) spec(i int, dir string) ipsec.SASpec {
	enc, auth := s.Proposal.KeyLens()
	sp := ipsec.SASpec{
		Mode:     ipsec.Transport,
		Proposal: s.Proposal,
		EncKey:   derive(s.Seed, i, dir, "enc", enc),
	}
	if auth > 0 {
		sp.AuthKey = derive(s.Seed, i, dir, "auth", auth)
	}
	if s.NATT {
		sp.Encapsulation = ipsec.EncapUDP
		sp.SourcePort, sp.DestinationPort = 4500, 4500
	}
	return sp
}
