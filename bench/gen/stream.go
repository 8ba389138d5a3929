package gen

// Hot path: no allocation, no locks, no logging.

// Counts are what a Stream generated, by kind.
type Counts struct {
	Frames  [NumKinds]uint64 // frames
	Bytes   [NumKinds]uint64 // frame bytes: Ethernet header included, no FCS
	Payload [NumKinds]uint64 // L2TP payload (PPP frame) bytes of data messages
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
	SA      int32 // traffic SA index, -1 for frames of no SA
	Len     int   // frame bytes
	Payload int   // L2TP payload bytes (data messages), else 0
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
		if k == KindESPData {
			payload = g.sizes[class]
		}
	case KindESPHello:
		sa = s.sas[s.hi]
		if s.hi++; s.hi == len(s.sas) {
			s.hi = 0
		}
		t, class = g.hello[sa], len(g.sizes)
	case KindClearData:
		z := s.nextSize()
		t = g.clearData[z]
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
	switch k {
	case KindESPData, KindESPHello, KindBadICV:
		if g.fresh {
			s.seq[sa]++
			reseq(buf[g.espOff:n], 0, s.seq[sa], g.shift[int(sa)*(len(g.sizes)+1)+class])
		}
		if k == KindBadICV {
			buf[n-1] ^= 0x01
		}
	case KindUnknownSPI:
		be.PutUint32(buf[g.espOff:], UnknownSPI)
	}
	s.counts.Frames[k]++
	s.counts.Bytes[k] += uint64(n)
	s.counts.Payload[k] += uint64(payload)
	s.last = FrameInfo{Kind: k, SA: sa, Len: n, Payload: payload}
	return n, k
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
