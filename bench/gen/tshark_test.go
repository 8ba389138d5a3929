package gen

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/sluicenet/sluice/ipsec"
	"github.com/sluicenet/sluice/l2tp/l2tptest"
)

// The tshark oracle: Wireshark's dissectors read a capture of generated
// frames and, given the SAs' keys in its esp_sa table, decrypt the ESP
// frames themselves and check their ICVs. The test compares tshark's fields
// with what the generator meant to build. Wireshark is a second ESP
// implementation next to scapy's, and its own L2TP and PPP dissectors.

// tsharkAlgos names the proposals in Wireshark's esp_sa table (4.0).
// Wireshark 4.0 cannot decrypt ChaCha20-Poly1305 (scapy does, in
// scapy_test.go): tshark checks only its outer headers.
var tsharkAlgos = map[ipsec.Proposal][2]string{
	ipsec.AES128GCM16:  {"AES-GCM with 16 octet ICV [RFC4106]", "NULL"},
	ipsec.AES256GCM16:  {"AES-GCM with 16 octet ICV [RFC4106]", "NULL"},
	ipsec.AES128SHA1:   {"AES-CBC [RFC3602]", "HMAC-SHA-1-96 [RFC2404]"},
	ipsec.AES256SHA1:   {"AES-CBC [RFC3602]", "HMAC-SHA-1-96 [RFC2404]"},
	ipsec.AES128SHA256: {"AES-CBC [RFC3602]", "HMAC-SHA-256-128 [RFC4868]"},
	ipsec.AES256SHA256: {"AES-CBC [RFC3602]", "HMAC-SHA-256-128 [RFC4868]"},
}

var tsharkFields = []string{
	"frame.len", "ip.checksum.status", "udp.checksum.status", "esp.spi", "esp.sequence",
	"esp.icv_good", "esp.icv_bad", "l2tp.type", "l2tp.tunnel", "l2tp.session", "l2tp.length",
	"l2tp.avp.message_type", "ppp.protocol", "_ws.malformed",
}

// writePcap writes frames as an Ethernet capture.
func writePcap(t *testing.T, path string, frames [][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(i)*1000), CaptureLength: len(fr), Length: len(fr)}
		if err := w.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
}

// tsharkRead dissects the capture, decrypting with g's SAs.
func tsharkRead(t *testing.T, g *Generator, path string) []map[string]string {
	t.Helper()
	sc := g.Scenario()
	args := []string{"-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
		"-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE"}
	fam := "IPv4"
	if sc.IPv6 {
		fam = "IPv6"
	}
	algo, decrypt := tsharkAlgos[sc.Proposal]
	for i := 0; decrypt && i < g.TrafficSAs(); i++ {
		sp := sc.InboundSpec(i)
		auth := ""
		if len(sp.AuthKey) > 0 {
			auth = fmt.Sprintf("0x%x", []byte(sp.AuthKey))
		}
		args = append(args, "-o", fmt.Sprintf(`uat:esp_sa:"%s","%s","%s","%#08x","%s","0x%x","%s","%s"`,
			fam, sc.Client, sc.Server, sp.SPI, algo[0], []byte(sp.EncKey), algo[1], auth))
	}
	return l2tptest.TsharkFields(t, path, tsharkFields, args...)
}

