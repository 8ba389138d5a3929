package control

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/ipsec"
	"github.com/sluicenet/sluice/l2tp"
)

// Replies out of the LNS: l2tp.Server's Send, built in place in a slot of
// the worker's inject queue, with no copy of the payload beyond the first.
//
//	slot.Buf:  0     eth   eth+head                          +n         +tail
//	           |     |     | IP | UDP 1701→port | L2TP ... |   (plaintext)
//	after Encap (transport; tunnel mode puts a new outer header first):
//	           | Eth | IP | [UDP 4500] | ESP | IV | UDP | L2TP | pad | ICV |
//
// Transport mode leaves Encap's outer header exactly head bytes before the
// plaintext (Overhead is exact there), so the frame starts at 0 and nothing
// moves; tunnel mode is the same with the SA's outer header. The checks
// below never trust that: the frame is moved to offset 0 if it is not.

// ReplyDrop says why a reply the server handed over was not sent.
type ReplyDrop uint8

// Reply drop reasons.
const (
	ReplyNoRoute    ReplyDrop = iota // no punt from this peer was ever seen (or its route expired)
	ReplyNoSA                        // the binding's inbound or paired outbound SA is not configured
	ReplyNoPair                      // the binding's inbound SA names no pair
	ReplyNoWorker                    // the route's worker is gone, or has no inject queue
	ReplyInjectFull                  // the worker's inject queue is full
	ReplyTooBig                      // the frame would not fit dataplane.MaxPacket
	ReplyEncap                       // Encap refused (SA expired, sequence numbers exhausted)
	NumReplyDrops
)

var replyDropNames = [NumReplyDrops]string{"no-route", "no-sa", "no-pair", "no-worker", "inject-full", "too-big", "encap-failed"}

// String returns the reason as the stats and logs spell it.
func (r ReplyDrop) String() string {
	if r < NumReplyDrops {
		return replyDropNames[r]
	}
	return fmt.Sprintf("reply-drop(%d)", uint8(r))
}

// binding is the reply side of one inbound SA: its paired outbound SA.
type binding struct {
	out  *ipsec.OutboundSA // nil: drop with why
	why  ReplyDrop
	natt bool
}

// outboundLocked returns the outbound SA that encrypts replies to peers
// bound to inbound SA name (ipsec sa NAME pair), cached per applied
// configuration. When the inbound SA is gone (a commit removed it), the
// pair it had is still used if that outbound SA remains, so the StopCCN
// that tears its tunnels down can still be sent.
//
// +checklocks:mu
func (l *LNS) outboundLocked(name string) *binding {
	lv := l.ctrl.live.Load()
	if lv != l.bindLive {
		clear(l.binds)
		l.bindLive = lv
	}
	if b := l.binds[name]; b != nil {
		return b
	}
	b := &binding{}
	pair, known := l.pairs[name]
	if in := lv.inbound[name]; in != nil {
		pair, known = in.Spec().Pair, true
		l.pairs[name] = pair
	}
	switch {
	case !known:
		b.why = ReplyNoSA
	case pair == "":
		b.why = ReplyNoPair
		if !l.warned[name] {
			l.warned[name] = true
			l.log.Warn("l2tp: replies to peers of this SA are dropped: it has no pair (ipsec sa NAME pair)", "sa", name)
		}
	default:
		b.out = lv.outbound[pair]
		if b.out == nil {
			b.why = ReplyNoSA
			if !l.warned[name] {
				l.warned[name] = true
				l.log.Warn("l2tp: replies to peers of this SA are dropped: its pair is not an outbound SA", "sa", name, "pair", pair)
			}
		} else {
			b.natt = b.out.Spec().Encapsulation == ipsec.EncapUDP
		}
	}
	l.binds[name] = b
	return b
}

// sendLocked is l2tp.Server's Send: it answers p with payload (one L2TP
// control message), through the worker p's packets arrive on.
//
// +checklocks:mu
func (l *LNS) sendLocked(p l2tp.Peer, payload []byte) {
	r := l.routes[p]
	if r == nil {
		l.st.ReplyDrops[ReplyNoRoute]++
		return
	}
	var b *binding
	if p.Binding != "" {
		b = l.outboundLocked(p.Binding)
		if b.out == nil {
			l.st.ReplyDrops[b.why]++
			return
		}
	}
	if r.worker >= len(l.workers) {
		l.workers = l.dp.Workers() // a close from the API before Run's first pass
	}
	if r.worker < 0 || r.worker >= len(l.workers) || l.workers[r.worker].Inject() == nil {
		l.st.ReplyDrops[ReplyNoWorker]++
		return
	}
	q := l.workers[r.worker].Inject()
	slot := q.Slot()
	if slot == nil {
		l.st.ReplyDrops[ReplyInjectFull]++
		return
	}
	n, why := l.buildLocked(slot.Buf[:], r, p.Addr.Port(), b, payload)
	if n == 0 {
		l.st.ReplyDrops[why]++
		return
	}
	slot.Len = n
	q.Commit()
	l.workers[r.worker].Wake() // leave now, not after the worker's idle sleep
	l.st.Replies++
}

