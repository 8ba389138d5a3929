package gen

// Re-sequencing pre-encrypted AES-GCM ESP frames.
//
// An AES-GCM ESP packet without ESN authenticates the AAD SPI || seq
// (RFC 4106 section 5) and its ciphertext C under the tag
//
//	T = E(K, J0) xor GHASH_H(A || C || len(A) || len(C))
//	GHASH_H(X_1 .. X_m) = X_1·H^m xor X_2·H^(m-1) xor ... xor X_m·H
//
// (NIST SP 800-38D sections 6.4 and 7.1), where A is one block and
// m = ceil(len(C)/16) + 2. Changing only the sequence number (AAD bytes 4
// to 7) and keeping the IV changes T by (A xor A')·H^m and nothing else: the
// keystream depends on the nonce (salt || IV), not on the AAD. So a frame
// encrypted once can be sent again under any sequence number by writing the
// number and XORing one GF(2^128) product into the ICV, which is what lets a
// benchmark keep anti-replay on without encrypting every frame again. The
// receiver never sees a nonce reused with another key, but it does see one
// nonce under many AADs: fine for a benchmark, never for real traffic.

import (
	"crypto/aes"
	"encoding/binary"
)

// gf is an element of GF(2^128) in GCM's bit order: hi holds bytes 0..7
// big-endian, and bit i of the 128-bit string (bit 0 = the most significant
// bit of byte 0) is the coefficient of x^i.
type gf struct{ hi, lo uint64 }

func gfLoad(b []byte) gf {
	return gf{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])}
}

// mulX returns v·x: a right shift in GCM's order, reduced by
// x^128 = x^7 + x^2 + x + 1 (R = 0xe1 || 0^120).
func (v gf) mulX() gf {
	lsb := v.lo & 1
	v.lo = v.lo>>1 | v.hi<<63
	v.hi >>= 1
	v.hi ^= (0xe1 << 56) & -lsb
	return v
}

// mul returns x·y (NIST SP 800-38D Algorithm 1). Setup only: 128 steps.
func (x gf) mul(y gf) gf {
	var z gf
	v := y
	for i := 0; i < 128; i++ {
		var bit uint64
		if i < 64 {
			bit = x.hi >> (63 - i) & 1
		} else {
			bit = x.lo >> (127 - i) & 1
		}
		z.hi ^= v.hi & -bit
		z.lo ^= v.lo & -bit
		v = v.mulX()
	}
	return z
}

// pow returns h^n by squaring and multiplying (n >= 1).
func (h gf) pow(n int) gf {
	r := h
	for i := bitsLen(n) - 2; i >= 0; i-- {
		r = r.mul(r)
		if n>>i&1 != 0 {
			r = r.mul(h)
		}
	}
	return r
}

func bitsLen(n int) int {
	l := 0
	for ; n > 0; n >>= 1 {
		l++
	}
	return l
}

// seqShift is the factor the generator keeps per SA and ciphertext length:
// H^m·x^32, so that the sequence number's 32 bits (AAD bits 32..63) are
// walked from the most significant one on with one mulX each.
type seqShift = gf

// newSeqShift returns H^m·x^32 for an AES-GCM key (without the salt) and a
// ciphertext (ESP payload, padding, pad length and next header) of ctLen
// bytes.
func newSeqShift(key []byte, ctLen int) (seqShift, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return gf{}, err
	}
	var h [16]byte
	blk.Encrypt(h[:], h[:])
	m := (ctLen+15)/16 + 2
	w := gfLoad(h[:]).pow(m)
	for range 32 {
		w = w.mulX()
	}
	return w, nil
}

// reseq changes the sequence number of the ESP packet esp (from the SPI to
// the end of the ICV) from old to seq and fixes its 16-byte ICV, given the
// factor w of its SA and length. Hot path: no allocation.
func reseq(esp []byte, old, seq uint32, w seqShift) {
	d := old ^ seq
	binary.BigEndian.PutUint32(esp[4:], seq)
	var z gf
	v := w
	for j := 31; j >= 0; j-- {
		bit := uint64(d>>j) & 1
		z.hi ^= v.hi & -bit
		z.lo ^= v.lo & -bit
		v = v.mulX()
	}
	t := esp[len(esp)-16:]
	binary.BigEndian.PutUint64(t, binary.BigEndian.Uint64(t)^z.hi)
	binary.BigEndian.PutUint64(t[8:], binary.BigEndian.Uint64(t[8:])^z.lo)
}
