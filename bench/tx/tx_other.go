//go:build !linux

package tx

import (
	"time"

	"github.com/sluicenet/sluice/bench/gen"
)

// Packet is the AF_PACKET transmitter; Linux only.
type Packet struct{}

// OpenPacket returns ErrNotSupported off Linux.
func OpenPacket(ifname string, frames int) (*Packet, error) { return nil, ErrNotSupported }

// Transmit implements Transmitter.
func (*Packet) Transmit(*gen.Stream, int) (int, error) { return 0, ErrNotSupported }

// Finish implements Transmitter.
func (*Packet) Finish(*gen.Stream, time.Duration) error { return ErrNotSupported }

// Stats implements Transmitter.
func (*Packet) Stats() Stats { return Stats{} }

// Close implements Transmitter.
func (*Packet) Close() error { return nil }
