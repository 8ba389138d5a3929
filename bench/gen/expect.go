package gen

import (
	"errors"
	"fmt"

	"github.com/sluicenet/sluice/dataplane"
)

// Outcome is what the dataplane must do with a frame of one kind under the
// generator's config: deliver it to its session, punt it, or drop it for
// one reason.
type Outcome struct {
	Deliver bool
	Punt    bool
	Drop    dataplane.DropReason // when neither Deliver nor Punt
}

// Outcome returns the kind's expected outcome.
func (k Kind) Outcome() Outcome {
	switch k {
	case KindESPData:
		return Outcome{Deliver: true}
	case KindESPHello:
		return Outcome{Punt: true}
	case KindClearData, KindClearHello:
		return Outcome{Drop: dataplane.DropL2TPCleartext}
	case KindBadICV:
		return Outcome{Drop: dataplane.DropESPAuthFailed}
	case KindUnknownSPI:
		return Outcome{Drop: dataplane.DropESPUnknownSPI}
	}
	return Outcome{Drop: dataplane.DropMalformed}
}

// Expectation is the dataplane's counters after it received exactly the
// frames of some Counts, nothing lost.
type Expectation struct {
	RxPackets      uint64
	RxBytes        uint64
	Delivered      uint64
	DeliveredBytes uint64 // L2TP payload bytes
	Punted         uint64 // punted.l2tp-control
	Drops          [dataplane.NumDropReasons]uint64
}

// Expect turns what a generator sent into what the dataplane must count.
func Expect(c Counts) Expectation {
	var e Expectation
	for k := Kind(0); k < NumKinds; k++ {
		n := c.Frames[k]
		e.RxPackets += n
		e.RxBytes += c.Bytes[k]
		switch o := k.Outcome(); {
		case o.Deliver:
			e.Delivered += n
			e.DeliveredBytes += c.Payload[k]
		case o.Punt:
			e.Punted += n
		default:
			e.Drops[o.Drop] += n
		}
	}
	return e
}

// Check compares a dataplane's counters with e and reports every
// difference, zero counters included: nothing may be passed to the kernel,
// accepted without a consumer, or dropped for a reason e does not expect.
func (e Expectation) Check(got *dataplane.Counts) error {
	var errs []error
	cmp := func(name string, want, have uint64) {
		if want != have {
			errs = append(errs, fmt.Errorf("%s: got %d, want %d", name, have, want))
		}
	}
	cmp("rx-packets", e.RxPackets, got[dataplane.StatRxPackets])
	cmp("rx-bytes", e.RxBytes, got[dataplane.StatRxBytes])
	cmp("delivered", e.Delivered, got[dataplane.StatDelivered])
	cmp("delivered-bytes", e.DeliveredBytes, got[dataplane.StatDeliveredBytes])
	cmp("punted.l2tp-control", e.Punted, got[dataplane.StatPuntedL2TPControl])
	cmp("punted.ike", 0, got[dataplane.StatPuntedIKE])
	cmp("passed-to-kernel", 0, got[dataplane.StatPassedToKernel])
	cmp("nat-keepalives", 0, got[dataplane.StatNATKeepalives])
	cmp("accepted-local", 0, got[dataplane.StatAcceptedLocal])
	for r := dataplane.DropReason(0); r < dataplane.NumDropReasons; r++ {
		cmp("drops."+r.String(), e.Drops[r], got.Drop(r))
	}
	return errors.Join(errs...)
}

// CheckLossy is Check for a run in which lost frames never reached the
// dataplane (a receive ring overflowed): which kinds were lost is unknown,
// so every outcome may fall short of e by at most lost, in total exactly
// lost, and nothing may be counted that e does not expect.
func (e Expectation) CheckLossy(got *dataplane.Counts, lost uint64) error {
	var errs []error
	var short uint64
	le := func(name string, want, have uint64) {
		if have > want {
			errs = append(errs, fmt.Errorf("%s: got %d, more than the %d sent", name, have, want))
			return
		}
		short += want - have
	}
	if rx := got[dataplane.StatRxPackets]; rx+lost != e.RxPackets {
		errs = append(errs, fmt.Errorf("rx-packets %d + lost %d != %d sent", rx, lost, e.RxPackets))
	}
	le("delivered", e.Delivered, got[dataplane.StatDelivered])
	le("punted.l2tp-control", e.Punted, got[dataplane.StatPuntedL2TPControl])
	for r := dataplane.DropReason(0); r < dataplane.NumDropReasons; r++ {
		le("drops."+r.String(), e.Drops[r], got.Drop(r))
	}
	if short != lost {
		errs = append(errs, fmt.Errorf("outcomes fall short by %d, but %d frames were lost", short, lost))
	}
	for _, s := range []struct {
		name string
		st   dataplane.Stat
	}{{"punted.ike", dataplane.StatPuntedIKE}, {"passed-to-kernel", dataplane.StatPassedToKernel},
		{"nat-keepalives", dataplane.StatNATKeepalives}, {"accepted-local", dataplane.StatAcceptedLocal}} {
		if got[s.st] != 0 {
			errs = append(errs, fmt.Errorf("%s: got %d, want 0", s.name, got[s.st]))
		}
	}
	return errors.Join(errs...)
}
