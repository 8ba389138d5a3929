package ipsec

// Hot path: no allocation, no locks, no logging.

// Decap authenticates, replay-checks and decrypts the ESP packet in
// buf[ipOff:end] in place, and returns the inner packet as buf[off:off+n].
//
// buf[ipOff:end] is the outer IP packet: IPv4 (options allowed) or IPv6 whose
// fixed header is followed directly by ESP (protocol 50) or by the NAT-T UDP
// header (protocol 17, RFC 3948); the ESP header starts at espOff, which must
// be right after the IP header, or right after the UDP header. IPv4
// fragments are refused (RFC 4303 3.4.1: ESP sees reassembled packets). now is
// monotonic nanoseconds, read once per burst by the worker; time lifetimes
// use it.
//
// Order (RFC 4303 3.4): lifetime, replay check, ICV (CBC suites: HMAC first,
// in constant time, then decrypt), window update, trailer.
//
// Frame layout on OK:
//
//	transport:  ipOff        espOff              off = payload-hdr
//	            | IP hdr |UDP| SPI seq IV | ...   | IP hdr | payload | pad..ICV |
//	            (the outer header is moved forward to sit before the payload;
//	            protocol / next header set to ESP's, lengths and IPv4 checksum
//	            fixed, the NAT-T UDP header gone)
//	tunnel:     off = start of the decrypted inner IPv4 or IPv6 packet
//
// NAT-T transport mode (RFC 3948 section 3.1.2): the inner TCP/UDP checksum
// covers the peer's original addresses, which a NAT changed. Without NAT-OA
// from IKE, sluice takes the RFC's cheap options: an inner UDP checksum over
// IPv4 is set to zero (option 3, "checksum not computed", legal for IPv4);
// inner TCP, and UDP over IPv6 (where zero is not allowed), get their
// checksum recomputed over the received addresses (option 2). ESP's ICV has
// already protected the segment. Plain (non-NAT-T) transport mode leaves the
// inner checksum alone.
//
// On any other Result, buf[ipOff:end] may have been modified (nonce and AAD
// are built in place, a failed AEAD open scrubs the payload): the caller
// drops the frame. Safe for concurrent use by several workers on the same
// SA; allocates nothing; never panics on any bytes (offsets outside buf give
// ResultMalformed).
func (sa *InboundSA) Decap(buf []byte, ipOff, espOff, end int, now int64) (off, n int, r Result) {
	if ipOff < 0 || espOff-ipOff < ipv4MinHdr || end > len(buf) || end-espOff < espHdrLen {
		return sa.malformed()
	}
	// Outer header: its length, and whether UDP sits before ESP.
	var hl int
	var proto byte
	v6 := false
	switch buf[ipOff] >> 4 {
	case 4:
		hl = int(buf[ipOff]&0x0f) * 4
		proto = buf[ipOff+v4Proto]
		if be.Uint16(buf[ipOff+v4Flags:])&v4FragMask != 0 {
			// RFC 4303 3.4.1: ESP sees reassembled packets only; a fragment
			// is discarded (and is no authentication failure).
			return sa.malformed()
		}
	case 6:
		if espOff-ipOff < ipv6HdrLen {
			return sa.malformed()
		}
		hl, v6 = ipv6HdrLen, true
		proto = buf[ipOff+v6NextHdr]
	default:
		return sa.malformed()
	}
	natt := false
	switch {
	case hl < ipv4MinHdr:
		return sa.malformed()
	case proto == protoESP && espOff == ipOff+hl:
	case proto == protoUDP && espOff == ipOff+hl+udpHdrLen:
		natt = true
	default:
		return sa.malformed()
	}
	ivLen, icvLen := int(sa.ivLen), int(sa.icvLen)
	ctStart := espOff + espHdrLen + ivLen
	icvStart := end - icvLen
	ctLen := icvStart - ctStart
	if ctLen < sa.minCiphertext() || (!sa.isAEAD && ctLen%int(sa.align) != 0) {
		return sa.malformed()
	}

	c := &sa.ctr
	if c.state.Load()&stateHard != 0 || (sa.life.timed && sa.checkTime(c, now)) {
		c.expired.Add(1)
		return 0, 0, ResultExpired
	}

	lo := be.Uint32(buf[espOff+espSeq:])
	seq := uint64(lo)
	if sa.esn {
		seq = sa.window.InferESN(lo)
	}
	hi := uint32(seq >> 32)
	if !sa.window.Check(seq) {
		c.replay.Add(1)
		return 0, 0, ResultReplay
	}

	// The outer header of a transport mode packet is kept on the stack: the
	// AEAD nonce is built over it, and it moves anyway.
	var hdr [60]byte
	if !sa.tun {
		copy(hdr[:hl], buf[ipOff:])
	}

	if sa.isAEAD {
		// Nonce = salt || explicit IV (RFC 4106 section 4, RFC 7634 section
		// 2), built in the 12 bytes before the ESP header (outer header space,
		// saved above or not needed). It must live in buf: a stack array
		// passed through the cipher.AEAD interface would escape and allocate.
		nonce := buf[espOff-12 : espOff]
		copy(nonce, sa.salt[:])
		copy(nonce[4:], buf[espOff+espHdrLen:ctStart])
		// AAD = SPI || seq, or SPI || seq hi || seq lo with ESN (RFC 4106
		// section 5, RFC 7634 section 2.1). The ESN form is laid over the
		// (already copied) IV, right before the ciphertext.
		aad := buf[espOff : espOff+espHdrLen]
		if sa.esn {
			aad = buf[espOff+4 : ctStart]
			copy(aad[:4], buf[espOff:espOff+4])
			be.PutUint32(aad[4:], hi)
			be.PutUint32(aad[8:], lo)
		}
		if _, err := sa.aead.Open(buf[ctStart:ctStart], nonce, buf[ctStart:end], aad); err != nil {
			c.authFail.Add(1)
			return 0, 0, ResultAuthFailed
		}
	} else {
		// RFC 4303 3.4.4: verify the ICV before decrypting; the ESN high half
		// is appended for the ICV only (2.2.1).
		st := sa.scratch.Get().(*cbcScratch)
		ok := sa.mac.verify(&st.macState, buf[espOff:icvStart], sa.esn, hi, buf[icvStart:end])
		if ok {
			sa.cbcDec(st, buf[espOff+espHdrLen:ctStart], buf[ctStart:icvStart])
		}
		sa.scratch.Put(st)
		if !ok {
			c.authFail.Add(1)
			return 0, 0, ResultAuthFailed
		}
	}

	// Authentic: record the number (RFC 4303 3.4.3), then look at the trailer.
	if !sa.window.Update(seq) {
		c.replay.Add(1)
		return 0, 0, ResultReplay
	}
	pt := buf[ctStart:icvStart]
	padLen := int(pt[ctLen-2])
	nh := pt[ctLen-1]
	pl := ctLen - 2 - padLen
	if pl < 0 || nh == protoNoNext {
		return sa.malformed()
	}
	// RFC 4303 2.4: default padding is 1, 2, 3, ...; the receiver checks it.
	for i, b := range pt[pl : ctLen-2] {
		if b != byte(i+1) {
			return sa.malformed()
		}
	}

	if sa.tun {
		n = innerLen(pt[:pl], nh)
		if n <= 0 {
			return sa.malformed()
		}
		sa.account(c, n)
		return ctStart, n, OK
	}

	// Transport: move the outer header to sit right before the payload.
	off = ctStart - hl
	h := buf[off:ctStart]
	copy(h, hdr[:hl])
	if v6 {
		if pl > maxLen16 {
			return sa.malformed() // no jumbograms (RFC 2675)
		}
		h[v6NextHdr] = nh
		be.PutUint16(h[v6PayloadLen:], uint16(pl))
	} else {
		if hl+pl > maxLen16 {
			return sa.malformed()
		}
		setIPv4ProtoLen(h, nh, uint16(hl+pl))
	}
	if natt {
		fixNATTChecksum(h, v6, nh, pt[:pl])
	}
	sa.account(c, pl)
	return off, hl + pl, OK
}

