package ipsec

// Hot path: no allocation, no locks, no logging.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
)

// verify computes the ICV over data (followed by the ESN high half when esn
// is set, RFC 4303 2.2.1) with the scratch st, and compares it with icv in
// constant time.
func (m *macKey) verify(st *macState, data []byte, esn bool, seqHi uint32, icv []byte) bool {
	return subtle.ConstantTimeCompare(m.compute(st, data, esn, seqHi), icv) == 1
}

// sign computes the ICV over data (and the ESN high half) into icv.
func (m *macKey) sign(st *macState, data []byte, esn bool, seqHi uint32, icv []byte) {
	copy(icv, m.compute(st, data, esn, seqHi))
}

// cbcDec decrypts data in place with iv, through the scratch's reusable
// standard-library CBC mode when it can take a new IV (one call per packet,
// its block loop free of interface calls), else block by block.
func (s *suite) cbcDec(st *cbcScratch, iv, data []byte) {
	if st.decIV == nil {
		cbcDecrypt(s.block, iv, data)
		return
	}
	st.decIV.SetIV(iv)
	st.dec.CryptBlocks(data, data)
}

// cbcEnc encrypts data in place with iv (see cbcDec).
func (s *suite) cbcEnc(st *cbcScratch, iv, data []byte) {
	if st.encIV == nil {
		cbcEncrypt(s.block, iv, data)
		return
	}
	st.encIV.SetIV(iv)
	st.enc.CryptBlocks(data, data)
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

// cbcDecrypt decrypts data (whole blocks) in place with iv, for a
// cipher.BlockMode without SetIV. It walks the blocks from the last to the
// first so that each block's predecessor is still ciphertext when it is
// needed: no copy.
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
