package afxdp

// Hot path: no allocation, no locks, no logging.

import (
	"errors"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Drop hands every frame waiting in the RX ring straight back to the fill
// ring, without looking at it or building Frames, and returns how many it
// dropped: the bare receive-and-drop loop that pipeline benchmarks measure
// the dataplane against (with Options.Bare, whose program redirects
// everything). The fill ring always has room: frames in it and in the RX
// ring never exceed its size. Do not mix with Recv on one port. Worker
// goroutine only.
func (p *Port) Drop() int {
	if !p.enter() {
		return 0
	}
	defer p.exit()
	n := p.rx.consumable(p.rx.size)
	if n == 0 {
		return 0
	}
	rc, fp := p.rx.cachedCons, p.fill.cachedProd
	for i := uint32(0); i < n; i++ {
		p.fill.descs[(fp+i)&p.fill.mask] = p.rx.descs[(rc+i)&p.rx.mask].Addr & p.chunkMask
	}
	p.rx.release(n)
	p.fill.submit(n)
	if p.needWakeup && p.fill.needsWakeup() {
		unix.Syscall6(unix.SYS_RECVFROM, uintptr(p.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	}
	return int(n)
}

// DropLoop runs Drop until stop is set, adding what it dropped to count
// once per burst, and returns the total. It spins (idle: busy), so give
// it a core. Reusable as the baseline of any benchmark on a lab.
func (p *Port) DropLoop(stop *atomic.Bool, count *atomic.Uint64) uint64 {
	var total uint64
	for !stop.Load() {
		if n := p.Drop(); n > 0 {
			total += uint64(n)
			count.Add(uint64(n))
		}
	}
	return total
}

// Errors of Flood.
var (
	// ErrNotTxOnly is returned by Flood on a port that receives.
	ErrNotTxOnly = errors.New("flood needs a tx-only port (Options.TxOnly)")
	// ErrNoTemplates is returned by Flood without frames to send.
	ErrNoTemplates = errors.New("flood needs at least one frame")
)

// Flood transmits the frames in templates round-robin, over and over, as
// fast as the kernel takes them, until stop is set; it adds the frames the
// kernel completed to sent once per burst and returns the total. Each
// template is copied once into UMEM chunks at the start and re-sent from
// there, so the loop itself copies nothing: it is a traffic generator for
// benchmarks, on a port opened with Options.TxOnly (typically on the
// client end of a veth lab). Templates longer than the frame minus its
// headroom are cut.
func (p *Port) Flood(templates [][]byte, stop *atomic.Bool, sent *atomic.Uint64) (uint64, error) {
	if !p.enter() {
		return 0, ErrClosed
	}
	defer p.exit()
	if p.fillTarget != 0 || p.rxOwned != 0 {
		return 0, ErrNotTxOnly
	}
	if len(templates) == 0 {
		return 0, ErrNoTemplates
	}
	// Write every free chunk once: template i%len(templates) at the
	// headroom. (The one allocation, before the loop.)
	lens := make([]uint32, len(p.owner))
	for i, chunk := range p.free {
		n := copy(p.umem[chunk+uint64(p.headroom):chunk+uint64(p.frameSize)], templates[i%len(templates)])
		lens[chunk>>p.chunkShift] = uint32(n)
	}
	start := p.txCompleted.Load()
	last := start
	for !stop.Load() && !p.closed.Load() { // Close waits for Flood to return
		p.reap()
		n := p.tx.producible(uint32(len(p.free)))
		if n > uint32(len(p.free)) {
			n = uint32(len(p.free))
		}
		if n > 0 {
			prod, top := p.tx.cachedProd, len(p.free)
			for i := uint32(0); i < n; i++ {
				chunk := p.free[top-1-int(i)]
				p.owner[chunk>>p.chunkShift] = ownKernTx
				p.tx.descs[(prod+i)&p.tx.mask] = unix.XDPDesc{Addr: chunk + uint64(p.headroom), Len: lens[chunk>>p.chunkShift]}
			}
			p.free = p.free[:top-int(n)]
			p.tx.submit(n)
		}
		p.kick()
		if done := p.txCompleted.Load(); done != last {
			sent.Add(done - last)
			last = done
		}
	}
	return last - start, nil
}
