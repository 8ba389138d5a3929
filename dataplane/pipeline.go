package dataplane

// Hot path: no allocation, no locks, no logging.

import (
	"net/netip"

	"github.com/sluicenet/sluice/ipsec"
	"github.com/sluicenet/sluice/l2tp"
)

// Delivery is one L2TP data message handed to a session sink. The worker
// reuses one Delivery for every message: a sink must copy what it keeps.
type Delivery struct {
	Worker  int
	Session *Session
	SA      *ipsec.InboundSA // nil for a cleartext tunnel
	Header  l2tp.Header
	IP      []byte // the inner IP packet, as --deliver writes it
	Payload []byte // the L2TP payload: the PPP frame
}

// Sink receives delivered L2TP data messages. Deliver is called on the
// worker's goroutine, must not block and must not retain d or its slices.
type Sink interface {
	Deliver(d *Delivery)
}

// verdict is what happens to a frame after process.
type verdict uint8

const (
	vRelease  verdict = iota // back to the port
	vTransmit                // hand to the port's TX
)

// esp result → drop reason.
var espDrops = [...]DropReason{
	ipsec.ResultMalformed:  DropESPMalformed,
	ipsec.ResultAuthFailed: DropESPAuthFailed,
	ipsec.ResultReplay:     DropESPReplay,
	ipsec.ResultExpired:    DropESPSAExpired,
	ipsec.ResultNoRoom:     DropESPMalformed,
}

// process runs one frame through the pipeline of ARCHITECTURE.md: steering,
// outer parse, ESP (or cleartext), rule table, L2TP classification, and
// delivery or punt. It counts everything it decides in w.counts.
func (w *Worker) process(f *Frame, t *Tables, it *IfaceTables, now int64) verdict {
	data := f.Data()
	w.counts[StatRxPackets]++
	w.counts[StatRxBytes] += uint64(len(data))
	if !w.steered && !Steer(data) {
		w.counts[StatPassedToKernel]++
		return vRelease
	}
	l3, et, _, _, ok := parseEther(data)
	if !ok || (et != etherTypeIPv4 && et != etherTypeIPv6) {
		return w.drop(DropMalformed)
	}
	var fl flow
	ip := data[l3:]
	l4, end, ok := parseIP(ip, &fl)
	if !ok || (et == etherTypeIPv6) != fl.v6 {
		return w.drop(DropMalformed)
	}
	ip = ip[:end]
	if !it.ours(&fl) {
		return w.drop(DropNotForUs)
	}

	espOff := -1
	switch fl.proto {
	case protoESP:
		espOff = l4
	case protoUDP:
		udpEnd, ok := parseUDP(ip, l4, end, &fl)
		if !ok {
			return w.drop(DropMalformed)
		}
		if fl.dport == portNATT {
			p := ip[l4+udpHdr : udpEnd]
			switch {
			case len(p) == 1 && p[0] == 0xff:
				// RFC 3948 2.2: NAT-keepalive, absorbed.
				w.counts[StatNATKeepalives]++
				return vRelease
			case len(p) >= 4 && p[0]|p[1]|p[2]|p[3] == 0:
				// RFC 3948 2.2: non-ESP marker, i.e. IKE: for the control plane.
				return w.punt(PuntIKE, f, l3, ip, nil, &fl)
			}
			espOff = l4 + udpHdr
		}
	default:
		parsePorts(ip, l4, end, &fl)
	}

	var sa *ipsec.InboundSA
	if espOff >= 0 {
		if espOff+8 > end {
			return w.drop(DropMalformed) // not even an SPI and a sequence number
		}
		var dst []byte
		if fl.v6 {
			dst = ip[24:40]
		} else {
			dst = ip[16:20]
		}
		if t.SAs != nil {
			sa = t.SAs.Lookup(be32(ip[espOff:]), dst)
		}
		if sa == nil {
			return w.drop(DropESPUnknownSPI)
		}
		outer := fl // the outer addresses and NAT-T ports, for punts
		ipOff := f.Off + l3
		off, n, r := sa.Decap(f.Buf, ipOff, ipOff+espOff, ipOff+end, now)
		if r != ipsec.OK {
			if int(r) < len(espDrops) {
				return w.drop(espDrops[r])
			}
			return w.drop(DropESPMalformed)
		}
		ip = f.Buf[off : off+n]
		fl = flow{}
		l4, end, ok = parseIP(ip, &fl)
		if !ok {
			return w.drop(DropMalformed)
		}
		ip = ip[:end]
		fl.ipsec = true
		w.outer = outer
		if fl.proto == protoUDP {
			if _, ok := parseUDP(ip, l4, end, &fl); !ok {
				return w.drop(DropMalformed)
			}
		} else {
			parsePorts(ip, l4, end, &fl)
		}
	} else {
		w.outer = fl
	}

	// The rule table sees cleartext UDP/1701 and decrypted inner packets;
	// fl.ipsec comes from the ESP step above, never from the packet.
	rs := it.Local
	idx, accept := rs.eval(&fl)
	if idx >= 0 {
		w.ruleAcc.add(rs.counters[idx], len(ip))
	} else {
		w.defAcc.add(rs.Default, len(ip))
	}
	if !accept {
		if !fl.ipsec && fl.proto == protoUDP && fl.dport == l2tp.Port {
			return w.drop(DropL2TPCleartext)
		}
		return w.drop(DropFirewall)
	}
	if fl.proto != protoUDP || fl.dport != l2tp.Port {
		w.counts[StatAcceptedLocal]++
		return vRelease
	}
	udpEnd := l4 + int(be16(ip[l4+4:]))
	payload := ip[l4+udpHdr : udpEnd]
	h, err := l2tp.ParseHeader(payload)
	if err != nil {
		return w.drop(DropL2TPMalformed)
	}
	if h.IsControl() {
		return w.punt(PuntL2TPControl, f, l3, ip, sa, &w.outer)
	}
	s := t.Sessions[SessionKey(h.TunnelID, h.SessionID)]
	if s == nil {
		return w.drop(DropL2TPUnknownSession)
	}
	if s.SA != sa && !sameBinding(s.SA, sa) {
		return w.drop(DropL2TPWrongSA)
	}
	ppp := payload[h.PayloadOff:h.End]
	w.sessAcc.add(s.Counter, len(ppp))
	w.counts[StatDelivered]++
	w.counts[StatDeliveredBytes] += uint64(len(ppp))
	if w.sink != nil {
		d := &w.delivery
		d.Worker, d.Session, d.SA, d.Header, d.IP, d.Payload = w.id, s, sa, h, ip, ppp
		w.sink.Deliver(d)
		d.Session, d.SA, d.IP, d.Payload = nil, nil, nil, nil
	}
	return vRelease
}

