package ipsec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/sha256"
	"encoding"
	"errors"
	"hash"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// suite is the precomputed crypto of one SA: built once by the control
// plane, read (never written) by any number of workers at once.
//
// Concurrency: cipher.AEAD (GCM, ChaCha20-Poly1305) and cipher.Block are safe
// for concurrent use. hash.Hash and cipher.BlockMode are not, so a CBC suite
// keeps only immutable things here (the block cipher, the marshaled HMAC
// inner and outer pad states) and a packet borrows a scratch (hash object,
// CBC modes, output bytes) from the SA's sync.Pool: its fast path is per-P,
// lock-free and allocation-free in steady state (after a GC has emptied it,
// the first packets refill it).
type suite struct {
	aead     cipher.AEAD  // AEAD suites
	block    cipher.Block // CBC suites
	mac      *macKey      // CBC suites
	scratch  *sync.Pool   // CBC suites: *cbcScratch
	salt     [4]byte      // AEAD suites: RFC 4106 section 4, RFC 7634 section 2
	ivLen    uint8        // 8 for AEAD suites, 16 for CBC
	icvLen   uint8        // 16 (GCM, ChaCha, SHA-256-128) or 12 (SHA1-96)
	align    uint8        // padding alignment: 4 (AEAD) or the 16-byte block (CBC)
	isAEAD   bool
	proposal Proposal
}

func newSuite(p Proposal, enc, auth Key) (suite, error) {
	s := suite{proposal: p}
	encLen, authLen := p.KeyLens()
	if encLen == 0 {
		return s, errors.New("proposal: invalid")
	}
	if len(enc) != encLen || len(auth) != authLen {
		return s, errors.New("key lengths do not match the proposal")
	}
	var err error
	switch p {
	case AES128GCM16, AES256GCM16:
		// RFC 4106 section 8.1: the last 4 bytes of the key material are the salt.
		var b cipher.Block
		if b, err = aes.NewCipher(enc[:encLen-4]); err != nil {
			return s, err
		}
		if s.aead, err = cipher.NewGCM(b); err != nil {
			return s, err
		}
	case ChaCha20Poly1305:
		// RFC 7634 section 4: 32-byte key followed by a 4-byte salt.
		if s.aead, err = chacha20poly1305.New(enc[:encLen-4]); err != nil {
			return s, err
		}
	case AES128SHA1, AES256SHA1, AES128SHA256, AES256SHA256:
		if s.block, err = aes.NewCipher(enc); err != nil {
			return s, err
		}
		newHash := sha256.New
		if p == AES128SHA1 || p == AES256SHA1 {
			newHash = sha1.New
			s.mac = newMACKey(newHash, auth, 12) // RFC 2404: HMAC-SHA1-96
		} else {
			s.mac = newMACKey(newHash, auth, 16) // RFC 4868 2.1: HMAC-SHA-256-128
		}
		s.scratch = newCBCPool(s.block, newHash)
	default:
		return s, errors.New("proposal: invalid")
	}
	if s.aead != nil {
		copy(s.salt[:], enc[encLen-4:])
		s.isAEAD = true
		s.ivLen = 8
		s.icvLen = uint8(s.aead.Overhead())
		s.align = 4 // RFC 4303 2.4: the ESP payload ends on a 4-byte boundary
	} else {
		s.ivLen = aes.BlockSize
		s.icvLen = uint8(s.mac.icvLen)
		s.align = aes.BlockSize // RFC 3602 section 3: CBC needs whole blocks
	}
	return s, nil
}

// minCiphertext is the shortest encrypted payload (payload data, padding,
// pad length, next header) a packet can carry.
func (s *suite) minCiphertext() int {
	if s.isAEAD {
		return 2
	}
	return aes.BlockSize
}

// macKey is an HMAC key reduced to the two hash states after absorbing
// K^ipad and K^opad (RFC 2104 section 2), so a packet costs no key schedule.
type macKey struct {
	inner, outer []byte // encoding.BinaryMarshaler states
	icvLen       int
}

// macState is HMAC scratch: the hash object and the bytes it reads and
// writes (they must be on the heap: they pass through hash.Hash, an
// interface, so a stack array would escape and allocate).
type macState struct {
	h     hash.Hash
	u     encoding.BinaryUnmarshaler
	sum   [sha256.Size]byte
	seqHi [4]byte
}

func newMACState(newHash func() hash.Hash) macState {
	h := newHash()
	return macState{h: h, u: h.(encoding.BinaryUnmarshaler)}
}

// ivSetter is what the standard library's CBC modes implement to be reused
// with a new IV.
type ivSetter interface{ SetIV([]byte) }

// cbcScratch is what one CBC packet borrows from its SA's pool.
type cbcScratch struct {
	macState
	dec, enc     cipher.BlockMode
	decIV, encIV ivSetter // nil when the mode cannot be reused
}

func newCBCPool(b cipher.Block, newHash func() hash.Hash) *sync.Pool {
	return &sync.Pool{New: func() any {
		var zero [aes.BlockSize]byte
		st := &cbcScratch{macState: newMACState(newHash)}
		st.dec = cipher.NewCBCDecrypter(b, zero[:])
		st.enc = cipher.NewCBCEncrypter(b, zero[:])
		st.decIV, _ = st.dec.(ivSetter)
		st.encIV, _ = st.enc.(ivSetter)
		return st
	}}
}

func newMACKey(newHash func() hash.Hash, key []byte, icvLen int) *macKey {
	h := newHash()
	bs := h.BlockSize()
	k := make([]byte, bs)
	if len(key) > bs {
		h.Write(key)
		h.Sum(k[:0])
		h.Reset()
	} else {
		copy(k, key)
	}
	pad := make([]byte, bs)
	state := func(x byte) []byte {
		for i := range pad {
			pad[i] = k[i] ^ x
		}
		h.Reset()
		h.Write(pad)
		b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			panic("ipsec: hash state does not marshal: " + err.Error())
		}
		return b
	}
	m := &macKey{inner: state(0x36), outer: state(0x5c), icvLen: icvLen}
	clear(k)
	clear(pad)
	return m
}
