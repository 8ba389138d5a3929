package bench

import (
	"time"

	"github.com/sluicenet/sluice/bench/gen"
)

// LabMTU is the MTU of the labs AFXDP creates: the largest frame the
// generator writes (1500 bytes of L2TP payload in AES-CBC with NAT-T over
// IPv6) fits, and so does every frame in a 2048-byte UMEM chunk behind
// its 256 bytes of headroom.
const LabMTU = 1700

// AFXDPOptions configure one afxdp scenario.
type AFXDPOptions struct {
	Scenario gen.Scenario // addresses and MACs are set from the lab
	// Rounds, Round and Warmup as in PipelineOptions (defaults 5, 500ms,
	// 100ms).
	Rounds        int
	Round, Warmup time.Duration
	// TX is the client's transmitter: "afxdp" (default) or "afpacket".
	TX string
	// Rate is the sender's target in frames per second (0: as fast as the
	// transmitter goes).
	Rate float64
	// Count, when set, makes every round send exactly Count frames (paced
	// by Rate) and measure the whole round instead of a window: tests use
	// it for exact accounting.
	Count uint64
	// Lab is the veth lab to run on; nil creates one (and removes it).
	Lab *Lab
	// Pin puts the sender on CPU 0 and the receiver on CPU 1 (with at
	// least two CPUs).
	Pin bool
	// Progress, when set, is called after every half round.
	Progress func()
}

func (o *AFXDPOptions) defaults() {
	if o.Rounds <= 0 {
		o.Rounds = 5
	}
	if o.Round <= 0 {
		o.Round = 500 * time.Millisecond
	}
	if o.Warmup <= 0 {
		o.Warmup = 100 * time.Millisecond
	}
	if o.TX == "" {
		o.TX = "afxdp"
	}
}
