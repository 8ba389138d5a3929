package dataplane

import (
	"testing"

	"github.com/sluicenet/sluice/ipsec"
)

// outcomes sums the counters every frame ends in exactly once.
func outcomes(c *Counts) uint64 {
	return c.TotalDrops() + c[StatPassedToKernel] + c[StatDelivered] + c[StatPuntedL2TPControl] +
		c[StatPuntedIKE] + c[StatNATKeepalives] + c[StatAcceptedLocal]
}

// FuzzPipeline drives arbitrary frames through the whole per-packet path.
// With encrypt set, the fuzzer's bytes are the inner IP packet, encrypted
// with a configured SA, so the fuzzer reaches the rule table and the L2TP
// classifier behind a valid ICV. Invariants: no panic, and every frame is
// accounted for exactly once.
func FuzzPipeline(f *testing.F) {
	r := newRig(f)
	r.w.sink = &countSink{}
	f.Add(r.l2tpESP(f, r.cli1, "10.99.0.2", l2tpData(1, 1, pppPayload(64))), false)
	f.Add(udpFrame(f, ipClient, ipServer, 1701, 1701, l2tpHello(1)), false)
	f.Add(udpFrame(f, ipClient, ipServer, 4500, 4500, []byte{0xff}), false)
	f.Add(udpIP(f, ipClient, ipServer, 1701, 1701, l2tpData(1, 1, pppPayload(20))), true)
	f.Add(udpIP(f, ipClient, ipServer, 1701, 1701, l2tpHello(1)), true)
	// One rig for every input (building SAs per input would dominate):
	// the check is on the counters' deltas.
	f.Fuzz(func(t *testing.T, data []byte, encrypt bool) {
		frame := data
		if encrypt {
			if len(data) > 1400 {
				return
			}
			var res ipsec.Result
			if frame, res = tryESPFrame(r.cli1, data); res != ipsec.OK {
				return // not an IP packet Encap accepts
			}
		}
		if len(frame) > 2048-256 {
			frame = frame[:2048-256]
		}
		before := r.w.Counts()
		r.port.queue, r.port.head = append(r.port.queue[:0], frame), 0
		r.w.Burst()
		r.punts.Pop()
		c := r.w.Counts()
		c.Sub(&before)
		if c[StatRxPackets] != 1 || outcomes(&c) != 1 {
			t.Fatalf("frame counted %d times (rx %d): %v", outcomes(&c), c[StatRxPackets], c)
		}
	})
}