// sameBinding reports whether two distinct SA objects are the same binding:
// a commit that changes an SA in place (new replay window, new keys under
// the same name) swaps the SA database's object before the snapshot whose
// sessions point at the new one is published, so for one burst or two the
// session and the packet can hold different objects of one SA. Tunnels are
// bound to the SA by name. Only reached when the pointers differ.
func sameBinding(a, b *ipsec.InboundSA) bool {
	return a != nil && b != nil && a.Name() == b.Name()
}

func (w *Worker) drop(r DropReason) verdict {
	w.counts[StatDrops+Stat(r)]++
	return vRelease
}

// punt copies ip (and what the control plane needs to answer it) into the
// worker's punt queue. outer holds the outer addresses and, when the packet
// came in UDP (IKE, NAT-T ESP, cleartext L2TP), the outer ports.
func (w *Worker) punt(kind PuntKind, f *Frame, l3 int, ip []byte, sa *ipsec.InboundSA, outer *flow) verdict {
	if w.punts == nil {
		return w.drop(DropPuntQueueFull)
	}
	p := w.punts.Slot()
	if p == nil || len(ip) > len(p.Buf) {
		return w.drop(DropPuntQueueFull)
	}
	p.Kind, p.Worker, p.Iface, p.SA = kind, w.id, w.ifname, sa
	var sport, dport uint16
	if outer.hasPorts && (outer.proto == protoUDP) {
		sport, dport = outer.sport, outer.dport
	}
	if outer.v6 {
		p.OuterSrc = netip.AddrPortFrom(netip.AddrFrom16(u64x2(outer.src6)), sport)
		p.OuterDst = netip.AddrPortFrom(netip.AddrFrom16(u64x2(outer.dst6)), dport)
	} else {
		p.OuterSrc = netip.AddrPortFrom(netip.AddrFrom4(u32b(outer.src4)), sport)
		p.OuterDst = netip.AddrPortFrom(netip.AddrFrom4(u32b(outer.dst4)), dport)
	}
	eth := f.Data()
	copy(p.DstMAC[:], eth[0:6])
	copy(p.SrcMAC[:], eth[6:12])
	p.Tagged = l3 > ethHdrLen
	p.VLAN, p.VLANType = 0, 0
	if p.Tagged {
		p.VLAN, p.VLANType = be16(eth[14:]), be16(eth[12:])
	}
	p.Len = copy(p.Buf[:], ip)
	w.punts.Commit()
	if kind == PuntIKE {
		w.counts[StatPuntedIKE]++
	} else {
		w.counts[StatPuntedL2TPControl]++
	}
	return vRelease
}

func u32b(v uint32) [4]byte { return [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

func u64x2(v [2]uint64) (b [16]byte) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v[0] >> (56 - 8*i))
		b[8+i] = byte(v[1] >> (56 - 8*i))
	}
	return b
}
