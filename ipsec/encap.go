package ipsec

// Hot path: no allocation, no locks, no logging.

import (
	"crypto/aes"
	"math"
)

// Encap protects the IP packet buf[off:off+n] in place and returns the outer
// packet as buf[newOff:newOff+newN].
//
// Transport mode: the packet's own IP header becomes the outer header, with
// protocol / next header 50 (ESP) or 17 (UDP, NAT-T with the SA's ports,
// RFC 3948 2.1), lengths and IPv4 checksum fixed. IPv6 packets must have no
// extension headers. Tunnel mode: the whole packet (IPv4 or IPv6) is the
// payload, behind a new outer header built from the SA's source and
// destination (TTL/hop limit 64, DS field copied from the inner packet,
// RFC 4301 5.1.2.1; IPv4 identification from the sequence number).
//
// Frame layout (the payload does not move; the IP header moves back):
//
//	newOff                                         off+hl          off+n
//	| outer IP | [UDP] | SPI | seq | IV |          payload...     | pad 1,2,3.. | pad len | NH | ICV |
//	 <------------------ head ---------------->                    <------------- tail -------------->
//
// Sequence numbers are one atomic counter per SA, so several goroutines may
// encrypt with one SA. IVs (RFC 4106 3.1, RFC 7634 2): GCM and ChaCha20 use
// the 64-bit sequence number, unique per key. CBC (RFC 3602 2.4) needs an
// unpredictable IV: it is the AES encryption, under the SA's key, of the
// 64-bit sequence number and the SPI (NIST SP 800-38A Appendix C), which is
// unpredictable to anyone without the key and costs one block.
// Padding reaches the cipher's block size and 4-byte alignment with the
// bytes 1, 2, 3, ... (RFC 4303 2.4). An SA without ESN never wraps: once
// 2^32-1 is used, Encap returns ResultExpired (RFC 4303 3.3.3).
//
// Results: OK; ResultNoRoom when headroom or tailroom is short (see
// Overhead); ResultMalformed when buf[off:off+n] is not an IP packet Encap can
// handle; ResultExpired past a hard lifetime. On any Result but OK, buf is
// untouched: every check happens before the first byte is written.
// Allocates nothing.
func (sa *OutboundSA) Encap(buf []byte, off, n int, now int64) (newOff, newN int, r Result) {
	if off < 0 || n < ipv4MinHdr || n > len(buf)-off {
		return sa.malformed()
	}
	v := buf[off] >> 4
	var hl int // length of the header that stays outside ESP (transport)
	var nh byte
	switch {
	case v == 4:
		ihl := int(buf[off]&0x0f) * 4
		if ihl < ipv4MinHdr || ihl > n {
			return sa.malformed()
		}
		if sa.tun {
			nh = protoIPv4
		} else {
			hl, nh = ihl, buf[off+v4Proto]
		}
	case v == 6 && n >= ipv6HdrLen:
		if sa.tun {
			nh = protoIPv6
		} else {
			hl, nh = ipv6HdrLen, buf[off+v6NextHdr]
		}
	default:
		return sa.malformed()
	}
	payStart := off + hl
	pl := n - hl
	align := int(sa.align)
	padLen := (align - (pl+2)%align) % align
	ctEnd := off + n + padLen + 2
	end := ctEnd + int(sa.icvLen)
	espOff := payStart - espHdrLen - int(sa.ivLen)
	outerLen := hl
	outer6 := v == 6
	if sa.tun {
		outerLen, outer6 = int(sa.outerLen), sa.outer6
	}
	udp := 0
	if sa.natt {
		udp = udpHdrLen
	}
	newOff = espOff - udp - outerLen
	if newOff < 0 || end > len(buf) {
		return 0, 0, ResultNoRoom
	}
	newN = end - newOff
	if !outer6 && newN > maxLen16 || outer6 && newN-ipv6HdrLen > math.MaxUint16 {
		return sa.malformed()
	}

	c := &sa.ctr
	if c.state.Load()&stateHard != 0 || (sa.life.timed && sa.checkTime(c, now)) {
		c.expired.Add(1)
		return 0, 0, ResultExpired
	}
	seq := sa.seq.Add(1)
	if seq == 0 || !sa.esn && seq > math.MaxUint32 {
		// RFC 4303 3.3.3: the counter must not cycle, at 2^32 without ESN,
		// at 2^64 with it. The SA is hard-expired from here on, so later
		// calls are refused before they take a number.
		sa.expire(c, stateHard)
		c.expired.Add(1)
		return 0, 0, ResultExpired
	}
	lo, hi := uint32(seq), uint32(seq>>32)

	// Everything is checked; from here on bytes are written. The original
	// header (transport) or the inner DS field / DF bit (tunnel) first.
	var hdr [60]byte
	copy(hdr[:hl], buf[off:])
	var ds byte
	df := false
	if v == 4 {
		ds = buf[off+v4TOS]
		df = buf[off+v4Flags]&v4DF != 0
	} else {
		ds = buf[off]<<4 | buf[off+1]>>4
	}

	// Trailer: padding 1, 2, 3, ..., pad length, next header.
	tr := buf[off+n : ctEnd]
	for i := 0; i < padLen; i++ {
		tr[i] = byte(i + 1)
	}
	tr[padLen] = byte(padLen)
	tr[padLen+1] = nh
	pt := buf[payStart:ctEnd]

	if sa.isAEAD {
		// Nonce = salt || IV in the 12 bytes before the ESP header, AAD right
		// before the plaintext (see Decap for why both live in buf).
		nonce := buf[espOff-12 : espOff]
		copy(nonce, sa.salt[:])
		be.PutUint64(nonce[4:], seq)
		var aad []byte
		if sa.esn {
			aad = buf[espOff+4 : payStart]
			be.PutUint32(aad, sa.spi)
			be.PutUint32(aad[4:], hi)
			be.PutUint32(aad[8:], lo)
		} else {
			aad = buf[espOff : espOff+espHdrLen]
			be.PutUint32(aad, sa.spi)
			be.PutUint32(aad[4:], lo)
		}
		sa.aead.Seal(pt[:0], nonce, pt, aad)
		be.PutUint32(buf[espOff:], sa.spi)
		be.PutUint32(buf[espOff+espSeq:], lo)
		be.PutUint64(buf[espOff+espHdrLen:], seq)
	} else {
		be.PutUint32(buf[espOff:], sa.spi)
		be.PutUint32(buf[espOff+espSeq:], lo)
		iv := buf[espOff+espHdrLen : payStart]
		be.PutUint64(iv, seq)
		be.PutUint32(iv[8:], sa.spi)
		be.PutUint32(iv[12:], 0)
		sa.block.Encrypt(iv[:aes.BlockSize], iv[:aes.BlockSize])
		st := sa.scratch.Get().(*cbcScratch)
		sa.cbcEnc(st, iv, pt)
		sa.mac.sign(&st.macState, buf[espOff:ctEnd], sa.esn, hi, buf[ctEnd:end])
		sa.scratch.Put(st)
	}

	// Outer headers.
	h := buf[newOff : newOff+outerLen]
	proto := byte(protoESP)
	if sa.natt {
		proto = protoUDP
	}
	switch {
	case !sa.tun && !outer6:
		copy(h, hdr[:hl])
		setIPv4ProtoLen(h, proto, uint16(newN))
	case !sa.tun:
		copy(h, hdr[:hl])
		h[v6NextHdr] = proto
		be.PutUint16(h[v6PayloadLen:], uint16(newN-ipv6HdrLen))
	case !outer6:
		h[0] = 0x45
		h[v4TOS] = ds
		be.PutUint16(h[v4TotalLen:], uint16(newN))
		be.PutUint16(h[v4ID:], uint16(seq))
		h[v4Flags], h[v4Flags+1] = 0, 0
		if df {
			h[v4Flags] = v4DF
		}
		h[v4TTL] = defaultTTL
		h[v4Proto] = proto
		copy(h[v4Src:v4Src+4], sa.srcB[:4])
		copy(h[v4Dst:v4Dst+4], sa.dstB[:4])
		setIPv4Checksum(h)
	default:
		h[0] = 0x60 | ds>>4
		h[1] = ds << 4
		h[2], h[3] = 0, 0
		be.PutUint16(h[v6PayloadLen:], uint16(newN-ipv6HdrLen))
		h[v6NextHdr] = proto
		h[v6HopLimit] = defaultTTL
		copy(h[v6Src:v6Src+16], sa.srcB[:])
		copy(h[v6Dst:v6Dst+16], sa.dstB[:])
	}
	if sa.natt {
		u := buf[newOff+outerLen : espOff]
		be.PutUint16(u, sa.sport)
		be.PutUint16(u[2:], sa.dport)
		be.PutUint16(u[udpLen:], uint16(end-espOff+udpHdrLen))
		u[udpCsum], u[udpCsum+1] = 0, 0 // RFC 3948 2.1: IPv4 sends zero
		if outer6 {
			// IPv6 forbids a zero UDP checksum (RFC 8200 8.1).
			cs := l4Checksum(h[v6Src:v6Src+16], h[v6Dst:v6Dst+16], protoUDP, buf[newOff+outerLen:end])
			if cs == 0 {
				cs = 0xffff
			}
			be.PutUint16(u[udpCsum:], cs)
		}
	}
	bytes := n
	if !sa.tun {
		bytes = pl
	}
	sa.account(c, bytes)
	return newOff, newN, OK
}

func (sa *OutboundSA) malformed() (int, int, Result) {
	sa.ctr.malformed.Add(1)
	return 0, 0, ResultMalformed
}
