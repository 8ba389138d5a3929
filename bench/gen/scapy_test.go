package gen

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/sluicenet/sluice/dataplane/dptest"
	"github.com/sluicenet/sluice/ipsec"
)

// The scapy oracle: python3-scapy dissects and decrypts a sample of every
// kind of generated frame (testdata/scapy/dissect.py), and the test checks
// scapy's reading against what the generator meant to build: outer headers
// and checksums, SPI, that the ICV verifies (or does not, for bad-icv), the
// inner UDP datagram and its checksum, and the L2TP header, PPP frame or
// HELLO's Message Type AVP inside.

const python = "/usr/bin/python3"

// requireTool skips when an oracle program is missing, except under
// CI=true, where the oracle must run.
func requireTool(t *testing.T, path string, check ...string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		if len(check) == 0 {
			return
		}
		if err := exec.Command(path, check...).Run(); err == nil {
			return
		}
	}
	if dptest.InCI() {
		t.Fatalf("%s %v is needed (CI=true: the oracle may not be skipped); make deps installs it", path, check)
	}
	t.Skipf("%s %v is not available; make deps installs it", path, check)
}

type scapySA struct {
	Proposal string `json:"proposal"`
	EncKey   string `json:"enc_key"`
	AuthKey  string `json:"auth_key"`
}

type scapyUDP struct {
	Sport, Dport, Len int
	ChecksumOK        bool `json:"checksum_ok"`
}

type scapyL2TP struct {
	Control   bool
	LengthBit bool `json:"length_bit"`
	Version   int
	Tunnel    int
	Session   int
	Length    int
	AVP0      *struct {
		Mandatory                        bool
		Length, Vendor, Attribute, Value int
	}
	PPPLen       int  `json:"ppp_len"`
	PPPAddress   int  `json:"ppp_address"`
	PPPControl   int  `json:"ppp_control"`
	PPPProto     int  `json:"ppp_proto"`
	InnerIPLen   int  `json:"inner_ip_len"`
	InnerIPSumOK bool `json:"inner_ip_checksum_ok"`
}

type scapyFrame struct {
	Error        string
	Len          int
	Family       int
	Src, Dst     string
	IPLen        int  `json:"ip_len"`
	IPChecksumOK bool `json:"ip_checksum_ok"`
	UDP          *scapyUDP
	ESP          *struct {
		SPI     uint32
		Seq     uint32
		Decrypt string
	}
	InnerUDP *scapyUDP `json:"inner_udp"`
	L2TP     *scapyL2TP
}

type scapyGroup struct {
	SAs    map[string]scapySA `json:"sas"`
	Frames []string           `json:"frames"`
}

// group prepares a generator's frames (and its SAs' keys) for the script.
func group(g *Generator, frames [][]byte) scapyGroup {
	gr := scapyGroup{SAs: map[string]scapySA{}}
	for i := 0; i < g.TrafficSAs(); i++ {
		sp := g.Scenario().InboundSpec(i)
		gr.SAs[strconv.FormatUint(uint64(sp.SPI), 10)] = scapySA{sp.Proposal.String(), hex.EncodeToString(sp.EncKey), hex.EncodeToString(sp.AuthKey)}
	}
	for _, f := range frames {
		gr.Frames = append(gr.Frames, hex.EncodeToString(f))
	}
	return gr
}

// dissect runs the scapy script once over every group (one Python start,
// one scapy import).
func dissect(t *testing.T, groups []scapyGroup) [][]scapyFrame {
	t.Helper()
	req, _ := json.Marshal(map[string]any{"groups": groups})
	cmd := exec.Command(python, "testdata/scapy/dissect.py")
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scapy: %v\n%s", err, stderr.String())
	}
	var resp struct {
		Groups []struct{ Frames []scapyFrame }
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("scapy answer: %v", err)
	}
	if len(resp.Groups) != len(groups) {
		t.Fatalf("scapy answered %d groups, sent %d", len(resp.Groups), len(groups))
	}
	res := make([][]scapyFrame, len(groups))
	for i, g := range resp.Groups {
		if len(g.Frames) != len(groups[i].Frames) {
			t.Fatalf("group %d: scapy dissected %d frames, sent %d", i, len(g.Frames), len(groups[i].Frames))
		}
		res[i] = g.Frames
	}
	return res
}

