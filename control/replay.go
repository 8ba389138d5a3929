package control

import (
	"fmt"
	"io"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/sluicenet/sluice/control/config"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/pcap"
)

// ReplayOptions are the inputs and outputs of an offline replay
// (`sluiced replay`, ARCHITECTURE.md "Offline replay"). Outputs may be nil.
type ReplayOptions struct {
	Config  *config.Config
	In      io.Reader // Ethernet capture to run through the pipeline
	Out     io.Writer // what was transmitted (Ethernet)
	Deliver io.Writer // inner IP packets delivered to L2TP sessions (linktype RAW)
	Punt    io.Writer // packets punted to the control plane (linktype RAW)
	// Interface is the interface the capture stands for. Default: the only
	// configured interface, else "eth0".
	Interface string
}

// Replay runs every frame of opts.In through the daemon's pipeline on one
// worker, deterministically (the capture's timestamps are the clock), and
// returns the counters.
func Replay(opts ReplayOptions) (*Stats, error) {
	ifname := opts.Interface
	if ifname == "" {
		ifname = "eth0"
		if len(opts.Config.Interfaces) == 1 {
			for n := range opts.Config.Interfaces {
				ifname = n
			}
		}
	}
	dp := dataplane.New()
	b := NewBuilder()
	b.SetClock(func() int64 { return 0 }) // SAs are born at the capture's first frame
	plan, err := b.Prepare(opts.Config)
	if err != nil {
		return nil, err
	}
	b.Apply(plan, dp)

	port, err := pcap.Open(opts.In, opts.Out, pcap.Options{Name: ifname})
	if err != nil {
		return nil, err
	}
	deliver, err := newRawWriter(opts.Deliver)
	if err != nil {
		return nil, fmt.Errorf("deliver capture: %w", err)
	}
	punt, err := newRawWriter(opts.Punt)
	if err != nil {
		return nil, fmt.Errorf("punt capture: %w", err)
	}
	sink := &captureSink{w: deliver, clock: port}
	w := dp.AddWorker(dataplane.WorkerOptions{Port: port, Sink: sink, Clock: port.Clock, CPU: -1, BurstSize: 1})
	for {
		n := w.Burst()
		for {
			p := w.Punts().Peek()
			if p == nil {
				break
			}
			punt.write(port, p.Packet())
			w.Punts().Advance()
		}
		if n == 0 && port.Done() {
			break
		}
	}
	for _, err := range []error{port.Err(), deliver.err, punt.err} {
		if err != nil {
			return nil, err
		}
	}
	return Collect(dp, b), nil
}

// rawWriter writes IP packets to a capture with linktype RAW (101); a nil
// writer discards.
type rawWriter struct {
	w   *pcapgo.Writer
	err error
}

func newRawWriter(out io.Writer) (*rawWriter, error) {
	if out == nil {
		return &rawWriter{}, nil
	}
	w := pcapgo.NewWriter(out)
	if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		return nil, err
	}
	return &rawWriter{w: w}, nil
}

// clock gives the capture time of the frame being processed.
type clock interface{ Last() time.Time }

func (r *rawWriter) write(c clock, pkt []byte) {
	if r.w == nil || r.err != nil {
		return
	}
	ci := gopacket.CaptureInfo{Timestamp: c.Last(), CaptureLength: len(pkt), Length: len(pkt)}
	r.err = r.w.WritePacket(ci, pkt)
}

// captureSink writes every delivered inner IP packet to a capture.
type captureSink struct {
	w     *rawWriter
	clock clock
}

func (s *captureSink) Deliver(d *dataplane.Delivery) { s.w.write(s.clock, d.IP) }