// buildLocked writes the reply frame at buf[0:n] and returns n (0 and why
// when it cannot).
//
// +checklocks:mu
func (l *LNS) buildLocked(buf []byte, r *route, dport uint16, b *binding, payload []byte) (int, ReplyDrop) {
	eth := 14
	if r.tagged {
		eth = 18
	}
	head, tail := 0, 0
	if b != nil {
		head, tail = b.out.Overhead()
	}
	v6 := r.local.Is6()
	ipl := 20
	if v6 {
		ipl = 40
	}
	n := ipl + 8 + len(payload)
	off := eth + head
	if off+n+tail > len(buf) || n > 0xffff {
		return 0, ReplyTooBig
	}
	l.ipID++
	writeIPUDP(buf[off:off+n], r.local, r.remote, l2tp.Port, dport, l.ipID, payload)
	start, end := off, off+n
	if b != nil {
		// dataplane.Now: the clock SAs are born in and workers age them by.
		newOff, newN, res := b.out.Encap(buf, off, n, dataplane.Now())
		if res != ipsec.OK {
			return 0, ReplyEncap
		}
		start, end = newOff, newOff+newN
		if b.natt {
			floatNATT(buf[start:end], r.natLocal, r.natRemote)
		}
	}
	if start < eth {
		return 0, ReplyTooBig // Encap used more headroom than Overhead said: cannot happen
	}
	f := buf[start-eth : end]
	copy(f[0:6], r.macTo[:])
	copy(f[6:12], r.ourMAC[:])
	et := uint16(0x0800)
	if buf[start]>>4 == 6 {
		et = 0x86dd
	}
	if r.tagged {
		// The peer's tag, EtherType included: an 802.1ad (0x88a8) service
		// tag is answered with one, not with an 802.1Q tag.
		tpid := r.vlanType
		if tpid == 0 {
			tpid = 0x8100 // a punt built without it (tests and fuzzing build punts by hand)
		}
		binary.BigEndian.PutUint16(f[12:], tpid)
		binary.BigEndian.PutUint16(f[14:], r.vlan)
	}
	binary.BigEndian.PutUint16(f[eth-2:], et)
	if start != eth {
		copy(buf, f)
	}
	return len(f), 0
}

// writeIPUDP writes an IPv4 or IPv6 header (by the family of src), a UDP
// header and payload into b, which is exactly their length, with the IPv4
// header checksum and the UDP checksum (RFC 768; RFC 8200 8.1 for IPv6).
// The UDP checksum is computed even over IPv4, where it is optional: the
// peer's stack (xl2tpd's kernel, behind its IPsec) checks it.
func writeIPUDP(b []byte, src, dst netip.Addr, sport, dport, id uint16, payload []byte) {
	var ipl int
	var sum uint32 // pseudo-header (RFC 768, RFC 8200 8.1)
	ulen := 8 + len(payload)
	if src.Is4() {
		ipl = 20
		h := b[:20]
		h[0], h[1] = 0x45, 0
		binary.BigEndian.PutUint16(h[2:], uint16(len(b)))
		binary.BigEndian.PutUint16(h[4:], id)
		h[6], h[7] = 0, 0
		h[8], h[9] = 64, 17
		h[10], h[11] = 0, 0
		s4, d4 := src.As4(), dst.As4()
		copy(h[12:16], s4[:])
		copy(h[16:20], d4[:])
		binary.BigEndian.PutUint16(h[10:], ^fold(sumBytes(0, h)))
		sum = sumBytes(sumBytes(0, s4[:]), d4[:])
	} else {
		ipl = 40
		h := b[:40]
		h[0], h[1], h[2], h[3] = 0x60, 0, 0, 0
		binary.BigEndian.PutUint16(h[4:], uint16(ulen))
		h[6], h[7] = 17, 64
		s16, d16 := src.As16(), dst.As16()
		copy(h[8:24], s16[:])
		copy(h[24:40], d16[:])
		sum = sumBytes(sumBytes(0, s16[:]), d16[:])
	}
	u := b[ipl:]
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(ulen))
	u[6], u[7] = 0, 0
	copy(u[8:], payload)
	sum += 17 + uint32(ulen)
	cs := ^fold(sumBytes(sum, u[:ulen]))
	if cs == 0 {
		cs = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(u[6:], cs)
}

// floatNATT makes an ESP-in-UDP packet's outer UDP ports the ones the
// peer's ESP arrived with (RFC 3948 section 2.1 and 5.1: a NAT may map the
// peer's port 4500 to another; replies must go to the mapped port, or the
// NAT drops them). The SA's configured ports are the fallback when the
// punt had none. The IPv4 UDP checksum is zero (RFC 3948 2.1) and stays
// so; over IPv6 it is updated incrementally (RFC 1624).
func floatNATT(pkt []byte, local, remote uint16) {
	var hl int
	switch pkt[0] >> 4 {
	case 4:
		hl = int(pkt[0]&0x0f) * 4
		if pkt[9] != 17 {
			return
		}
	case 6:
		hl = 40
		if pkt[6] != 17 {
			return
		}
	default:
		return
	}
	if len(pkt) < hl+8 {
		return
	}
	u := pkt[hl:]
	cs := binary.BigEndian.Uint16(u[6:])
	for i, want := range [2]uint16{local, remote} {
		old := binary.BigEndian.Uint16(u[2*i:])
		if want == 0 || want == old {
			continue
		}
		binary.BigEndian.PutUint16(u[2*i:], want)
		if cs != 0 {
			cs = ^fold(uint32(^cs) + uint32(^old) + uint32(want))
			if cs == 0 {
				cs = 0xffff
			}
		}
	}
	binary.BigEndian.PutUint16(u[6:], cs)
}

// sumBytes adds b to the one's complement sum as 16-bit big-endian words.
func sumBytes(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

// fold reduces a 32-bit one's complement sum to 16 bits.
func fold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}
