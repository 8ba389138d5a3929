package ipsec

import (
	"bytes"
	"crypto/aes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// TestHMACVectors checks the precomputed-pad HMAC against RFC 2202
// (HMAC-SHA1) and RFC 4231 (HMAC-SHA-256) test cases, truncated as RFC 2404
// (96 bits) and RFC 4868 section 2.3 (128 bits) prescribe. Cases 6 use keys
// longer than the hash block, which RFC 2104 hashes first.
func TestHMACVectors(t *testing.T) {
	long := "Test Using Larger Than Block-Size Key - Hash Key First"
	cases := []struct {
		name string
		sha1 bool
		key  []byte
		data string
		want string
	}{
		{"RFC 2202 case 1", true, bytes.Repeat([]byte{0x0b}, 20), "Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"},
		{"RFC 2202 case 2", true, []byte("Jefe"), "what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
		{"RFC 2202 case 6", true, bytes.Repeat([]byte{0xaa}, 80), long, "aa4ae5e15272d00e95705637ce8a3b55ed402112"},
		{"RFC 4231 case 1", false, bytes.Repeat([]byte{0x0b}, 20), "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		{"RFC 4231 case 2", false, []byte("Jefe"), "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{"RFC 4231 case 6", false, bytes.Repeat([]byte{0xaa}, 131), long, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			newHash, n := sha256.New, 16
			if c.sha1 {
				newHash, n = sha1.New, 12
			}
			m := newMACKey(newHash, c.key, n)
			st := newMACState(newHash)
			want := mustHex(t, c.want)[:m.icvLen]
			icv := make([]byte, m.icvLen)
			m.sign(&st, []byte(c.data), false, 0, icv)
			if !bytes.Equal(icv, want) {
				t.Fatalf("got %x, want %x", icv, want)
			}
			if !m.verify(&st, []byte(c.data), false, 0, want) {
				t.Fatalf("verify refused the published value")
			}
			want[0] ^= 1
			if m.verify(&st, []byte(c.data), false, 0, want) {
				t.Fatalf("verify accepted a wrong value")
			}
		})
	}
}

// TestCBCVectors checks the in-place CBC walk against RFC 3602 section 4
// cases 1 and 2.
func TestCBCVectors(t *testing.T) {
	cases := []struct{ key, iv, pt, ct string }{
		{"06a9214036b8a15b512e03d534120006", "3dafba429d9eb430b422da802c9fac41",
			hex.EncodeToString([]byte("Single block msg")), "e353779c1079aeb82708942dbe77181a"},
		{"c286696d887c9aa0611bbb3e2025a45a", "562e17996d093d28ddb3ba695a2e6f58",
			"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
			"d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1"},
	}
	for i, c := range cases {
		b, _ := aes.NewCipher(mustHex(t, c.key))
		iv, pt, ct := mustHex(t, c.iv), mustHex(t, c.pt), mustHex(t, c.ct)
		buf := append([]byte(nil), pt...)
		cbcEncrypt(b, iv, buf)
		if !bytes.Equal(buf, ct) {
			t.Fatalf("case %d: encrypt got %x, want %x", i+1, buf, ct)
		}
		cbcDecrypt(b, iv, buf)
		if !bytes.Equal(buf, pt) {
			t.Fatalf("case %d: decrypt got %x, want %x", i+1, buf, pt)
		}
		// The pooled standard-library modes, reused with new IVs.
		s := suite{block: b, scratch: newCBCPool(b, sha1.New)}
		st := s.scratch.Get().(*cbcScratch)
		if st.decIV == nil || st.encIV == nil {
			t.Fatal("the standard library's CBC modes no longer take SetIV: Decap falls back to the slower loop")
		}
		for range 2 {
			s.cbcEnc(st, iv, buf)
			if !bytes.Equal(buf, ct) {
				t.Fatalf("case %d: pooled encrypt got %x, want %x", i+1, buf, ct)
			}
			s.cbcDec(st, iv, buf)
			if !bytes.Equal(buf, pt) {
				t.Fatalf("case %d: pooled decrypt got %x, want %x", i+1, buf, pt)
			}
		}
	}
}

// TestCBCIVsUnpredictable: consecutive packets of one SA get IVs that share
// no structure (each is an AES block of the sequence number), and two SAs
// with different keys never produce the same IV for the same number.
func TestCBCIVsUnpredictable(t *testing.T) {
	c := tcase{name: "iv", proposal: AES128SHA256, mode: Transport}
	_, out := newPair(t, c, 64)
	c.name = "iv2"
	_, out2 := newPair(t, c, 64)
	seen := map[string]bool{}
	for i := range 1000 {
		w, r := encapPacket(out, udpPacket(i%40), 0)
		w2, _ := encapPacket(out2, udpPacket(i%40), 0)
		if r != OK {
			t.Fatal(r)
		}
		iv, iv2 := string(w[28:44]), string(w2[28:44])
		if seen[iv] || iv == iv2 {
			t.Fatalf("IV repeated at packet %d", i)
		}
		seen[iv] = true
		// The IV is not the plain counter: its first 8 bytes are not the sequence number.
		if be.Uint64(w[28:]) == uint64(i+1) {
			t.Fatalf("IV at packet %d is the bare sequence number", i)
		}
	}
}
