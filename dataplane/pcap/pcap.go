// Package pcap is the capture port: it reads a capture file as a NIC queue's
// RX and writes what the worker transmits to another capture, with
// gopacket/pcapgo. Offline replay (`sluiced replay`) runs the same worker as
// the daemon over it, deterministically: the capture's timestamps are the
// clock.
package pcap

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/sluicenet/sluice/dataplane"
)

// Options configure a Port.
type Options struct {
	Name      string // interface name the capture stands for (default "eth0")
	Frames    int    // frames in the pool (default 256)
	FrameSize int    // default 2048
	Headroom  int    // default 256
}

// Port is a dataplane.Port over capture files. It is not safe for use by more
// than one goroutine, like every port.
type Port struct {
	opts    Options
	r       *pcapgo.Reader
	w       *pcapgo.Writer
	bufs    [][]byte
	free    []uint32
	eof     bool
	err     error
	last    time.Time // timestamp of the last frame read
	first   time.Time
	tooBig  uint64
	written uint64
}

// Open returns a port that reads Ethernet frames from in and, when out is not
// nil, writes transmitted frames to out as an Ethernet capture.
func Open(in io.Reader, out io.Writer, o Options) (*Port, error) {
	if o.Name == "" {
		o.Name = "eth0"
	}
	if o.Frames <= 0 {
		o.Frames = 256
	}
	if o.FrameSize <= 0 {
		o.FrameSize = 2048
	}
	if o.Headroom <= 0 {
		o.Headroom = 256
	}
	r, err := pcapgo.NewReader(in)
	if err != nil {
		return nil, fmt.Errorf("read capture: %w", err)
	}
	if lt := r.LinkType(); lt != layers.LinkTypeEthernet {
		return nil, fmt.Errorf("capture link type is %v, want Ethernet (1)", lt)
	}
	p := &Port{opts: o, r: r}
	if out != nil {
		p.w = pcapgo.NewWriter(out)
		if err := p.w.WriteFileHeader(uint32(o.FrameSize), layers.LinkTypeEthernet); err != nil {
			return nil, fmt.Errorf("write capture header: %w", err)
		}
	}
	for i := 0; i < o.Frames; i++ {
		p.bufs = append(p.bufs, make([]byte, o.FrameSize))
		p.free = append(p.free, uint32(i))
	}
	return p, nil
}

// Done reports whether the whole capture has been read.
func (p *Port) Done() bool { return p.eof }

// Err returns the error that ended reading early, if any (a truncated or
// corrupt capture); nil at a clean end of file.
func (p *Port) Err() error { return p.err }

// Clock returns the timestamp of the last frame read, as nanoseconds since
// the first frame: the replay's deterministic clock.
func (p *Port) Clock() int64 {
	if p.first.IsZero() {
		return 0
	}
	return int64(p.last.Sub(p.first))
}

// Last returns the capture timestamp of the last frame read.
func (p *Port) Last() time.Time { return p.last }

// TooBig returns how many frames were longer than a frame buffer and were
// therefore cut to fit (they are still processed, and fail to parse).
func (p *Port) TooBig() uint64 { return p.tooBig }

// Name implements dataplane.Port.
func (p *Port) Name() string { return p.opts.Name }

// Queue implements dataplane.Port.
func (p *Port) Queue() int { return 0 }

// Steered implements dataplane.Port: a capture holds everything on the wire.
func (p *Port) Steered() bool { return false }

// Recv implements dataplane.Port.
func (p *Port) Recv(fs []dataplane.Frame) int {
	n := 0
	for n < len(fs) && !p.eof && len(p.free) > 0 {
		data, ci, err := p.r.ZeroCopyReadPacketData()
		if err != nil {
			p.eof = true
			if !errors.Is(err, io.EOF) {
				p.err = err
			}
			break
		}
		if p.first.IsZero() {
			p.first = ci.Timestamp
		}
		p.last = ci.Timestamp
		slot := p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		buf := p.bufs[slot]
		room := len(buf) - p.opts.Headroom
		if len(data) > room {
			p.tooBig++
			data = data[:room]
		}
		l := copy(buf[p.opts.Headroom:], data)
		fs[n] = dataplane.Frame{Buf: buf, Off: p.opts.Headroom, Len: l, Handle: uint64(slot)}
		n++
	}
	return n
}

// Release implements dataplane.Port.
func (p *Port) Release(fs []dataplane.Frame) {
	for i := range fs {
		p.free = append(p.free, uint32(fs[i].Handle))
	}
}

// Send implements dataplane.Port: frames go to the output capture (or
// nowhere when there is none), stamped with the time of the last frame read.
func (p *Port) Send(fs []dataplane.Frame) int {
	if p.w != nil {
		for i := range fs {
			d := fs[i].Data()
			ci := gopacket.CaptureInfo{Timestamp: p.last, CaptureLength: len(d), Length: len(d)}
			if err := p.w.WritePacket(ci, d); err != nil && p.err == nil {
				p.err = fmt.Errorf("write capture: %w", err)
			}
			p.written++
		}
	}
	p.Release(fs)
	return len(fs)
}

// Alloc implements dataplane.Port.
func (p *Port) Alloc(fs []dataplane.Frame) int {
	n := 0
	for n < len(fs) && len(p.free) > 0 {
		slot := p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		fs[n] = dataplane.Frame{Buf: p.bufs[slot], Off: p.opts.Headroom, Handle: uint64(slot)}
		n++
	}
	return n
}

// Wait implements dataplane.Port; a capture never has to wait.
func (p *Port) Wait(time.Duration) {}

// Stats implements dataplane.Port.
func (p *Port) Stats() dataplane.PortStats { return dataplane.PortStats{Mode: "pcap"} }

// Close implements dataplane.Port.
func (p *Port) Close() error { p.eof = true; return nil }
