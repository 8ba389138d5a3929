package l2tp

// Control plane code: allocates, never on the dataplane's hot path.

import (
	"crypto/md5"
	"encoding/binary"
)

// Hidden AVPs (RFC 2661 section 4.3). The value is first wrapped in the
// "hidden AVP subformat":
//
//	+-----------------+----------------------------+-----------+
//	| Original Length | Original Attribute Value   | Padding   |
//	|    (2 octets)   |                            | (any)     |
//	+-----------------+----------------------------+-----------+
//
// and then XORed with an MD5 key stream chained over 16-byte blocks:
//
//	b1 = MD5(Attribute Type (2 octets) + secret + Random Vector)   c1 = p1 xor b1
//	bi = MD5(secret + c(i-1))                                        ci = pi xor bi
//
// where the Random Vector is the value of the most recent Random Vector AVP
// before the hidden AVP in the same message. A last block shorter than 16
// bytes uses the leading bytes of its key block. MD5 is what the RFC
// specifies; it hides, it does not authenticate.

// hideValue appends the hidden form of value (attribute type t) to dst,
// with pad appended to the subformat before hiding.
func hideValue(dst []byte, t AVPType, secret, rv, value, pad []byte) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(value)))
	dst = append(dst, value...)
	dst = append(dst, pad...)
	xorChain(dst[start:], t, secret, rv, true)
	return dst
}

// unhide returns the original value of a hidden AVP of type t. It allocates
// the plaintext and never modifies the message.
func unhide(t AVPType, secret, rv, hidden []byte) ([]byte, error) {
	if len(hidden) < 2 {
		return nil, ErrHiddenLength
	}
	p := make([]byte, len(hidden))
	copy(p, hidden)
	xorChain(p, t, secret, rv, false)
	n := int(binary.BigEndian.Uint16(p))
	if n > len(p)-2 {
		return nil, ErrHiddenLength
	}
	return p[2 : 2+n], nil
}

// xorChain hides (encrypt) or unhides buf in place. The chaining input is
// always the ciphertext block: the output when hiding, the input when not.
func xorChain(buf []byte, t AVPType, secret, rv []byte, encrypt bool) {
	h := md5.New()
	var tb [2]byte
	binary.BigEndian.PutUint16(tb[:], uint16(t))
	h.Write(tb[:])
	h.Write(secret)
	h.Write(rv)
	var key, prev [md5.Size]byte
	h.Sum(key[:0])
	for off := 0; off < len(buf); off += md5.Size {
		blk := buf[off:min(off+md5.Size, len(buf))]
		if !encrypt {
			copy(prev[:], blk)
		}
		for i := range blk {
			blk[i] ^= key[i]
		}
		if encrypt {
			copy(prev[:], blk)
		}
		if off+md5.Size >= len(buf) {
			break
		}
		h.Reset()
		h.Write(secret)
		h.Write(prev[:])
		h.Sum(key[:0])
	}
}

// ChallengeResponse computes the Challenge Response AVP value of RFC 2661
// section 4.4.3 (CHAP-style, RFC 1994): MD5 of the one-octet Message Type
// of the message carrying the response (2 in an SCCRP, 3 in an SCCCN),
// the shared secret, and the peer's Challenge.
func ChallengeResponse(t MessageType, secret, challenge []byte) [16]byte {
	h := md5.New()
	h.Write([]byte{byte(t)})
	h.Write(secret)
	h.Write(challenge)
	var r [16]byte
	h.Sum(r[:0])
	return r
}
