package ipsec

// Hot path: no allocation, no locks, no logging.

// checkTime applies the time lifetimes at the start of a packet. It reports
// whether the SA is hard-expired.
func (sa *saCommon) checkTime(c *counters, now int64) bool {
	b := c.birth.Load()
	if b == unborn {
		if c.birth.CompareAndSwap(unborn, now) {
			return false
		}
		b = c.birth.Load()
	}
	age := now - b
	if age >= sa.life.hardTime {
		sa.expire(c, stateHard)
		return true
	}
	if age >= sa.life.softTime {
		sa.expire(c, stateSoft)
	}
	return false
}

// account adds one accepted packet of n plaintext bytes and applies the
// packet and byte lifetimes. The packet that reaches a hard limit is the
// last one accepted (as Linux xfrm does: the check precedes the packet).
func (sa *saCommon) account(c *counters, n int) {
	r := c.recent.Add(1<<recentShift | uint64(n))
	if r >= flushPackets || r&recentBytesMask >= flushBytes {
		c.flush()
	}
	if !sa.life.counted {
		return
	}
	// Approximate under a concurrent move (it may count r twice for an
	// instant): lifetimes tolerate that, Stats uses totals().
	p := c.packets.Load() + r>>recentShift
	b := c.bytes.Load() + r&recentBytesMask
	if p < sa.life.minPkts && b < sa.life.minBytes {
		return
	}
	if p >= sa.life.softPkts || b >= sa.life.softBytes {
		sa.expire(c, stateSoft)
	}
	if p >= sa.life.hardPkts || b >= sa.life.hardBytes {
		sa.expire(c, stateHard)
	}
}

// flush moves recent into the totals. One worker wins the seqlock; the
// others go on adding to recent, which the subtraction leaves in place.
func (c *counters) flush() {
	g := c.flushGen.Load()
	if g&1 != 0 || !c.flushGen.CompareAndSwap(g, g+1) {
		return
	}
	r := c.recent.Load()
	c.recent.Add(-r)
	c.packets.Add(r >> recentShift)
	c.bytes.Add(r & recentBytesMask)
	c.flushGen.Add(1)
}

// expire sets a lifetime bit and tells the hook once per bit. Reaching the
// hard limit implies the soft one (a soft report is never skipped).
func (sa *saCommon) expire(c *counters, bit uint32) {
	if bit == stateHard {
		sa.expire(c, stateSoft)
	}
	if old := c.state.Or(bit); old&bit == 0 && sa.hook != nil {
		sa.hook(sa.spec.Name, bit == stateHard)
	}
}