// checkTshark compares one row with the frame the generator wrote.
func checkTshark(g *Generator, fi FrameInfo, row map[string]string) error {
	var errs []string
	want := func(field, exp string) {
		if row[field] != exp {
			errs = append(errs, fmt.Sprintf("%s = %q, want %q", field, row[field], exp))
		}
	}
	want("frame.len", strconv.Itoa(fi.Len))
	want("_ws.malformed", "")
	if fi.Kind == KindJunk {
		want("ip.checksum.status", "0") // bad
		return joinErrs(errs)
	}
	v4 := !g.Scenario().IPv6
	switch fi.Kind {
	case KindESPData, KindESPHello, KindBadICV, KindUnknownSPI:
		spi := InboundSPIBase + uint32(fi.SA)
		if fi.Kind == KindUnknownSPI {
			spi = UnknownSPI
		}
		want("esp.spi", fmt.Sprintf("%#08x", spi))
		if g.Scenario().NATT {
			// The NAT-T header's checksum: IPv4 sends none (RFC 3948 2.1,
			// status 3 "not present"), IPv6 a good one (1); every UDP
			// header tshark finds inside after decrypting is good.
			st := strings.Split(row["udp.checksum.status"], ",")
			if exp := map[bool]string{true: "3", false: "1"}[v4]; st[0] != exp {
				errs = append(errs, fmt.Sprintf("nat-t udp.checksum.status = %q, want %q", st[0], exp))
			}
			for _, s := range st[1:] {
				if s != "1" {
					errs = append(errs, fmt.Sprintf("inner udp.checksum.status = %q, want 1 (good)", s))
				}
			}
		}
		if _, ok := tsharkAlgos[g.Scenario().Proposal]; !ok {
			return joinErrs(errs)
		}
		switch fi.Kind {
		case KindUnknownSPI:
			want("l2tp.tunnel", "")
			return joinErrs(errs)
		case KindBadICV:
			want("esp.icv_good", "0")
			want("esp.icv_bad", "1")
			return joinErrs(errs)
		}
		want("esp.icv_good", "1")
		want("esp.icv_bad", "0")
	}
	tunnel, session := 1, 1
	if fi.Kind == KindESPData || fi.Kind == KindESPHello {
		tunnel, session = int(Tunnel(int(fi.SA))), int(fi.Session)
	}
	want("l2tp.tunnel", strconv.Itoa(tunnel))
	if fi.Kind == KindESPHello || fi.Kind == KindClearHello {
		want("l2tp.type", "1")
		want("l2tp.session", "0")
		want("l2tp.length", "20")
		want("l2tp.avp.message_type", "6")
		return joinErrs(errs)
	}
	want("l2tp.type", "0")
	want("l2tp.session", strconv.Itoa(session))
	want("l2tp.length", strconv.Itoa(8+fi.Payload))
	want("ppp.protocol", "0x0021")
	return joinErrs(errs)
}

func TestTsharkDissects(t *testing.T) {
	requireTool(t, "/usr/bin/tshark", "--version")
	// One case per ESP code path (scapy covers every proposal × family ×
	// encapsulation): each tshark start costs seconds.
	cases := []Scenario{
		{SAs: 2, Sessions: 2, Sizes: IMIX, Mix: fullMix, Seed: 21},
		{Proposal: ipsec.AES256GCM16, SAs: 3, Sizes: IMIX, IPv6: true, NATT: true, Mix: fullMix, FreshSeq: true, ReplayWindow: 1024, Seed: 24},
		{Proposal: ipsec.ChaCha20Poly1305, SAs: 2, Sizes: IMIX, Mix: fullMix, Seed: 25},
		{Proposal: ipsec.AES128SHA1, SAs: 2, Sessions: 2, Sizes: IMIX, NATT: true, Mix: fullMix, Seed: 22},
		{Proposal: ipsec.AES256SHA256, SAs: 2, Sizes: Fixed(1400), IPv6: true, Mix: fullMix, Seed: 23},
	}
	for _, sc := range cases {
		g := mustGen(t, sc)
		t.Run(strings.ReplaceAll(g.String(), " ", "_"), func(t *testing.T) {
			t.Parallel()
			frames, infos := sample(t, g, 40)
			path := filepath.Join(t.TempDir(), "gen.pcap")
			writePcap(t, path, frames)
			rows := tsharkRead(t, g, path)
			if len(rows) != len(frames) {
				t.Fatalf("tshark read %d frames, wrote %d", len(rows), len(frames))
			}
			for i, fi := range infos {
				if err := checkTshark(g, fi, rows[i]); err != nil {
					t.Errorf("frame %d (%v, SA %d): %v", i+1, fi.Kind, fi.SA, err)
				}
			}
		})
	}
}
