package bench

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/sluicenet/sluice/bench/gen"
	"github.com/sluicenet/sluice/ipsec"
)

// The pipeline run's baseline: for every generated frame, the crypto the
// dataplane cannot avoid, done with the standard library directly on the
// same bytes: AEAD Open in place (RFC 4106 / RFC 7634 nonce and AAD), or
// HMAC then CBC decryption (RFC 4303 3.4.4 order: no decryption when the
// ICV fails). Frames without an SA (unknown SPI, cleartext, junk) cost the
// baseline nothing but the copy the generator makes for both.

// bareKeys are the traffic SAs' ciphers, built once and shared by every
// baseline goroutine (cipher.AEAD and cipher.Block are safe for concurrent
// use; hash.Hash and CBC modes are not, so bareWorker makes its own).
type bareKeys struct {
	g      *gen.Generator
	aead   bool
	aeads  []cipher.AEAD
	salts  [][4]byte
	blocks []cipher.Block
	auth   []ipsec.Key
	sha1   bool
}

func newBareKeys(g *gen.Generator) (*bareKeys, error) {
	sc := g.Scenario()
	k := &bareKeys{g: g, aead: sc.Proposal.AEAD(), sha1: sc.Proposal == ipsec.AES128SHA1 || sc.Proposal == ipsec.AES256SHA1}
	for i := 0; i < g.TrafficSAs(); i++ {
		sp := sc.InboundSpec(i)
		if k.aead {
			key := sp.EncKey[:len(sp.EncKey)-4]
			var a cipher.AEAD
			var err error
			if sc.Proposal == ipsec.ChaCha20Poly1305 {
				a, err = chacha20poly1305.New(key)
			} else {
				var b cipher.Block
				if b, err = aes.NewCipher(key); err == nil {
					a, err = cipher.NewGCM(b)
				}
			}
			if err != nil {
				return nil, err
			}
			k.aeads = append(k.aeads, a)
			k.salts = append(k.salts, [4]byte(sp.EncKey[len(sp.EncKey)-4:]))
			continue
		}
		b, err := aes.NewCipher(sp.EncKey)
		if err != nil {
			return nil, err
		}
		k.blocks = append(k.blocks, b)
		k.auth = append(k.auth, sp.AuthKey)
	}
	return k, nil
}

// ivSetter is what crypto/cipher's CBC modes offer to reuse one mode for
// many IVs without allocating.
type ivSetter interface{ SetIV([]byte) }

// bareWorker is one goroutine's baseline state.
type bareWorker struct {
	k      *bareKeys
	espOff int
	icv    int
	nonce  [12]byte
	sum    []byte
	macs   []hash.Hash        // CBC suites: per traffic SA (nil outside the shard)
	decs   []cipher.BlockMode // CBC suites: per traffic SA
	ivs    []ivSetter         // decs[i] as an ivSetter
	authOK uint64             // frames whose ICV verified (a sanity count)
}

// worker returns baseline state for a goroutine serving sas.
func (k *bareKeys) worker(sas []int32) (*bareWorker, error) {
	w := &bareWorker{k: k, espOff: k.g.ESPOffset(), icv: k.g.ICVLen(), sum: make([]byte, 0, sha256.Size)}
	if !k.aead {
		w.macs = make([]hash.Hash, len(k.blocks))
		w.decs = make([]cipher.BlockMode, len(k.blocks))
		w.ivs = make([]ivSetter, len(k.blocks))
		for _, i := range sas {
			if k.sha1 {
				w.macs[i] = hmac.New(sha1.New, k.auth[i])
			} else {
				w.macs[i] = hmac.New(sha256.New, k.auth[i])
			}
			w.decs[i] = cipher.NewCBCDecrypter(k.blocks[i], make([]byte, aes.BlockSize))
			iv, ok := w.decs[i].(ivSetter)
			if !ok {
				return nil, errors.New("crypto/cipher: CBC decrypter cannot reset its IV")
			}
			w.ivs[i] = iv
		}
	}
	return w, nil
}

// frame does the baseline work for one frame f that Next described as fi.
// Hot path: no allocation.
func (w *bareWorker) frame(f []byte, fi gen.FrameInfo) {
	switch fi.Kind {
	case gen.KindESPData, gen.KindESPHello, gen.KindBadICV:
	default:
		return
	}
	esp := f[w.espOff:]
	if w.k.aead {
		copy(w.nonce[:4], w.k.salts[fi.SA][:])
		copy(w.nonce[4:], esp[8:16])
		ct := esp[16:]
		if _, err := w.k.aeads[fi.SA].Open(ct[:0], w.nonce[:], ct, esp[:8]); err == nil {
			w.authOK++
		}
		return
	}
	icvStart := len(esp) - w.icv
	m := w.macs[fi.SA]
	m.Reset()
	m.Write(esp[:icvStart])
	w.sum = m.Sum(w.sum[:0])
	if !hmac.Equal(w.sum[:w.icv], esp[icvStart:]) {
		return
	}
	w.authOK++
	w.ivs[fi.SA].SetIV(esp[8 : 8+aes.BlockSize])
	w.decs[fi.SA].CryptBlocks(esp[8+aes.BlockSize:icvStart], esp[8+aes.BlockSize:icvStart])
}