// checkFrame compares scapy's reading of one frame with what the generator
// says it wrote.
func checkFrame(g *Generator, fi FrameInfo, d scapyFrame) error {
	sc := g.Scenario()
	var errs []string
	want := func(what string, got, exp any) {
		if fmt.Sprint(got) != fmt.Sprint(exp) {
			errs = append(errs, fmt.Sprintf("%s = %v, want %v", what, got, exp))
		}
	}
	want("length", d.Len, fi.Len)
	if fi.Kind == KindJunk {
		want("family", d.Family, 4)
		want("ip checksum ok", d.IPChecksumOK, false)
		return joinErrs(errs)
	}
	fam := 4
	if sc.IPv6 {
		fam = 6
	}
	want("family", d.Family, fam)
	want("src", d.Src, sc.Client)
	want("dst", d.Dst, sc.Server)
	want("ip length", d.IPLen, fi.Len-ethHdrLen)
	if fam == 4 {
		want("ip checksum ok", d.IPChecksumOK, true)
	}
	espKind := fi.Kind == KindESPData || fi.Kind == KindESPHello || fi.Kind == KindBadICV || fi.Kind == KindUnknownSPI
	if espKind {
		if sc.NATT {
			if d.UDP == nil {
				return fmt.Errorf("no NAT-T UDP header")
			}
			want("nat-t ports", [2]int{d.UDP.Sport, d.UDP.Dport}, [2]int{4500, 4500})
			want("nat-t udp length", d.UDP.Len, d.IPLen-(d.IPLen-fi.Len+ethHdrLen)-ipHdr(fam))
			want("nat-t udp checksum ok", d.UDP.ChecksumOK, true)
		}
		if d.ESP == nil {
			return fmt.Errorf("scapy found no ESP")
		}
		spi := InboundSPIBase + uint32(fi.SA)
		dec := "ok"
		switch fi.Kind {
		case KindUnknownSPI:
			spi, dec = UnknownSPI, "no-sa"
		case KindBadICV:
			dec = "auth-failed"
		}
		want("spi", d.ESP.SPI, spi)
		want("decrypt", d.ESP.Decrypt, dec)
		if dec != "ok" {
			return joinErrs(errs)
		}
		if d.InnerUDP == nil {
			return fmt.Errorf("no inner UDP")
		}
		want("inner udp ports", [2]int{d.InnerUDP.Sport, d.InnerUDP.Dport}, [2]int{1701, 1701})
		want("inner udp checksum ok", d.InnerUDP.ChecksumOK, true)
	} else if d.UDP == nil {
		return fmt.Errorf("no UDP header")
	} else {
		want("udp ports", [2]int{d.UDP.Sport, d.UDP.Dport}, [2]int{1701, 1701})
		want("udp checksum ok", d.UDP.ChecksumOK, true)
	}
	l := d.L2TP
	if l == nil {
		return fmt.Errorf("no L2TP")
	}
	want("l2tp version", l.Version, 2)
	tunnel, session := 1, 1
	if fi.Kind == KindESPData || fi.Kind == KindESPHello {
		tunnel, session = int(Tunnel(int(fi.SA))), int(fi.Session)
	}
	want("l2tp tunnel", l.Tunnel, tunnel)
	switch fi.Kind {
	case KindESPHello, KindClearHello:
		want("l2tp control", l.Control, true)
		want("l2tp session", l.Session, 0)
		want("l2tp length", l.Length, 20)
		if l.AVP0 == nil {
			return fmt.Errorf("no AVP")
		}
		want("message type AVP (M, len, vendor, attr)", [4]any{l.AVP0.Mandatory, l.AVP0.Length, l.AVP0.Vendor, l.AVP0.Attribute}, [4]any{true, 8, 0, 0})
		want("message type", l.AVP0.Value, 6) // HELLO, RFC 2661 section 3.2
	default:
		want("l2tp control", l.Control, false)
		want("l2tp session", l.Session, session)
		want("l2tp length bit", l.LengthBit, true)
		want("l2tp length", l.Length, 8+fi.Payload)
		want("ppp length", l.PPPLen, fi.Payload)
		want("ppp address/control", [2]int{l.PPPAddress, l.PPPControl}, [2]int{0xff, 0x03})
		want("ppp protocol", l.PPPProto, 0x0021)
		want("inner ip length", l.InnerIPLen, fi.Payload-4)
		want("inner ip checksum ok", l.InnerIPSumOK, true)
	}
	return joinErrs(errs)
}

