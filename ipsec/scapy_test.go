package ipsec

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"testing"
)

// The scapy oracle: python3-scapy's SecurityAssociation encrypts and we
// decapsulate; we encapsulate and scapy decrypts. Every proposal × mode ×
// NAT-T × outer family × ESN. See testdata/scapy/esp_oracle.py for where the
// script fills gaps of scapy 2.5.0 with python's own hmac.

type oracleCase struct {
	Name     string         `json:"name"`
	Proposal string         `json:"proposal"`
	SPI      uint32         `json:"spi"`
	Mode     string         `json:"mode"`
	NATT     bool           `json:"natt"`
	V6       bool           `json:"v6"`
	ESN      bool           `json:"esn"`
	Options  bool           `json:"options"`
	EncKey   string         `json:"enc_key"`
	AuthKey  string         `json:"auth_key"`
	Src      string         `json:"src"`
	Dst      string         `json:"dst"`
	Sport    uint16         `json:"sport"`
	Dport    uint16         `json:"dport"`
	Seqs     []uint64       `json:"seqs,omitempty"`
	Packets  []oraclePacket `json:"packets,omitempty"`
}

type oraclePacket struct {
	Seq    uint64 `json:"seq"`
	Wire   string `json:"wire,omitempty"`
	Inner  string `json:"inner,omitempty"`
	Expect string `json:"expect,omitempty"`
	Error  string `json:"error,omitempty"`
}

func toOracle(c tcase, s SASpec) oracleCase {
	return oracleCase{
		Name: c.name, Proposal: c.proposal.String(), SPI: s.SPI, Mode: c.mode.String(),
		NATT: c.natt, V6: c.v6, ESN: c.esn, Options: c.opts,
		EncKey: hex.EncodeToString(s.EncKey), AuthKey: hex.EncodeToString(s.AuthKey),
		Src: s.Source.String(), Dst: s.Destination.String(), Sport: 4500, Dport: 4500,
	}
}

func runOracle(t *testing.T, py, op string, cases []oracleCase) []oracleCase {
	t.Helper()
	req, err := json.Marshal(map[string]any{"op": op, "cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "testdata/scapy/esp_oracle.py")
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("oracle %s: %v\n%s", op, err, stderr.String())
	}
	var resp struct {
		Cases []oracleCase `json:"cases"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("oracle %s answer: %v", op, err)
	}
	if len(resp.Cases) != len(cases) {
		t.Fatalf("oracle %s: %d cases back, want %d", op, len(resp.Cases), len(cases))
	}
	return resp.Cases
}

var (
	seqsPlain = []uint64{1, 2, 3, 5, 4, 1000, 999}
	// Crossing 2^32 with ESN, then a late packet of the old epoch (RFC 4303
	// Appendix A2.2 case B).
	seqsESN = []uint64{1, 0x7fffffff, 0xfffffffe, 0xffffffff, 0x100000000, 0x100000001, 0xfffffffd}
)

func TestScapyOracle(t *testing.T) {
	py := requireScapy(t)
	cases := allCases()
	// IPv4 options in the outer header of transport mode: it moves with them.
	for _, p := range []Proposal{AES128GCM16, AES128SHA256} {
		for _, natt := range []bool{false, true} {
			c := tcase{proposal: p, mode: Transport, natt: natt, opts: true}
			c.name = fmt.Sprintf("%v/transport/natt=%v/v4-options", p, natt)
			cases = append(cases, c)
		}
	}

	// (a) scapy encrypts, we decapsulate.
	var req []oracleCase
	for _, c := range cases {
		oc := toOracle(c, c.spec(In))
		oc.Seqs = seqsPlain
		if c.esn {
			oc.Seqs = seqsESN
		}
		req = append(req, oc)
	}
	enc := runOracle(t, py, "encrypt", req)
	inners := map[string][]oraclePacket{}
	for i, c := range cases {
		res := enc[i]
		inners[c.name] = res.Packets
		t.Run("decap/"+c.name, func(t *testing.T) {
			sa, err := NewInboundSA(c.spec(In))
			if err != nil {
				t.Fatal(err)
			}
			var bytesWant uint64
			for j, p := range res.Packets {
				got, r := decapWire(sa, mustHex(t, p.Wire), 1)
				if r != OK {
					t.Fatalf("packet %d (seq %#x): got %v, want ok", j, p.Seq, r)
				}
				want := mustHex(t, p.Expect)
				if !bytes.Equal(got, want) {
					t.Fatalf("packet %d (seq %#x): inner differs\n got %x\nwant %x", j, p.Seq, got, want)
				}
				// Counter contract: transport counts the L4 segment, tunnel the inner packet.
				if c.mode == Tunnel {
					bytesWant += uint64(len(want))
				} else if c.v6 {
					bytesWant += uint64(len(want) - 40)
				} else {
					bytesWant += uint64(len(want) - int(want[0]&15)*4)
				}
				// Replaying it is refused.
				if _, r := decapWire(sa, mustHex(t, p.Wire), 1); r != ResultReplay {
					t.Fatalf("packet %d replayed: got %v, want esp-replay", j, r)
				}
			}
			st := sa.Stats()
			if st.Packets != uint64(len(res.Packets)) || st.Bytes != bytesWant || st.ReplayDrops != uint64(len(res.Packets)) {
				t.Fatalf("stats %+v, want %d packets, %d bytes, %d replay drops", st, len(res.Packets), bytesWant, len(res.Packets))
			}
		})
	}

	// (b) we encapsulate scapy's inner packets, scapy decrypts.
	req = req[:0]
	for _, c := range cases {
		sa, err := NewOutboundSA(c.spec(Out))
		if err != nil {
			t.Fatal(err)
		}
		if c.esn {
			sa.seq.Store(0xfffffffc) // cross 2^32
		}
		oc := toOracle(c, c.spec(Out))
		for j, p := range inners[c.name] {
			wire, r := encapPacket(sa, mustHex(t, p.Inner), 1)
			if r != OK {
				t.Fatalf("%s: encap packet %d: %v", c.name, j, r)
			}
			oc.Packets = append(oc.Packets, oraclePacket{Seq: sa.Seq(), Wire: hex.EncodeToString(wire), Inner: p.Inner})
		}
		req = append(req, oc)
	}
	dec := runOracle(t, py, "decrypt", req)
	for i, c := range cases {
		t.Run("encap/"+c.name, func(t *testing.T) {
			for j, p := range dec[i].Packets {
				if p.Error != "" {
					t.Fatalf("packet %d (seq %#x): scapy: %s", j, req[i].Packets[j].Seq, p.Error)
				}
				if p.Inner != req[i].Packets[j].Inner {
					t.Fatalf("packet %d: scapy decrypted\n%s\nwant\n%s", j, p.Inner, req[i].Packets[j].Inner)
				}
			}
		})
	}
}
