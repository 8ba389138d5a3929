package l2tp

import (
	"errors"
	"go/build"
	"strings"
	"testing"
)

// TestParseHeader walks RFC 2661 section 3.1's optional fields, byte
// layouts written out by hand.
func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want Header
		err  error
	}{
		{name: "data, no options", in: "0002" + "0001" + "0002" + "ff03",
			want: Header{Flags: 0x0002, TunnelID: 1, SessionID: 2, PayloadOff: 6, End: 8}},
		{name: "data with length", in: "4002" + "0008" + "0001" + "0002" + "ff03" + "eeee",
			want: Header{Flags: 0x4002, Length: 8, TunnelID: 1, SessionID: 2, PayloadOff: 8, End: 8}},
		{name: "data with sequence", in: "0802" + "0001" + "0002" + "0003" + "0004" + "ff",
			want: Header{Flags: 0x0802, TunnelID: 1, SessionID: 2, Ns: 3, Nr: 4, PayloadOff: 10, End: 11}},
		{name: "data with offset and padding", in: "0202" + "0001" + "0002" + "0002" + "0000" + "ff03",
			want: Header{Flags: 0x0202, TunnelID: 1, SessionID: 2, PayloadOff: 10, End: 12}},
		{name: "data with priority", in: "0102" + "0001" + "0002",
			want: Header{Flags: 0x0102, TunnelID: 1, SessionID: 2, PayloadOff: 6, End: 6}},
		{name: "control ZLB", in: "c802" + "000c" + "0001" + "0000" + "0005" + "0009",
			want: Header{Flags: 0xc802, Length: 12, TunnelID: 1, Ns: 5, Nr: 9, PayloadOff: 12, End: 12}},
		{name: "short", in: "c802000c00", err: ErrShort},
		{name: "version 3", in: "c803000c000100000000000", err: ErrVersion},
		{name: "version 1 (L2F)", in: "0001000100020000", err: ErrVersion},
		{name: "control without L", in: "8802000100000000000000", err: ErrControlBits},
		{name: "control without S", in: "c002000c0001000000000000", err: ErrControlBits},
		{name: "control with O", in: "ca02000e00010000000000000000", err: ErrControlBits},
		{name: "control with P", in: "c902000c0001000000000000", err: ErrControlBits},
		{name: "length past datagram", in: "4002" + "0010" + "00010002", err: ErrLength},
		{name: "length shorter than header", in: "4002" + "0005" + "00010002", err: ErrShort},
		{name: "sequence cut by length", in: "c802" + "000a" + "0001" + "0000" + "0005" + "0009", err: ErrShort},
		{name: "offset past datagram", in: "0202" + "0001" + "0002" + "0009" + "00", err: ErrOffset},
		{name: "offset field cut", in: "0202" + "0001" + "0002" + "00", err: ErrShort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if len(in)%2 == 1 {
				in += "0"
			}
			got, err := ParseHeader(mustHex(t, in))
			if !errors.Is(err, tc.err) {
				t.Fatalf("got error %v, want %v", err, tc.err)
			}
			if err == nil && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestParseHeaderAllocs: the dataplane calls ParseHeader per packet.
func TestParseHeaderAllocs(t *testing.T) {
	b := mustHex(t, "4802001000010002000300040000ff03")
	var h Header
	if n := testing.AllocsPerRun(1000, func() { h, _ = ParseHeader(b) }); n != 0 {
		t.Errorf("ParseHeader allocates %v times", n)
	}
	_ = h
}

// FuzzParseL2TP: ParseHeader never panics and keeps every offset in bounds.
func FuzzParseL2TP(f *testing.F) {
	f.Add(mustHex(f, "c802000c0001000000050009"))
	f.Add(mustHex(f, "0202000100020002000000ff03"))
	f.Add(readHex(f, "testdata/xl2tpd/sccrq.hex"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		if h.End > len(b) || h.PayloadOff > h.End || h.PayloadOff < 6 {
			t.Fatalf("offsets out of bounds: %+v for %d bytes", h, len(b))
		}
		if h.IsControl() && (!h.HasSequence() || h.Flags&FlagLength == 0 || h.PayloadOff != ctrlHeaderLen) {
			t.Fatalf("control header accepted without L/S: %+v", h)
		}
	})
}

// TestImports: l2tp is a leaf of the module: the standard library only,
// and the hot file stays free of logging (ARCHITECTURE.md, STYLE.md 1).
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") {
			t.Errorf("l2tp imports %s; only the standard library is allowed", imp)
		}
		if imp == "net/http" {
			t.Errorf("l2tp imports %s", imp)
		}
	}
	src := mustRead(t, "header.go")
	for _, banned := range []string{`"log/slog"`, `"log"`, `"fmt"`, `"sync"`} {
		if strings.Contains(src, banned) {
			t.Errorf("hot file header.go imports %s", banned)
		}
	}
}
