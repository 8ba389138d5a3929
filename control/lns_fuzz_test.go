package control

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/sluicenet/sluice/dataplane"
)

// FuzzLNSPunt feeds arbitrary punts to the LNS glue: any kind, with or
// without an SA, NAT-T ports or not, a packet that is either the raw bytes
// (raw) or data wrapped in a well-formed IPv4 or IPv6 UDP/1701 datagram
// (so that arbitrary L2TP reaches the server and its replies are built),
// and out-of-range lengths. Invariants: no panic; each punt is accounted
// exactly once (handed to the server, IKE, malformed, no server or routes
// full); routes stay within MaxRoutes. Seeds in
// testdata/fuzz/FuzzLNSPunt (an SCCRQ, a hidden-AVP ICRQ, junk).
func FuzzLNSPunt(f *testing.F) {
	f.Add(byte(0), byte(0), []byte{0xc8, 0x02, 0x00, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0}, false)
	f.Add(byte(1), byte(0), []byte{0, 0, 0, 0, 1, 2, 3}, true)
	r := newLNSRig(f, lnsLab{clients: []int{1, 2}, natt: map[int]bool{2: true}}, LNSOptions{MaxRoutes: 64})
	in1 := r.ctrl.live.Load().inbound["in-c1"]
	in2 := r.ctrl.live.Load().inbound["in-c2"]
	var p dataplane.Punt
	f.Fuzz(func(t *testing.T, kind, flags byte, data []byte, raw bool) {
		p.Kind = dataplane.PuntKind(kind % 3)
		p.Worker = int(flags>>5) - 1 // -1 .. 6: mostly workers that do not exist
		p.SA = nil
		switch flags & 3 {
		case 1:
			p.SA = in1
		case 2:
			p.SA = in2
		}
		src := netip.AddrFrom4([4]byte{10, 99, 1, flags})
		if flags&4 != 0 {
			src = netip.AddrFrom16([16]byte{0xfd, 0, 0x99, 15: flags})
		}
		sport := uint16(0)
		if flags&8 != 0 {
			sport = 4000 + uint16(flags)
		}
		p.OuterSrc, p.OuterDst = netip.AddrPortFrom(src, sport), netip.AddrPortFrom(boxAddr, 4500)
		p.Tagged, p.VLAN = flags&16 != 0, uint16(flags)
		pkt := data
		if !raw {
			pkt = wrapUDP(data, flags&4 != 0, 1701+uint16(flags&64))
		}
		p.Len = copy(p.Buf[:], pkt)
		if kind&0x80 != 0 {
			p.Len = int(int8(kind)) * 40 // negative, or past the buffer
		}
		r.lns.mu.Lock()
		defer r.lns.mu.Unlock()
		before := r.lns.st
		r.lns.puntLocked(&p, r.clock())
		r.lns.tickLocked(r.clock())
		st := r.lns.st
		taken := (st.Punts - before.Punts) + (st.IKE - before.IKE) + (st.Malformed - before.Malformed) +
			(st.NoServer - before.NoServer) + (st.RoutesFull - before.RoutesFull)
		if taken != 1 {
			t.Fatalf("punt accounted %d times: %+v → %+v", taken, before, st)
		}
		if len(r.lns.routes) > 64 {
			t.Fatalf("%d routes past MaxRoutes", len(r.lns.routes))
		}
	})
}

// wrapUDP returns data as the payload of an IPv4 (or IPv6) UDP datagram
// from port 1701 to dport, lengths right, checksums zero.
func wrapUDP(data []byte, v6 bool, dport uint16) []byte {
	n := 8 + len(data)
	var b []byte
	if v6 {
		b = make([]byte, 40, 40+n)
		b[0] = 0x60
		binary.BigEndian.PutUint16(b[4:], uint16(n))
		b[6], b[7] = 17, 64
		b[8], b[23] = 0xfd, 2
		b[24], b[39] = 0xfd, 1
	} else {
		b = make([]byte, 20, 20+n)
		b[0] = 0x45
		binary.BigEndian.PutUint16(b[2:], uint16(20+n))
		b[8], b[9] = 64, 17
		copy(b[12:], []byte{10, 99, 1, 2, 10, 99, 0, 1})
	}
	b = binary.BigEndian.AppendUint16(b, 1701)
	b = binary.BigEndian.AppendUint16(b, dport)
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	b = append(b, 0, 0)
	return append(b, data...)
}
