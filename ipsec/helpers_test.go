package ipsec

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"testing"
)

// headroom and tailroom of the test frames, generous like an AF_XDP chunk.
const (
	testHead = 256
	testTail = 256
)

// testKeys derives deterministic key material for a case name.
func testKeys(p Proposal, name string) (enc, auth Key) {
	el, al := p.KeyLens()
	h := sha256.Sum256([]byte("enc " + name))
	h2 := sha256.Sum256([]byte("more " + name))
	m := append(h[:], h2[:]...)
	enc = append(Key(nil), m[:el]...)
	if al > 0 {
		a := sha256.Sum256([]byte("auth " + name))
		auth = append(Key(nil), a[:al]...)
	}
	return enc, auth
}

type tcase struct {
	name     string
	proposal Proposal
	mode     Mode
	natt     bool
	v6       bool
	esn      bool
	opts     bool // transport IPv4 with IP options (Router Alert) in the header that moves
}

func (c tcase) addrs() (src, dst netip.Addr) {
	if c.v6 {
		return netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("2001:db8::1")
	}
	return netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("203.0.113.1")
}

// spec returns the SA spec of a case; dir In means src (the peer) sends to
// dst (us); Out swaps them.
func (c tcase) spec(dir Direction) SASpec {
	src, dst := c.addrs()
	if dir == Out {
		src, dst = dst, src
	}
	enc, auth := testKeys(c.proposal, c.name)
	s := SASpec{
		Name: c.name + "-" + dir.String(), SPI: 0xc0010000 | uint32(len(c.name)), Direction: dir, Mode: c.mode,
		Source: src, Destination: dst, Proposal: c.proposal, EncKey: enc, AuthKey: auth,
		ESN: c.esn, ReplayWindow: 1024,
	}
	if c.natt {
		s.Encapsulation = EncapUDP
		s.SourcePort, s.DestinationPort = 4500, 4500
	}
	return s
}

func allCases() []tcase {
	var out []tcase
	for _, p := range Proposals() {
		for _, mode := range []Mode{Transport, Tunnel} {
			for _, natt := range []bool{false, true} {
				for _, v6 := range []bool{false, true} {
					for _, esn := range []bool{false, true} {
						c := tcase{proposal: p, mode: mode, natt: natt, v6: v6, esn: esn}
						c.name = fmt.Sprintf("%v/%v/natt=%v/v6=%v/esn=%v", p, mode, natt, v6, esn)
						out = append(out, c)
					}
				}
			}
		}
	}
	return out
}

// frame copies pkt into a fresh buffer with headroom and tailroom and returns
// the buffer and the packet's offset.
func frame(pkt []byte) ([]byte, int) {
	buf := make([]byte, testHead+len(pkt)+testTail)
	copy(buf[testHead:], pkt)
	return buf, testHead
}

// espOffsets finds, as the dataplane does, where ESP starts in an outer IP
// packet at buf[ipOff:end]. It is test scaffolding, not what is tested.
func espOffsets(buf []byte, ipOff, end int) int {
	var hl int
	var proto byte
	if buf[ipOff]>>4 == 4 {
		hl, proto = int(buf[ipOff]&15)*4, buf[ipOff+9]
	} else {
		hl, proto = 40, buf[ipOff+6]
	}
	if proto == protoUDP {
		return ipOff + hl + 8
	}
	return ipOff + hl
}

// decapWire runs Decap over a copy of an outer packet and returns the inner
// packet (a copy) and the result.
func decapWire(sa *InboundSA, wire []byte, now int64) ([]byte, Result) {
	buf, ipOff := frame(wire)
	end := ipOff + len(wire)
	off, n, r := sa.Decap(buf, ipOff, espOffsets(buf, ipOff, end), end, now)
	if r != OK {
		return nil, r
	}
	return append([]byte(nil), buf[off:off+n]...), r
}

// encapPacket runs Encap over a copy of an inner packet and returns the outer
// packet (a copy).
func encapPacket(sa *OutboundSA, inner []byte, now int64) ([]byte, Result) {
	buf, off := frame(inner)
	o, n, r := sa.Encap(buf, off, len(inner), now)
	if r != OK {
		return nil, r
	}
	return append([]byte(nil), buf[o:o+n]...), r
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// requireTool returns the path of an oracle program. Missing tools skip the
// test on a developer machine and fail it under CI=true, where .ci/run
// installs them.
func requireScapy(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err == nil {
		if err := exec.Command(py, "-c", "import scapy.layers.ipsec, cryptography").Run(); err == nil {
			return py
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("python3-scapy (and python3-cryptography) are required under CI=true: apt-get install python3-scapy")
	}
	t.Skip("python3-scapy not installed: the scapy oracle test needs /usr/bin/python3 with scapy")
	return ""
}
