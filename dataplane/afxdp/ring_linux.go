package afxdp

// Hot path: no allocation, no locks, no logging.

import (
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/dataplane"
)

// ring is one of the four single-producer single-consumer rings the kernel
// shares with the socket (Documentation/networking/af_xdp.rst). We own one
// end of each: producer of fill and TX, consumer of RX and completion. The
// far end's index is read with an atomic load only when the cached copy
// says the ring is empty (or full), and ours is published with one atomic
// store per batch, so the shared cache lines are touched once per burst.
type ring struct {
	producer   *uint32
	consumer   *uint32
	flags      *uint32 // XDP_RING_NEED_WAKEUP lives here (Linux 5.4)
	mask       uint32
	size       uint32
	cachedProd uint32
	cachedCons uint32
	mapping    []byte // asavie's mmap of the ring, unmapped on Close
}

// consumable returns how many entries the kernel has produced that we have
// not consumed, refreshing the producer index only when the cache runs
// short of want.
func (r *ring) consumable(want uint32) uint32 {
	n := r.cachedProd - r.cachedCons
	if n < want {
		r.cachedProd = atomic.LoadUint32(r.producer)
		n = r.cachedProd - r.cachedCons
	}
	return n
}

// release publishes that we consumed n entries.
func (r *ring) release(n uint32) {
	r.cachedCons += n
	atomic.StoreUint32(r.consumer, r.cachedCons)
}

// producible returns how many free slots we may produce into, refreshing
// the consumer index only when the cache runs short of want.
func (r *ring) producible(want uint32) uint32 {
	n := r.size - (r.cachedProd - r.cachedCons)
	if n < want {
		r.cachedCons = atomic.LoadUint32(r.consumer)
		n = r.size - (r.cachedProd - r.cachedCons)
	}
	return n
}

// submit publishes n produced entries.
func (r *ring) submit(n uint32) {
	r.cachedProd += n
	atomic.StoreUint32(r.producer, r.cachedProd)
}

// needsWakeup reports whether the kernel asked for a syscall to process
// this ring.
func (r *ring) needsWakeup() bool {
	return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}

// descRing is the RX or TX ring: descriptors of (address, length).
type descRing struct {
	ring
	descs []unix.XDPDesc
}

// addrRing is the fill or completion ring: chunk addresses.
type addrRing struct {
	ring
	descs []uint64
}

// frameOf builds the Frame of chunk with the packet at off.
//
// Layout of an AF_XDP frame (one UMEM chunk, FrameSize bytes):
//
//	chunk                chunk+Off          chunk+Off+Len     chunk+FrameSize
//	|  headroom (256: the  |  packet bytes    |    tailroom        |
//	|  kernel's XDP_PACKET_|                  |                    |
//	|  HEADROOM on RX,     |                  |                    |
//	|  Options.Headroom    |                  |                    |
//	|  from Alloc)         |                  |                    |
//
// Buf's capacity ends at the chunk, so no append can spill into the next.
func (p *Port) frameOf(chunk uint64, off, n int) dataplane.Frame {
	end := chunk + uint64(p.frameSize)
	return dataplane.Frame{Buf: p.umem[chunk:end:end], Off: off, Len: n, Handle: chunk}
}

// Recv fills fs with up to len(fs) received frames and returns how many;
// it never blocks. Before receiving it reaps TX completions and tops the
// fill ring up from the free stack. The frames belong to the caller until
// Send or Release. Worker goroutine only.
func (p *Port) Recv(fs []dataplane.Frame) int {
	if !p.enter() {
		return 0
	}
	defer p.exit()
	p.reap()
	p.refill()
	if p.txPending {
		p.kick()
	}
	n := p.rx.consumable(uint32(len(fs)))
	if n > uint32(len(fs)) {
		n = uint32(len(fs))
	}
	if n == 0 {
		return 0
	}
	cons := p.rx.cachedCons
	for i := uint32(0); i < n; i++ {
		d := &p.rx.descs[(cons+i)&p.rx.mask]
		chunk := d.Addr & p.chunkMask
		off, l := int(d.Addr-chunk), int(d.Len)
		if off+l > p.frameSize { // never from a sane kernel; keeps Data() in bounds
			l = p.frameSize - off
		}
		fs[i] = p.frameOf(chunk, off, l)
		p.owner[chunk>>p.chunkShift] = ownUser
	}
	p.rx.release(n)
	p.rxOwned -= int(n)
	return int(n)
}

