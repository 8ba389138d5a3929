package ipsec

// Hot path: no allocation, no locks, no logging.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
)

// verify computes the ICV over data (followed by the ESN high half when esn
// is set, RFC 4303 2.2.1) and compares it with icv in constant time.
func (m *macKey) verify(data []byte, esn bool, seqHi uint32, icv []byte) bool {
	st := m.pool.Get().(*macState)
	sum := m.compute(st, data, esn, seqHi)
	ok := subtle.ConstantTimeCompare(sum, icv) == 1
	m.pool.Put(st)
	return ok
}

// sign computes the ICV over data (and the ESN high half) into icv.
func (m *macKey) sign(data []byte, esn bool, seqHi uint32, icv []byte) {
	st := m.pool.Get().(*macState)
	copy(icv, m.compute(st, data, esn, seqHi))
	m.pool.Put(st)
}

func (m *macKey) compute(st *macState, data []byte, esn bool, seqHi uint32) []byte {
	// The states are our own marshaled output: UnmarshalBinary cannot fail.
	_ = st.u.UnmarshalBinary(m.inner)
	st.h.Write(data)
	if esn {
		binary.BigEndian.PutUint32(st.seqHi[:], seqHi)
		st.h.Write(st.seqHi[:])
	}
	in := st.h.Sum(st.sum[:0])
	_ = st.u.UnmarshalBinary(m.outer)
	st.h.Write(in)
	return st.h.Sum(st.sum[:0])[:m.icvLen]
}

// cbcDecrypt decrypts data (whole blocks) in place with iv. It walks the
// blocks from the last to the first so that each block's predecessor is
// still ciphertext when it is needed: no copy, no per-call cipher.BlockMode
// (cipher.NewCBCDecrypter allocates and is not safe to share).
func cbcDecrypt(b cipher.Block, iv, data []byte) {
	for i := len(data) - aes.BlockSize; i >= 0; i -= aes.BlockSize {
		blk := data[i : i+aes.BlockSize]
		b.Decrypt(blk, blk)
		prev := iv
		if i > 0 {
			prev = data[i-aes.BlockSize : i]
		}
		subtle.XORBytes(blk, blk, prev)
	}
}

// cbcEncrypt encrypts data (whole blocks) in place with iv.
func cbcEncrypt(b cipher.Block, iv, data []byte) {
	prev := iv
	for i := 0; i < len(data); i += aes.BlockSize {
		blk := data[i : i+aes.BlockSize]
		subtle.XORBytes(blk, blk, prev)
		b.Encrypt(blk, blk)
		prev = blk
	}
}
