package ipsec

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"testing"
)

// TestMcGrewVectors decapsulates the full ESP packets of
// draft-mcgrew-gcm-test-01 (testdata/mcgrew-gcm-test-01.json; its source and
// the script that checks it with python3-cryptography are named there). The
// packets are assembled as the draft describes them: SPI and sequence number
// from the AAD, then IV, ciphertext and tag. A verified tag shows that key and
// salt are split, and nonce and AAD (with and without ESN, RFC 4106 section
// 5) are built, as the draft's author built them; the payload and next
// header must be the published plaintext without its trailer.
func TestMcGrewVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/mcgrew-gcm-test-01.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []struct {
			Page                                     int
			Key, IV, AAD, Ciphertext, Tag, Plaintext string
		}
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) < 10 {
		t.Fatalf("only %d vectors", len(file.Cases))
	}
	for i, v := range file.Cases {
		key, iv, aad := mustHex(t, v.Key), mustHex(t, v.IV), mustHex(t, v.AAD)
		ct, tag, pt := mustHex(t, v.Ciphertext), mustHex(t, v.Tag), mustHex(t, v.Plaintext)
		p := AES128GCM16
		if len(key) == 36 {
			p = AES256GCM16
		}
		esn := len(aad) == 12
		spi := aad[:4]
		seq := uint64(be.Uint32(aad[4:8]))
		if esn {
			seq = seq<<32 | uint64(be.Uint32(aad[8:12]))
		}
		spec := SASpec{
			Name: "mcgrew", SPI: 0x1000, Direction: In, Mode: Transport, Proposal: p,
			EncKey: Key(key), ESN: esn, ReplayWindow: 64,
		}
		sa, err := NewInboundSA(spec)
		if err != nil {
			t.Fatal(err)
		}
		sa.window.SetTop(seq - 1) // as if the numbers before had arrived
		outer := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, protoESP, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2}
		wire := append(append([]byte(nil), outer...), spi...)
		wire = be.AppendUint32(wire, uint32(seq))
		wire = append(append(append(wire, iv...), ct...), tag...)
		be.PutUint16(wire[2:], uint16(len(wire)))
		be.PutUint16(wire[10:], rfc1071(wire[:20]))

		got, r := decapWire(sa, wire, 0)
		if r != OK {
			t.Fatalf("vector %d (page %d): got %v, want ok", i, v.Page, r)
		}
		padLen := int(pt[len(pt)-2])
		payload, nh := pt[:len(pt)-2-padLen], pt[len(pt)-1]
		if !bytes.Equal(got[20:], payload) {
			t.Fatalf("vector %d (page %d): payload\n got %x\nwant %x", i, v.Page, got[20:], payload)
		}
		if got[9] != nh || int(be.Uint16(got[2:])) != len(got) || rfc1071(got[:20]) != 0 {
			t.Fatalf("vector %d (page %d): header %x: want protocol %d, length %d, valid checksum", i, v.Page, got[:20], nh, len(got))
		}
		// The same packet with its tag cut by one bit is refused.
		wire[len(wire)-1] ^= 0x80
		sa.window.SetTop(seq - 1)
		if _, r := decapWire(sa, wire, 0); r == OK {
			t.Fatalf("vector %d: tampered tag accepted", i)
		}
	}
}

// rfc1071 is the Internet checksum written out as RFC 1071 section 4.1 does,
// independent of the package's own csumAdd: a 16-bit sum of the words, folded.
func rfc1071(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// TestRFC7634Ciphertext encrypts RFC 7634 Appendix A's inner packet in
// tunnel mode and requires the published ChaCha20 ciphertext (the file says
// why its tag is not there). Encap's IV is the 64-bit sequence number, so the
// SA uses ESN and sequence number 0x1011121314151617 to get the example's
// IV; that changes the AAD, which changes only the tag. The tag is then
// checked by Decap.
func TestRFC7634Ciphertext(t *testing.T) {
	raw, err := os.ReadFile("testdata/rfc7634-appendix-a.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Key, Salt, IV, SPI, Plaintext, Ciphertext string }
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	key := append(mustHex(t, v.Key), mustHex(t, v.Salt)...)
	pt, want := mustHex(t, v.Plaintext), mustHex(t, v.Ciphertext)
	seq := be.Uint64(mustHex(t, v.IV))
	spec := SASpec{
		Name: "rfc7634", SPI: be.Uint32(mustHex(t, v.SPI)), Direction: Out, Mode: Tunnel,
		Source: netip.MustParseAddr("203.0.113.153"), Destination: netip.MustParseAddr("203.0.113.5"),
		Proposal: ChaCha20Poly1305, EncKey: Key(key), ESN: true,
	}
	out, err := NewOutboundSA(spec)
	if err != nil {
		t.Fatal(err)
	}
	out.seq.Store(seq - 1)
	inner := pt[:len(pt)-4] // without the example's trailer 01 02 02 04: Encap adds the same one
	wire, r := encapPacket(out, inner, 0)
	if r != OK {
		t.Fatal(r)
	}
	esp := wire[20:]
	if got := esp[16 : len(esp)-16]; !bytes.Equal(got, want) {
		t.Fatalf("ciphertext\n got %x\nwant %x", got, want)
	}
	if !bytes.Equal(esp[8:16], mustHex(t, v.IV)) || be.Uint32(esp) != spec.SPI {
		t.Fatalf("ESP header %x", esp[:16])
	}
	spec.Direction = In
	spec.ReplayWindow = 64
	in, err := NewInboundSA(spec)
	if err != nil {
		t.Fatal(err)
	}
	in.window.SetTop(seq - 1)
	got, r := decapWire(in, wire, 0)
	if r != OK || !bytes.Equal(got, inner) {
		t.Fatalf("decap: %v, %x", r, got)
	}
}