// refill moves frames from the free stack to the fill ring until the
// kernel holds fillTarget frames for RX. Since frames in the fill and RX
// rings together never exceed the fill ring's size, the fill ring always
// has room for them without reading the kernel's consumer index.
func (p *Port) refill() {
	n := p.fillTarget - p.rxOwned
	if n > len(p.free) {
		n = len(p.free)
	}
	if n <= 0 {
		return
	}
	prod := p.fill.cachedProd
	top := len(p.free)
	for i := 0; i < n; i++ {
		chunk := p.free[top-1-i]
		p.owner[chunk>>p.chunkShift] = ownKernRx
		p.fill.descs[(prod+uint32(i))&p.fill.mask] = chunk
	}
	p.free = p.free[:top-n]
	p.fill.submit(uint32(n))
	p.rxOwned += n
	// A zero-copy driver that ran out of fill entries sleeps until woken.
	if p.needWakeup && p.fill.needsWakeup() {
		unix.Syscall6(unix.SYS_RECVFROM, uintptr(p.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	}
}

// reap returns transmitted frames from the completion ring to the free
// stack.
func (p *Port) reap() {
	n := p.comp.consumable(p.comp.size)
	if n == 0 {
		return
	}
	cons := p.comp.cachedCons
	for i := uint32(0); i < n; i++ {
		chunk := p.comp.descs[(cons+i)&p.comp.mask] & p.chunkMask
		// Only frames we put on the TX ring come back; checking keeps the
		// stack within its capacity (no allocation) whatever the ring holds.
		if idx := chunk >> p.chunkShift; idx < uint64(len(p.owner)) && p.owner[idx] == ownKernTx {
			p.owner[idx] = ownFree
			p.free = append(p.free, chunk)
		}
	}
	p.comp.release(n)
	p.txCompleted.Add(uint64(n))
}

// owned reports whether f is a frame this port lent out and has not taken
// back, with its packet inside the chunk.
func (p *Port) owned(f *dataplane.Frame) bool {
	idx := f.Handle >> p.chunkShift
	return idx < uint64(len(p.owner)) && f.Handle&^p.chunkMask == 0 && p.owner[idx] == ownUser &&
		f.Off >= 0 && f.Len > 0 && f.Off+f.Len <= p.frameSize
}

// Send queues fs on the TX ring and returns how many were accepted, a
// prefix of fs; it stops early when the ring is full or at a frame that is
// not the caller's (counted in Counters().BadFrames). Accepted frames
// belong to the port again and return to the free stack once the kernel
// completes them. It wakes the kernel only when the ring asks for it
// (need-wakeup; always in copy mode). Worker goroutine only.
func (p *Port) Send(fs []dataplane.Frame) int {
	if !p.enter() {
		return 0
	}
	defer p.exit()
	p.reap()
	n := p.tx.producible(uint32(len(fs)))
	if n > uint32(len(fs)) {
		n = uint32(len(fs))
	}
	prod := p.tx.cachedProd
	for i := uint32(0); i < n; i++ {
		f := &fs[i]
		if !p.owned(f) {
			p.badFrames.Add(1)
			n = i
			break
		}
		p.owner[f.Handle>>p.chunkShift] = ownKernTx
		p.tx.descs[(prod+i)&p.tx.mask] = unix.XDPDesc{Addr: f.Handle + uint64(f.Off), Len: uint32(f.Len)}
	}
	if n == 0 {
		return 0
	}
	p.tx.submit(n)
	p.kick()
	return int(n)
}

// maxKicks bounds the sendto(2) calls of one kick. In copy mode one call
// transmits at most TX_BATCH_SIZE (32, net/xdp/xsk.c) descriptors, so a
// full burst takes a few.
const maxKicks = 16

// kick wakes the kernel to transmit (sendto with MSG_DONTWAIT) when the TX
// ring asks for it. In copy mode one call sends up to 32 frames and
// answers EAGAIN while more are left; kick repeats while the consumer index
// moves, and leaves txPending set for the next Recv or Send otherwise.
func (p *Port) kick() {
	if p.needWakeup && !p.tx.needsWakeup() {
		p.txPending = false
		return
	}
	for i := 0; i < maxKicks; i++ {
		before := atomic.LoadUint32(p.tx.consumer)
		_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(p.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		after := atomic.LoadUint32(p.tx.consumer)
		if after == p.tx.cachedProd {
			p.txPending = false
			return
		}
		switch errno {
		case 0, unix.EAGAIN, unix.EBUSY, unix.EINTR:
		default:
			p.kickErrors.Add(1) // ENOBUFS, ENETDOWN, ENXIO: retried on the next call
			p.txPending = true
			return
		}
		if after == before {
			// No progress: the completion ring is full or the device is
			// busy. Reap and let the next call retry.
			p.reap()
		}
	}
	p.txPending = true
}

// Release returns frames to the free stack without transmitting them.
// Frames that are not the caller's are skipped and counted. Worker
// goroutine only.
func (p *Port) Release(fs []dataplane.Frame) {
	if !p.enter() {
		return
	}
	defer p.exit()
	for i := range fs {
		f := &fs[i]
		idx := f.Handle >> p.chunkShift
		if idx >= uint64(len(p.owner)) || f.Handle&^p.chunkMask != 0 || p.owner[idx] != ownUser {
			p.badFrames.Add(1)
			continue
		}
		p.owner[idx] = ownFree
		p.free = append(p.free, f.Handle) // within cap NumFrames: no allocation
	}
}

// Alloc lends up to len(fs) free frames for building packets to Send, each
// with Off at the headroom and Len 0, and returns how many. Their bytes are
// whatever the chunk held last. Worker goroutine only.
func (p *Port) Alloc(fs []dataplane.Frame) int {
	if !p.enter() {
		return 0
	}
	defer p.exit()
	if len(p.free) < len(fs) {
		p.reap()
	}
	n := len(fs)
	if n > len(p.free) {
		n = len(p.free)
	}
	top := len(p.free)
	for i := 0; i < n; i++ {
		chunk := p.free[top-1-i]
		p.owner[chunk>>p.chunkShift] = ownUser
		fs[i] = p.frameOf(chunk, p.headroom, 0)
	}
	p.free = p.free[:top-n]
	return n
}

// Wait blocks in poll(2) until the RX ring has frames, timeout passes
// (negative: no limit) or Close is called. It tops the fill ring up first,
// so an idle port sleeps with buffers posted. Worker goroutine only.
func (p *Port) Wait(timeout time.Duration) {
	if !p.enter() {
		return
	}
	defer p.exit()
	p.reap()
	p.refill()
	if p.rx.consumable(1) > 0 {
		return
	}
	p.pfd[0].Revents, p.pfd[1].Revents = 0, 0
	var ts *unix.Timespec
	if timeout >= 0 {
		// A field of the port, not a local: a pointer to a local would
		// escape to the heap through the syscall wrapper.
		p.waitTS = unix.NsecToTimespec(int64(timeout))
		ts = &p.waitTS
	}
	unix.Ppoll(p.pfd[:], ts, nil)
	if p.pfd[1].Revents&unix.POLLIN != 0 && !p.closed.Load() {
		// Woken by Wake: reset the eventfd so the next Wait sleeps again.
		// (After Close it stays readable, so every Wait returns at once.)
		unix.Read(p.evfd, p.evbuf[:])
	}
}

// Wake implements dataplane.Waker: it makes a Wait in progress, or the next
// one, return at once. Any goroutine; a no-op after Close.
func (p *Port) Wake() {
	if !p.enter() {
		return
	}
	defer p.exit()
	var one = [8]byte{1}
	unix.Write(p.evfd, one[:])
}
