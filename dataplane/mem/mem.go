// Package mem is the in-memory port: rings in process memory that stand in
// for a NIC queue, so that a full worker runs unprivileged in tests and in
// `sluice-bench pipeline`.
//
// Frames come in two ways: a producer goroutine calls Inject (the test side
// of the port), or a Source function fills frames on the worker's own
// goroutine inside Recv (benchmarks: no second goroutine, no handoff cost).
// Transmitted frames are copied into a TX ring that a consumer drains with
// Drain.
package mem

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/ring"
)

// Options configure a Port.
type Options struct {
	Name      string // interface name (default "eth0")
	Queue     int
	Frames    int // RX frames (default 1024)
	TxFrames  int // frames the worker may Alloc (default 256)
	FrameSize int // bytes per frame (default 2048)
	Headroom  int // bytes before the packet in a fresh frame (default 256)
	TxDepth   int // transmitted packets kept until drained (default 1024)
	// Source, when set, fills RX frames inside Recv on the worker's
	// goroutine: it copies one packet into buf and returns its length (0: no
	// packet now). Inject must not be used with Source.
	Source func(buf []byte) int
	// Steered makes the port claim an XDP program already steered its
	// traffic, so the worker skips the software steering decision.
	Steered bool
}

// ErrClosed is returned by Inject on a closed port.
var ErrClosed = errors.New("mem: port closed")

const txHandle = 1 << 31 // handles of frames from the TX pool

type rxDesc struct {
	slot uint32
	len  uint32
}

// TxPacket is one transmitted frame as Drain hands it over.
type TxPacket struct {
	Len int
	Buf [dataplane.MaxPacket]byte
}

// Port is an in-memory dataplane.Port.
type Port struct {
	opts   Options
	rxBufs [][]byte
	txBufs [][]byte
	rx     *ring.Ring[rxDesc] // producer: Inject; consumer: worker
	free   *ring.Ring[uint32] // producer: worker; consumer: Inject
	txFree []uint32           // worker-owned stack of free TX-pool frames
	txq    *ring.Ring[TxPacket]
	wake   chan struct{}
	closed atomic.Bool
	// producer-side counters
	injected, refused atomic.Uint64
}

// New returns a port with every frame free.
func New(o Options) *Port {
	if o.Name == "" {
		o.Name = "eth0"
	}
	if o.Frames <= 0 {
		o.Frames = 1024
	}
	if o.TxFrames <= 0 {
		o.TxFrames = 256
	}
	if o.FrameSize <= 0 {
		o.FrameSize = 2048
	}
	if o.Headroom <= 0 {
		o.Headroom = 256
	}
	if o.TxDepth <= 0 {
		o.TxDepth = 1024
	}
	p := &Port{
		opts: o,
		rx:   ring.New[rxDesc](o.Frames),
		free: ring.New[uint32](o.Frames),
		txq:  ring.New[TxPacket](o.TxDepth),
		wake: make(chan struct{}, 1),
	}
	for i := 0; i < o.Frames; i++ {
		p.rxBufs = append(p.rxBufs, make([]byte, o.FrameSize))
		p.free.Push(uint32(i))
	}
	for i := 0; i < o.TxFrames; i++ {
		p.txBufs = append(p.txBufs, make([]byte, o.FrameSize))
		p.txFree = append(p.txFree, uint32(i))
	}
	return p
}

// Inject queues one received frame (a copy of pkt). It returns false when
// every RX frame is in use, like a NIC dropping on a full ring. Only one
// goroutine may Inject.
func (p *Port) Inject(pkt []byte) bool {
	if p.closed.Load() {
		return false
	}
	if len(pkt) > p.opts.FrameSize-p.opts.Headroom {
		p.refused.Add(1)
		return false
	}
	slot, ok := p.free.Pop()
	if !ok {
		p.refused.Add(1)
		return false
	}
	n := copy(p.rxBufs[slot][p.opts.Headroom:], pkt)
	p.rx.Push(rxDesc{slot: slot, len: uint32(n)})
	p.injected.Add(1)
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return true
}

// Refused returns how many Inject calls found no free frame.
func (p *Port) Refused() uint64 { return p.refused.Load() }

// Drain hands every transmitted frame to fn, oldest first, and returns how
// many. fn must not keep the slice. Only one goroutine may Drain.
func (p *Port) Drain(fn func(pkt []byte)) int {
	n := 0
	for {
		tp := p.txq.Peek()
		if tp == nil {
			return n
		}
		fn(tp.Buf[:tp.Len])
		p.txq.Advance()
		n++
	}
}

// Name implements dataplane.Port.
func (p *Port) Name() string { return p.opts.Name }

// Queue implements dataplane.Port.
func (p *Port) Queue() int { return p.opts.Queue }

// Steered implements dataplane.Port.
func (p *Port) Steered() bool { return p.opts.Steered }

// Recv implements dataplane.Port.
func (p *Port) Recv(fs []dataplane.Frame) int {
	if p.closed.Load() {
		return 0
	}
	if p.opts.Source != nil {
		n := 0
		for n < len(fs) {
			slot, ok := p.free.Pop()
			if !ok {
				break
			}
			buf := p.rxBufs[slot]
			l := p.opts.Source(buf[p.opts.Headroom:])
			if l == 0 {
				p.free.Push(slot)
				break
			}
			fs[n] = dataplane.Frame{Buf: buf, Off: p.opts.Headroom, Len: l, Handle: uint64(slot)}
			n++
		}
		return n
	}
	n := 0
	for n < len(fs) {
		d, ok := p.rx.Pop()
		if !ok {
			break
		}
		fs[n] = dataplane.Frame{Buf: p.rxBufs[d.slot], Off: p.opts.Headroom, Len: int(d.len), Handle: uint64(d.slot)}
		n++
	}
	return n
}

// Release implements dataplane.Port.
func (p *Port) Release(fs []dataplane.Frame) {
	for i := range fs {
		h := uint32(fs[i].Handle)
		if h&txHandle != 0 {
			p.txFree = append(p.txFree, h&^txHandle)
		} else {
			p.free.Push(h)
		}
	}
}

// Send implements dataplane.Port: it copies each frame into the TX ring and
// releases the frame.
func (p *Port) Send(fs []dataplane.Frame) int {
	n := 0
	for n < len(fs) {
		tp := p.txq.Slot()
		if tp == nil {
			break
		}
		tp.Len = copy(tp.Buf[:], fs[n].Data())
		p.txq.Commit()
		n++
	}
	p.Release(fs[:n])
	return n
}

// Alloc implements dataplane.Port.
func (p *Port) Alloc(fs []dataplane.Frame) int {
	n := 0
	for n < len(fs) && len(p.txFree) > 0 {
		h := p.txFree[len(p.txFree)-1]
		p.txFree = p.txFree[:len(p.txFree)-1]
		fs[n] = dataplane.Frame{Buf: p.txBufs[h], Off: p.opts.Headroom, Handle: uint64(h | txHandle)}
		n++
	}
	return n
}

// Wake implements dataplane.Waker.
func (p *Port) Wake() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Wait implements dataplane.Port.
func (p *Port) Wait(timeout time.Duration) {
	if p.closed.Load() || p.rx.Len() > 0 {
		return
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.wake:
	case <-t.C:
	}
}

// Stats implements dataplane.Port.
func (p *Port) Stats() dataplane.PortStats {
	return dataplane.PortStats{Mode: "mem", RxDropped: p.refused.Load()}
}

// Close implements dataplane.Port.
func (p *Port) Close() error {
	p.closed.Store(true)
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}