func (sa *InboundSA) malformed() (int, int, Result) {
	sa.ctr.malformed.Add(1)
	return 0, 0, ResultMalformed
}

// innerLen checks a tunnel mode payload against its next header and returns
// the inner packet's length from its own header (shorter than p when the
// sender added TFC padding, RFC 4303 2.7), or 0 when it does not fit.
func innerLen(p []byte, nh byte) int {
	switch nh {
	case protoIPv4:
		if len(p) < ipv4MinHdr || p[0]>>4 != 4 || int(p[0]&0x0f)*4 < ipv4MinHdr {
			return 0
		}
		n := int(be.Uint16(p[v4TotalLen:]))
		if n < int(p[0]&0x0f)*4 || n > len(p) {
			return 0
		}
		return n
	case protoIPv6:
		if len(p) < ipv6HdrLen || p[0]>>4 != 6 {
			return 0
		}
		n := ipv6HdrLen + int(be.Uint16(p[v6PayloadLen:]))
		if n > len(p) {
			return 0
		}
		return n
	}
	return 0
}

// fixNATTChecksum applies RFC 3948 3.1.2 to a decapsulated transport mode
// segment seg whose IP header is h (see Decap).
func fixNATTChecksum(h []byte, v6 bool, proto byte, seg []byte) {
	var src, dst []byte
	if v6 {
		src, dst = h[v6Src:v6Src+16], h[v6Dst:v6Dst+16]
	} else {
		src, dst = h[v4Src:v4Src+4], h[v4Dst:v4Dst+4]
	}
	switch proto {
	case protoUDP:
		if len(seg) < udpHdrLen {
			return
		}
		seg[udpCsum], seg[udpCsum+1] = 0, 0
		if !v6 {
			return // option 3: zero means "no checksum" over IPv4 (RFC 768)
		}
		cs := l4Checksum(src, dst, protoUDP, seg)
		if cs == 0 {
			cs = 0xffff // RFC 768: a computed zero is sent as all ones
		}
		be.PutUint16(seg[udpCsum:], cs)
	case protoTCP:
		if len(seg) < 20 {
			return
		}
		seg[tcpCsum], seg[tcpCsum+1] = 0, 0
		be.PutUint16(seg[tcpCsum:], l4Checksum(src, dst, protoTCP, seg))
	}
}
