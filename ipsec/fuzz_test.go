package ipsec

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Fuzz targets: Decap must never panic and, on OK, must return a packet
// inside buf[ipOff:end]. FuzzDecap feeds arbitrary bytes and offsets (the
// ICV stops almost everything early); FuzzDecapAuthentic seals arbitrary
// plaintext with the SA's own keys, so the trailer and inner-header checks
// that run only after authentication see arbitrary bytes too.

var (
	fuzzOnce sync.Once
	fuzzSAs  []*InboundSA
	fuzzOuts []*OutboundSA
)

func fuzzSetup(t testing.TB) {
	fuzzOnce.Do(func() {
		for _, c := range allCases() {
			in, out := newPair(t, c, 0) // no window: any number may be reused
			fuzzSAs = append(fuzzSAs, in)
			fuzzOuts = append(fuzzOuts, out)
		}
	})
}

func checkDecap(t *testing.T, sa *InboundSA, buf []byte, ipOff, espOff, end int) Result {
	t.Helper()
	off, n, r := sa.Decap(buf, ipOff, espOff, end, 0)
	if r == OK && (off < ipOff || n <= 0 || off+n > end || off+n > len(buf)) {
		t.Fatalf("OK with inner [%d, %d) outside the packet [%d, %d)", off, off+n, ipOff, end)
	}
	if r != OK && (off != 0 || n != 0) {
		t.Fatalf("%v with non-zero offsets %d, %d", r, off, n)
	}
	return r
}

func FuzzDecap(f *testing.F) {
	fuzzSetup(f)
	for i := range fuzzOuts {
		if i%3 != 0 {
			continue
		}
		pkt := udpPacket(i)
		if allCases()[i].v6 {
			pkt = udp6Packet(i)
		}
		w, r := encapPacket(fuzzOuts[i], pkt, 0)
		if r != OK {
			f.Fatal(r)
		}
		f.Add(uint8(i), w, int8(0), uint8(0))
	}
	f.Fuzz(func(t *testing.T, sel uint8, pkt []byte, espDelta int8, cut uint8) {
		sa := fuzzSAs[int(sel)%len(fuzzSAs)]
		buf, ipOff := frame(pkt)
		end := ipOff + len(pkt) - int(cut)%(len(pkt)+1)
		espOff := ipOff + 20 + int(espDelta)
		if len(pkt) > 0 && end > ipOff {
			espOff = espOffsets(buf, ipOff, end) + int(espDelta)
		}
		checkDecap(t, sa, buf, ipOff, espOff, end)
		// And the same bytes at the very start and end of a tight buffer.
		checkDecap(t, sa, pkt, 0, espOff-ipOff, len(pkt))
	})
}

// sealWith builds an authentic ESP packet for sa around plain (padded with
// zeros to the cipher's block for CBC), behind outer, with sequence number
// seq, using the SA's own primitives: only invariants are checked here,
// correctness is scapy_test.go's job.
func sealWith(sa *InboundSA, outer []byte, seq uint32, plain []byte) []byte {
	hl := len(outer)
	if sa.align > 4 {
		plain = append(plain, make([]byte, (16-len(plain)%16)%16)...)
	}
	pkt := append(append([]byte(nil), outer...), make([]byte, 8+int(sa.ivLen))...)
	be.PutUint32(pkt[hl:], sa.spi)
	be.PutUint32(pkt[hl+4:], seq)
	iv := pkt[hl+8:]
	if sa.isAEAD {
		nonce := append(sa.salt[:4:4], iv...)
		pkt = sa.aead.Seal(pkt, nonce, plain, pkt[hl:hl+8])
	} else {
		pkt = append(pkt, plain...)
		st := sa.scratch.Get().(*cbcScratch)
		sa.cbcEnc(st, iv, pkt[hl+8+16:])
		pkt = append(pkt, make([]byte, sa.icvLen)...)
		sa.mac.sign(&st.macState, pkt[hl:len(pkt)-int(sa.icvLen)], false, 0, pkt[len(pkt)-int(sa.icvLen):])
		sa.scratch.Put(st)
	}
	if outer[0]>>4 == 4 {
		be.PutUint16(pkt[2:], uint16(len(pkt)))
	} else {
		be.PutUint16(pkt[4:], uint16(len(pkt)-40))
	}
	return pkt
}

func FuzzDecapAuthentic(f *testing.F) {
	fuzzSetup(f)
	f.Add(uint8(0), append(udpPacket(3)[20:], 1, 2, 3, 3, protoUDP))
	f.Add(uint8(4), append(udpPacket(3), 1, 2, 3, 3, protoIPv4))
	f.Add(uint8(5), append(udp6Packet(3), 1, 2, 3, 3, protoIPv6))
	f.Add(uint8(6), []byte{0xff, 0xff})
	f.Add(uint8(7), []byte{0, 59})
	f.Fuzz(func(t *testing.T, sel uint8, plain []byte) {
		i := int(sel) % len(fuzzSAs)
		sa := fuzzSAs[i]
		outer := udpPacket(0)[:20]
		outer[9] = protoESP
		if allCases()[i].v6 {
			outer = udp6Packet(0)[:40]
			outer[6] = protoESP
		}
		if allCases()[i].natt {
			if allCases()[i].v6 {
				outer[6] = protoUDP
			} else {
				outer[9] = protoUDP
			}
			outer = append(outer, 0x11, 0x94, 0x11, 0x94, 0, 0, 0, 0) // UDP 4500 -> 4500
		}
		pkt := sealWith(sa, outer, 7, plain)
		buf, ipOff := frame(pkt)
		checkDecap(t, sa, buf, ipOff, ipOff+len(outer), ipOff+len(pkt))
	})
}

// TestWriteFuzzSeeds writes the seed corpus under testdata/fuzz from valid
// packets. Run with SLUICE_WRITE_FUZZ_SEEDS=1 after changing the formats.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("SLUICE_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set SLUICE_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz seeds")
	}
	fuzzSetup(t)
	dir := filepath.Join("testdata", "fuzz", "FuzzDecap")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, c := range allCases() {
		if c.esn || c.proposal == AES256SHA1 || c.proposal == AES256GCM16 {
			continue
		}
		pkt := udpPacket(5 + i)
		if c.v6 {
			pkt = udp6Packet(5 + i)
		}
		w, r := encapPacket(fuzzOuts[i], pkt, 0)
		if r != OK {
			t.Fatal(r)
		}
		body := fmt.Sprintf("go test fuzz v1\nuint8(%d)\n[]byte(%q)\nint8(0)\nuint8(0)\n", i, w)
		name := fmt.Sprintf("seed-%03d", i)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