func ipHdr(fam int) int {
	if fam == 6 {
		return ipv6HdrLen
	}
	return ipv4HdrLen
}

func joinErrs(errs []string) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%q", errs)
}

// sample generates n frames and records what the generator says of each.
func sample(t *testing.T, g *Generator, n int) ([][]byte, []FrameInfo) {
	st := mustStream(t, g, 0, 1)
	var frames [][]byte
	var infos []FrameInfo
	buf := make([]byte, g.MaxFrameLen())
	for range n {
		l, _ := st.Next(buf)
		frames = append(frames, append([]byte(nil), buf[:l]...))
		infos = append(infos, st.Last())
	}
	return frames, infos
}

func TestScapyDissects(t *testing.T) {
	requireTool(t, python, "-c", "import scapy.layers.ipsec")
	type tc struct {
		name string
		sc   Scenario
	}
	var cases []tc
	for _, p := range ipsec.Proposals() {
		for _, fam := range []struct {
			v6, natt bool
			name     string
		}{{false, false, "v4"}, {false, true, "v4-natt"}, {true, false, "v6"}, {true, true, "v6-natt"}} {
			cases = append(cases, tc{p.String() + "/" + fam.name, Scenario{Proposal: p, SAs: 3, Sessions: 2, Sizes: IMIX, IPv6: fam.v6, NATT: fam.natt, Mix: fullMix, Seed: 11}})
		}
	}
	// Fresh sequence numbers: scapy verifies the patched ICVs.
	cases = append(cases,
		tc{"aes128gcm16/fresh", Scenario{SAs: 2, Sizes: IMIX, Mix: fullMix, FreshSeq: true, ReplayWindow: 1024, Seed: 5}},
		tc{"aes256gcm16/fresh-v6-natt", Scenario{Proposal: ipsec.AES256GCM16, SAs: 2, Sizes: Fixed(1500), IPv6: true, NATT: true, Mix: fullMix, FreshSeq: true, ReplayWindow: 64, Seed: 6}},
	)
	gens := make([]*Generator, len(cases))
	frames := make([][][]byte, len(cases))
	infos := make([][]FrameInfo, len(cases))
	var groups []scapyGroup
	for i, c := range cases {
		gens[i] = mustGen(t, c.sc)
		frames[i], infos[i] = sample(t, gens[i], 40)
		groups = append(groups, group(gens[i], frames[i]))
	}
	got := dissect(t, groups)
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var seen [NumKinds]bool
			lastSeq := map[int32]uint32{}
			for i, fi := range infos[ci] {
				d := got[ci][i]
				seen[fi.Kind] = true
				if err := checkFrame(gens[ci], fi, d); err != nil {
					t.Errorf("frame %d (%v, SA %d): %v", i, fi.Kind, fi.SA, err)
				}
				if c.sc.FreshSeq && d.ESP != nil && fi.Kind != KindUnknownSPI {
					if s := d.ESP.Seq; s != lastSeq[fi.SA]+1 {
						t.Errorf("frame %d: SA %d seq %d after %d, want +1", i, fi.SA, s, lastSeq[fi.SA])
					}
					lastSeq[fi.SA] = d.ESP.Seq
				}
			}
			for k, ok := range seen {
				if !ok {
					t.Errorf("no %v frame in the sample", Kind(k))
				}
			}
		})
	}
}
