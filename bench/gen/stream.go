package gen

// Hot path: no allocation, no locks, no logging.

// Counts are what a Stream generated, by kind.
type Counts struct {
	Frames  [NumKinds]uint64 // frames
	Bytes   [NumKinds]uint64 // frame bytes: Ethernet header included, no FCS
	Payload [NumKinds]uint64 // L2TP payload (PPP frame) bytes of frames carrying a data message
}

// Add adds o to c.
func (c *Counts) Add(o *Counts) {
	for k := range c.Frames {
		c.Frames[k] += o.Frames[k]
		c.Bytes[k] += o.Bytes[k]
		c.Payload[k] += o.Payload[k]
	}
}

// Total returns the number of frames of every kind.
func (c *Counts) Total() uint64 {
	var n uint64
	for _, f := range c.Frames {
		n += f
	}
	return n
}

// TotalBytes returns the frame bytes of every kind.
func (c *Counts) TotalBytes() uint64 {
	var n uint64
	for _, f := range c.Bytes {
		n += f
	}
	return n
}

// FrameInfo describes the frame Next wrote last.
type FrameInfo struct {
	Kind    Kind
	SA      int32  // traffic SA index, -1 for frames of no SA
	Session uint16 // local L2TP session id of data frames in ESP, else 0
	Len     int    // frame bytes
	Payload int    // L2TP payload bytes of a data message (in ESP or not), else 0
}

// Stream writes a scenario's frames one at a time, in the order of the
// generator's schedules, and counts what it wrote. A Stream belongs to one
// goroutine (typically the worker whose port it feeds, or a TX loop).
type Stream struct {
	g      *Generator
	ki, si int     // positions in the kind and size schedules
	sas    []int32 // traffic SAs of this shard
	flows  int     // len(sas) × sessions
	fi, hi int     // flow cursor, HELLO cursor
	seq    []uint32
	counts Counts
	last   FrameInfo
}

// Next writes the next frame into buf and returns its length and kind. buf
// must hold MaxFrameLen bytes; if it is shorter, Next writes nothing and
// returns 0 (the frame is skipped, not counted). Allocates nothing: it
// copies a pre-built frame and patches it in place (a fresh sequence number
// and its ICV, a flipped ICV bit, an unknown SPI).
func (s *Stream) Next(buf []byte) (int, Kind) {
	g := s.g
	k := g.kindSched[s.ki]
	if s.ki++; s.ki == len(g.kindSched) {
		s.ki = 0
	}
	var t tmpl
	sa := int32(-1)
	payload, class := 0, 0
	var session uint16
	switch k {
	case KindESPData, KindBadICV, KindUnknownSPI:
		class = s.nextSize()
		f := s.fi
		if s.fi++; s.fi == s.flows {
			s.fi = 0
		}
		sa = s.sas[f%len(s.sas)]
		sess := f / len(s.sas)
		t = g.data[(int(sa)*g.sc.Sessions+sess)*len(g.sizes)+class]
		payload, session = g.sizes[class], uint16(sess+1)
	case KindESPHello:
		sa = s.sas[s.hi]
		if s.hi++; s.hi == len(s.sas) {
			s.hi = 0
		}
		t, class = g.hello[sa], len(g.sizes)
	case KindClearData:
		z := s.nextSize()
		t, payload = g.clearData[z], g.sizes[z]
	case KindClearHello:
		t = g.clearHello
	default: // KindJunk
		t = g.junk[s.nextSize()]
	}
	n := int(t.n)
	if len(buf) < n {
		return 0, k
	}
	copy(buf[:n], g.arena[t.off:t.off+t.n])
	patched := false
	switch k {
	case KindESPData, KindESPHello, KindBadICV:
		if g.fresh {
			s.seq[sa]++
			reseq(buf[g.espOff:n], 0, s.seq[sa], g.shift[int(sa)*(len(g.sizes)+1)+class])
			patched = true
		}
		if k == KindBadICV {
			buf[n-1] ^= 0x01
			patched = true
		}
	case KindUnknownSPI:
		be.PutUint32(buf[g.espOff:], UnknownSPI)
		patched = true
	}
	if patched && g.v6natt {
		g.fixUDPChecksum(buf[:n], g.arena[t.off:t.off+t.n])
	}
	s.counts.Frames[k]++
	s.counts.Bytes[k] += uint64(n)
	s.counts.Payload[k] += uint64(payload)
	s.last = FrameInfo{Kind: k, SA: sa, Session: session, Len: n, Payload: payload}
	return n, k
}

// fixUDPChecksum updates the NAT-T UDP checksum of frame f, an IPv6 ESP
// frame patched from template t in its ESP header (SPI, sequence number)
// and its last 16 bytes (ICV), incrementally (RFC 1624 equation 3): IPv6
// forbids a zero UDP checksum (RFC 8200 section 8.1), so unlike IPv4 NAT-T
// (RFC 3948 2.1 sends zero) the field must stay right. Both regions start at
// even offsets from the UDP header: ESP lengths are multiples of 4.
func (g *Generator) fixUDPChecksum(f, t []byte) {
	cs := f[g.espOff-udpHdrLen+6:]
	sum := uint32(^be.Uint16(cs)) & 0xffff
	for _, r := range [2][2]int{{g.espOff, g.espOff + espHdrLen}, {len(f) - 16, len(f)}} {
		for i := r[0]; i < r[1]; i += 2 {
			sum += uint32(^be.Uint16(t[i:])&0xffff) + uint32(be.Uint16(f[i:]))
		}
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	v := ^uint16(sum)
	if v == 0 {
		v = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	be.PutUint16(cs, v)
}

func (s *Stream) nextSize() int {
	z := int(s.g.sizeSched[s.si])
	if s.si++; s.si == len(s.g.sizeSched) {
		s.si = 0
	}
	return z
}

// Last describes the frame Next wrote last.
func (s *Stream) Last() FrameInfo { return s.last }

// Unsend takes a frame Next wrote back out of the counts, for a sender
// that could not transmit it.
func (s *Stream) Unsend(fi FrameInfo) {
	s.counts.Frames[fi.Kind]--
	s.counts.Bytes[fi.Kind] -= uint64(fi.Len)
	s.counts.Payload[fi.Kind] -= uint64(fi.Payload)
}

// Counts returns what the stream generated so far.
func (s *Stream) Counts() Counts { return s.counts }

// SAs returns the traffic SAs the stream carries (do not modify).
func (s *Stream) SAs() []int32 { return s.sas }
