package ipsec

import (
	"encoding/json"
	"fmt"
	"go/parser"
	"go/token"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func validSpec() SASpec {
	c := tcase{name: "valid", proposal: AES128GCM16, mode: Tunnel}
	return c.spec(Out)
}

func TestValidate(t *testing.T) {
	if err := (&SASpec{}).Validate(); err == nil {
		t.Fatal("zero spec validated")
	}
	s := validSpec()
	if err := s.Validate(); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	cases := []struct {
		name string
		mod  func(*SASpec)
		want []string // every line must appear
	}{
		{"short enc key", func(s *SASpec) { s.EncKey = s.EncKey[:16] }, []string{"enc-key: want 20 bytes for aes128gcm16, got 16"}},
		{"auth key on AEAD", func(s *SASpec) { s.AuthKey = Key{1, 2} }, []string{"auth-key: aes128gcm16 is an AEAD suite"}},
		{"cbc auth key", func(s *SASpec) {
			s.Proposal = AES256SHA256
			s.EncKey = make(Key, 32)
			s.AuthKey = make(Key, 20)
		}, []string{"auth-key: want 32 bytes for aes256-sha256, got 20"}},
		{"spi reserved", func(s *SASpec) { s.SPI = 255 }, []string{"spi: want at least 256"}},
		{"no proposal", func(s *SASpec) { s.Proposal = ProposalInvalid }, []string{"proposal: want one of"}},
		{"window", func(s *SASpec) { s.ReplayWindow = 4097 }, []string{"replay-window: want at most 4096, got 4097"}},
		{"tunnel needs addresses", func(s *SASpec) { s.Source = netip.Addr{} }, []string{"source: required"}},
		{"families", func(s *SASpec) { s.Destination = netip.MustParseAddr("2001:db8::1") }, []string{"destination: address family"}},
		{"ports without udp", func(s *SASpec) { s.SourcePort = 4500 }, []string{"source-port: only with encapsulation udp"}},
		{"lifetimes", func(s *SASpec) {
			s.Life = Lifetime{RekeyTime: time.Hour, LifeTime: time.Minute, RekeyBytes: 10, LifeBytes: 5, RekeyPackets: 3, LifePackets: 3}
		}, []string{"life.rekey-time: want less than life-time", "life.rekey-bytes:", "life.rekey-packets:"}},
		{"all at once", func(s *SASpec) {
			s.SPI = 1
			s.EncKey = nil
			s.ReplayWindow = 1 << 20
		}, []string{"spi:", "enc-key:", "replay-window:"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := validSpec()
			c.mod(&s)
			err := s.Validate()
			if err == nil {
				t.Fatal("validated")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, err := NewOutboundSA(s); err == nil {
				t.Errorf("NewOutboundSA accepted it")
			}
		})
	}
	s = validSpec()
	if _, err := NewInboundSA(s); err == nil || !strings.Contains(err.Error(), "direction") {
		t.Fatalf("inbound SA from an outbound spec: %v", err)
	}
}

// TestKeysNeverPrinted formats specs, SAs and stats every way an operator
// or a log could, and looks for the key bytes in any spelling.
func TestKeysNeverPrinted(t *testing.T) {
	c := tcase{name: "secret", proposal: AES256SHA256, mode: Transport}
	spec := c.spec(In)
	in, err := NewInboundSA(spec)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(in.Spec())
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("sa", "spec", in.Spec(), "key", in.Spec().EncKey)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("sa", "spec", in.Spec(), "key", in.Spec().EncKey, "auth", in.Spec().AuthKey)
	outputs := []string{
		fmt.Sprint(in), fmt.Sprintf("%v %+v %#v %x %s", in.Spec(), in.Spec(), in.Spec(), in.Spec().EncKey, in.Spec().AuthKey),
		fmt.Sprintf("%+v", in.Stats()), string(js), logged.String(),
	}
	for _, k := range []Key{spec.EncKey, spec.AuthKey} {
		for _, form := range []string{fmt.Sprintf("%x", []byte(k)), fmt.Sprintf("%X", []byte(k)), fmt.Sprint([]byte(k)), string(k)} {
			for _, out := range outputs {
				if strings.Contains(out, form) {
					t.Fatalf("key material %q printed in %q", form, out)
				}
			}
		}
	}
	// Spec returns copies: changing them does not change the SA.
	cp := in.Spec()
	cp.EncKey[0] ^= 0xff
	if in.Spec().EncKey[0] == cp.EncKey[0] {
		t.Fatal("Spec shares key memory with the SA")
	}
}

func TestResultStrings(t *testing.T) {
	want := map[Result]string{
		OK: "ok", ResultMalformed: "esp-malformed", ResultAuthFailed: "esp-auth-failed",
		ResultReplay: "esp-replay", ResultExpired: "esp-sa-expired", ResultNoRoom: "no-room", 200: "unknown",
	}
	for r, s := range want {
		if r.String() != s {
			t.Errorf("Result(%d).String() = %q, want %q", r, r.String(), s)
		}
	}
}

// TestRuntimeSASize pins the size of the runtime SAs, as VPP's STATIC_ASSERT
// pins ipsec_sa_t: a field added to the hot structures is a decision, made
// here on purpose, not an accident. The read-only part ends before the
// padding, so workers writing counters never dirty it.
func TestRuntimeSASize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are pinned for 64-bit platforms")
	}
	cases := []struct {
		name      string
		got, want uintptr
	}{
		{"suite", unsafe.Sizeof(suite{}), 64},
		{"saCommon", unsafe.Sizeof(saCommon{}), 160},
		{"InboundSA", unsafe.Sizeof(InboundSA{}), 352},
		{"OutboundSA", unsafe.Sizeof(OutboundSA{}), 392},
		{"counters", unsafe.Sizeof(counters{}), 72},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("unsafe.Sizeof(%s) = %d, want %d: update the pin deliberately", c.name, c.got, c.want)
		}
	}
	var in InboundSA
	if off := unsafe.Offsetof(in.window); off < unsafe.Sizeof(saCommon{})+64 {
		t.Errorf("window at offset %d shares a cache line with the read-only part", off)
	}
}

// TestImports keeps ipsec a leaf: the standard library, x/crypto and its
// own sub-packages only; never net/http; and no logging or formatting in the
// files marked as hot path.
func TestImports(t *testing.T) {
	for _, dir := range []string{".", "replay"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			hot := strings.Contains(string(src), "// Hot path: no allocation, no locks, no logging.")
			for _, imp := range af.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				first := strings.Split(p, "/")[0]
				switch {
				case p == "net/http" || strings.HasPrefix(p, "net/http/"):
					t.Errorf("%s imports %s", f, p)
				case hot && (p == "log" || p == "log/slog" || p == "fmt" || p == "sync"):
					t.Errorf("hot file %s imports %s", f, p)
				case !strings.Contains(first, "."):
				case strings.HasPrefix(p, "golang.org/x/crypto/"):
				case strings.HasPrefix(p, "github.com/sluicenet/sluice/ipsec"):
				default:
					t.Errorf("%s imports %s: ipsec may import only the standard library and x/crypto", f, p)
				}
			}
		}
	}
}
