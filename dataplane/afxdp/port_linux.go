package afxdp

import (
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"net"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/asavie/xdp"
	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/dataplane"
)

// Chunk ownership, one byte per UMEM chunk. It lets Release and Send
// refuse a frame that is not the caller's (a double release would
// otherwise put one chunk in two places and corrupt packets silently).
const (
	ownFree   uint8 = iota // on the free stack
	ownKernRx              // in the fill or RX ring
	ownUser                // lent to the worker (Recv, Alloc)
	ownKernTx              // in the TX or completion ring
)

// Port is an AF_XDP socket on one RX queue: a UMEM of NumFrames chunks and
// its fill, completion, RX and TX rings, created by asavie/xdp and driven
// here (see ring_linux.go). It implements dataplane.Port.
type Port struct {
	// Hot-path state, touched by the one worker that drives the port.
	rx, tx     descRing
	fill, comp addrRing
	umem       []byte
	chunkShift uint   // log2(FrameSize)
	chunkMask  uint64 // ^(FrameSize-1): chunk address of any address inside it
	frameSize  int
	headroom   int
	free       []uint64 // free-frame stack of chunk addresses; cap NumFrames
	owner      []uint8  // ownership per chunk index
	rxOwned    int      // frames the kernel holds for RX (fill + RX ring)
	fillTarget int      // rxOwned the port keeps up to (FillRingSize; 0 when TX only)
	needWakeup bool     // bound with XDP_USE_NEED_WAKEUP and the kernel reports ring flags
	txPending  bool     // the last kick left descriptors in the TX ring
	fd         int
	pfd        [2]unix.PollFd // the socket and the close eventfd, for Wait
	waitTS     unix.Timespec

	// Shared with Close and Stats (atomics only).
	users       atomic.Int32 // hot methods in progress
	closed      atomic.Bool
	txCompleted atomic.Uint64
	kickErrors  atomic.Uint64
	badFrames   atomic.Uint64 // frames refused by Send/Release (not the caller's)

	// Setup and teardown.
	sock       *xdp.Socket
	prog       *Program
	ownProg    bool
	registered bool
	ifname     string
	queue      int
	zeroCopy   bool
	evfd       int
	evbuf      [8]byte // Wait's read buffer for evfd (a field: a local would escape)
	log        *slog.Logger
	closeOnce  sync.Once
	closeErr   error
	final      dataplane.PortStats // stats at Close, returned afterwards
}

var _ dataplane.Port = (*Port)(nil)

// socketMu serializes asavie's NewSocket: it reads its bind flags from the
// package variable xdp.DefaultSocketFlags.
var socketMu sync.Mutex

// Open creates the AF_XDP port for opts.Queue of opts.Ifname, in the
// calling goroutine's network namespace: it loads and attaches the
// steering program unless opts.Program is given, creates the socket, UMEM
// and rings, fills the fill ring and registers the socket with the
// program. On any failure it undoes what it did. Errors wrap
// ErrNoInterface, ErrNotSupported or ErrPermission where they apply.
// Needs CAP_NET_RAW, CAP_BPF and CAP_NET_ADMIN, and CAP_IPC_LOCK or a
// RLIMIT_MEMLOCK above the UMEM size; Linux 5.4 or later (need-wakeup, the
// XDP_PASS fallback of bpf_redirect_map).
func Open(opts Options) (_ *Port, err error) {
	o := opts.withDefaults()
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("afxdp options: %w", err)
	}
	ifi, err := net.InterfaceByName(o.Ifname)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Ifname, ErrNoInterface)
	}
	umemSize := uint64(o.NumFrames) * uint64(o.FrameSize)
	if err := checkMemlock(o.Ifname, umemSize); err != nil {
		return nil, err
	}
	if nq, qerr := QueueCount(o.Ifname); qerr == nil && o.Queue >= nq {
		return nil, fmt.Errorf("%s: queue %d: interface has %d queues", o.Ifname, o.Queue, nq)
	}
	// asavie/xdp reports errors as text; probe the socket family first so
	// a missing capability or kernel feature is named as such.
	probe, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, wrapKernel(o.Ifname+": AF_XDP socket", err)
	}
	unix.Close(probe)

	p := &Port{
		ifname: o.Ifname, queue: o.Queue, log: logger(o.Logger), fd: -1, evfd: -1,
		frameSize: o.FrameSize, headroom: o.Headroom, prog: o.Program,
	}
	defer func() {
		if err != nil {
			p.teardown()
		}
	}()

	if p.prog == nil && !o.TxOnly {
		maxq := DefaultMaxQueues
		if o.Queue >= maxq {
			maxq = o.Queue + 1
		}
		if p.prog, err = LoadProgram(ProgramOptions{Bare: o.Bare, MaxQueues: maxq, Logger: p.log}); err != nil {
			return nil, err
		}
		p.ownProg = true
		if err = p.prog.Attach(o.Ifname, o.XDPMode); err != nil {
			return nil, err
		}
	}

	if p.sock, err = newSocket(ifi.Index, o); err != nil {
		return nil, fmt.Errorf("%s queue %d: AF_XDP socket: %w", o.Ifname, o.Queue, err)
	}
	p.fd = p.sock.FD()
	unix.CloseOnExec(p.fd)
	if err = p.mapRings(o); err != nil {
		return nil, fmt.Errorf("%s queue %d: %w", o.Ifname, o.Queue, err)
	}
	if p.zeroCopy, err = xskZeroCopy(p.fd); err != nil {
		return nil, fmt.Errorf("%s queue %d: %w", o.Ifname, o.Queue, err)
	}
	if o.ZeroCopy == ZeroCopyRequire && !p.zeroCopy {
		return nil, fmt.Errorf("%s queue %d: %w: driver offers no zero-copy AF_XDP", o.Ifname, o.Queue, ErrNotSupported)
	}

	p.initFrames(o)
	if !o.TxOnly {
		p.fillTarget = o.FillRingSize
		p.refill()
	}
	if p.evfd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	p.pfd = [2]unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}, {Fd: int32(p.evfd), Events: unix.POLLIN}}
	if p.prog != nil {
		if err = p.prog.Register(o.Queue, p.fd); err != nil {
			return nil, err
		}
		p.registered = true
	}
	p.log.Info("AF_XDP port open", "ifname", o.Ifname, "queue", o.Queue, "mode", p.mode(),
		"zero_copy", p.zeroCopy, "need_wakeup", p.needWakeup, "frames", o.NumFrames,
		"frame_size", o.FrameSize, "headroom", o.Headroom, "own_program", p.ownProg, "tx_only", o.TxOnly)
	return p, nil
}

// bindRetry bounds how long newSocket retries a refused bind. The kernel
// frees a closed socket's claim on its queue only after an RCU grace
// period and a workqueue pass (xsk_destruct, xp_release_deferred), so a
// port reopened right after Close (a restart, a test) can find the queue
// still busy for a few milliseconds.
const bindRetry = 2 * time.Second

// newSocket creates the socket, UMEM and rings with asavie/xdp and binds
// them to the queue, retrying a refused bind for up to bindRetry.
func newSocket(ifindex int, o Options) (*xdp.Socket, error) {
	deadline := time.Now().Add(bindRetry)
	for delay := time.Millisecond; ; delay *= 2 {
		socketMu.Lock()
		before := socketMaps()
		xdp.DefaultSocketFlags = unix.XDP_USE_NEED_WAKEUP
		if o.ZeroCopy == ZeroCopyOff {
			xdp.DefaultSocketFlags |= unix.XDP_COPY
		}
		// ZeroCopyRequire binds like ZeroCopyAuto (the kernel tries
		// zero-copy and falls back to copy) and Open then checks
		// XDP_OPTIONS, because asavie reports a refused bind as text only.
		sock, err := xdp.NewSocket(ifindex, o.Queue, &xdp.SocketOptions{
			NumFrames:              o.NumFrames,
			FrameSize:              o.FrameSize,
			FillRingNumDescs:       o.FillRingSize,
			CompletionRingNumDescs: o.CompletionRingSize,
			RxRingNumDescs:         o.RxRingSize,
			TxRingNumDescs:         o.TxRingSize,
		})
		xdp.DefaultSocketFlags = 0
		if err != nil {
			unmapLeaked(before)
		}
		socketMu.Unlock()
		// asavie formats errors with %v, so the bind step is recognised by
		// its message; anything else fails at once.
		if err == nil || !strings.Contains(err.Error(), "Bind") || time.Now().After(deadline) {
			return sock, err
		}
		time.Sleep(delay)
	}
}

// socketMap is one memory mapping of a socket, from /proc/self/maps.
type socketMap struct{ start, end uintptr }

// socketMaps lists the process's mappings of sockets ("socket:[inode]").
func socketMaps() map[socketMap]bool {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return nil
	}
	out := map[socketMap]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, " socket:[") {
			continue
		}
		var m socketMap
		if _, err := fmt.Sscanf(line, "%x-%x", &m.start, &m.end); err == nil {
			out[m] = true
		}
	}
	return out
}

// unmapLeaked unmaps the socket mappings that appeared since before. When
// asavie's NewSocket fails after mapping the rings (a refused bind), it
// closes the socket but leaves the ring mappings, and it returns no socket
// to unmap them through; they are the only socket mappings made since
// before, because socketMu serializes socket creation in this package.
func unmapLeaked(before map[socketMap]bool) {
	if before == nil {
		return
	}
	for m := range socketMaps() {
		if !before[m] {
			unix.Syscall(unix.SYS_MUNMAP, m.start, m.end-m.start, 0)
		}
	}
}

// mode names how frames reach the socket: the program's attach mode.
func (p *Port) mode() string {
	if p.prog == nil {
		return "tx-only"
	}
	return p.prog.Mode().String()
}

// initFrames puts every chunk on the free stack, lowest address on top.
func (p *Port) initFrames(o Options) {
	p.free = make([]uint64, o.NumFrames)
	for i := range p.free {
		p.free[i] = uint64(o.NumFrames-1-i) << p.chunkShift
	}
	p.owner = make([]uint8, o.NumFrames)
}

// ringOffsets reads the kernel's ring layout (XDP_MMAP_OFFSETS). flags is
// false on kernels older than 5.4, whose layout has no flags word (and so
// no need-wakeup).
func ringOffsets(fd int) (off unix.XDPMmapOffsets, flags bool, err error) {
	size := uint32(unsafe.Sizeof(off))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return off, false, fmt.Errorf("getsockopt XDP_MMAP_OFFSETS: %w", errno)
	}
	return off, size == uint32(unsafe.Sizeof(off)), nil
}

// xskZeroCopy reports whether the bound socket runs zero-copy
// (XDP_OPTIONS, XDP_OPTIONS_ZEROCOPY; Linux 5.3).
func xskZeroCopy(fd int) (bool, error) {
	var opt struct{ Flags uint32 }
	size := uint32(unsafe.Sizeof(opt))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_OPTIONS,
		uintptr(unsafe.Pointer(&opt)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return false, fmt.Errorf("getsockopt XDP_OPTIONS: %w", errno)
	}
	return opt.Flags&unix.XDP_OPTIONS_ZEROCOPY != 0, nil
}

// asavieRing reads one ring's producer, consumer and descriptor array from
// asavie's Socket. asavie v0.3.3 maps the rings but keeps them unexported,
// and the kernel refuses a second mmap of a bound socket's rings (EBUSY),
// so reflection is the only way to reach them: read-only, by field name,
// and checked against the kernel's offsets below, so a different asavie
// layout fails Open instead of corrupting memory.
func asavieRing(sock *xdp.Socket, field string) (prod, cons, descs unsafe.Pointer, n int, err error) {
	r := reflect.ValueOf(sock).Elem().FieldByName(field)
	if !r.IsValid() {
		return nil, nil, nil, 0, fmt.Errorf("asavie/xdp Socket has no field %s", field)
	}
	pv, cv, dv := r.FieldByName("Producer"), r.FieldByName("Consumer"), r.FieldByName("Descs")
	if pv.Kind() != reflect.Pointer || cv.Kind() != reflect.Pointer || dv.Kind() != reflect.Slice {
		return nil, nil, nil, 0, fmt.Errorf("asavie/xdp Socket.%s has an unexpected layout", field)
	}
	return pv.UnsafePointer(), cv.UnsafePointer(), dv.UnsafePointer(), dv.Len(), nil
}

// mapRings finds asavie's ring mappings and checks that each matches the
// kernel's layout: producer, consumer and descriptors at the offsets the
// kernel reports from one page-aligned base, with the requested size.
func (p *Port) mapRings(o Options) error {
	off, haveFlags, err := ringOffsets(p.fd)
	if err != nil {
		return err
	}
	p.needWakeup = haveFlags
	p.chunkShift = uint(bits.TrailingZeros64(uint64(o.FrameSize))) // a power of two
	p.chunkMask = ^uint64(o.FrameSize - 1)
	p.umem = p.sock.GetFrame(xdp.Desc{Addr: 0, Len: uint32(o.NumFrames * o.FrameSize)})
	type spec struct {
		field string
		off   unix.XDPRingOffset
		size  int
		elem  uintptr
		dst   *ring
		descs *unsafe.Pointer
	}
	var rxd, txd, fd, cd unsafe.Pointer
	specs := []spec{
		{"rxRing", off.Rx, o.RxRingSize, unsafe.Sizeof(unix.XDPDesc{}), &p.rx.ring, &rxd},
		{"txRing", off.Tx, o.TxRingSize, unsafe.Sizeof(unix.XDPDesc{}), &p.tx.ring, &txd},
		{"fillRing", off.Fr, o.FillRingSize, 8, &p.fill.ring, &fd},
		{"completionRing", off.Cr, o.CompletionRingSize, 8, &p.comp.ring, &cd},
	}
	for _, s := range specs {
		prod, cons, descs, n, err := asavieRing(p.sock, s.field)
		if err != nil {
			return err
		}
		base := unsafe.Add(prod, -int(s.off.Producer))
		if n != s.size || unsafe.Add(base, int(s.off.Consumer)) != cons || unsafe.Add(base, int(s.off.Desc)) != descs ||
			uintptr(base)%uintptr(unix.Getpagesize()) != 0 {
			return fmt.Errorf("asavie/xdp %s does not match the kernel's ring layout", s.field)
		}
		s.dst.producer = (*uint32)(prod)
		s.dst.consumer = (*uint32)(cons)
		s.dst.flags = (*uint32)(unsafe.Add(base, int(s.off.Flags)))
		s.dst.mask = uint32(s.size - 1)
		s.dst.size = uint32(s.size)
		s.dst.cachedProd = atomic.LoadUint32(s.dst.producer)
		s.dst.cachedCons = atomic.LoadUint32(s.dst.consumer)
		s.dst.mapping = unsafe.Slice((*byte)(base), int(s.off.Desc)+s.size*int(s.elem))
		*s.descs = descs
	}
	p.rx.descs = unsafe.Slice((*unix.XDPDesc)(rxd), o.RxRingSize)
	p.tx.descs = unsafe.Slice((*unix.XDPDesc)(txd), o.TxRingSize)
	p.fill.descs = unsafe.Slice((*uint64)(fd), o.FillRingSize)
	p.comp.descs = unsafe.Slice((*uint64)(cd), o.CompletionRingSize)
	return nil
}

// Name returns the interface name.
func (p *Port) Name() string { return p.ifname }

// Queue returns the RX queue index.
func (p *Port) Queue() int { return p.queue }

// Steered reports true: the XDP program chose what reaches this socket.
func (p *Port) Steered() bool { return true }

// FD returns the socket's file descriptor (for Program.Register).
func (p *Port) FD() int { return p.fd }

// ZeroCopy reports whether the socket runs in zero-copy mode.
func (p *Port) ZeroCopy() bool { return p.zeroCopy }

// Program returns the XDP program the port is registered with (nil for a
// TX-only port).
func (p *Port) Program() *Program { return p.prog }

// Stats returns the kernel's socket statistics (XDP_STATISTICS) and the
// port's own counters. Safe from any goroutine; after Close it returns the
// statistics as they were at Close.
func (p *Port) Stats() dataplane.PortStats {
	if !p.enter() {
		return p.final
	}
	defer p.exit()
	return p.stats()
}

func (p *Port) stats() dataplane.PortStats {
	var ks unix.XDPStatistics
	size := uint32(unsafe.Sizeof(ks))
	unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(p.fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&ks)), uintptr(unsafe.Pointer(&size)), 0)
	return dataplane.PortStats{
		RxDropped:      ks.Rx_dropped,
		RxInvalidDescs: ks.Rx_invalid_descs,
		TxInvalidDescs: ks.Tx_invalid_descs,
		RxRingFull:     ks.Rx_ring_full,
		FillRingEmpty:  ks.Rx_fill_ring_empty_descs,
		TxRingEmpty:    ks.Tx_ring_empty_descs,
		TxCompleted:    p.txCompleted.Load(),
		ZeroCopy:       p.zeroCopy,
		Mode:           p.mode(),
	}
}

// PortCounters are counters of the port beyond dataplane.PortStats.
type PortCounters struct {
	KickErrors uint64 // sendto wake-ups the kernel refused (other than EAGAIN/EBUSY)
	BadFrames  uint64 // frames Send or Release refused: not lent by this port
}

// Counters returns the port's extra counters. Safe from any goroutine.
func (p *Port) Counters() PortCounters {
	return PortCounters{KickErrors: p.kickErrors.Load(), BadFrames: p.badFrames.Load()}
}

// enter admits a hot method unless the port is closed; exit ends it. With
// Close's store-then-wait, this is Dekker's handshake over two sequentially
// consistent atomics: Close never unmaps the rings under a running method.
func (p *Port) enter() bool {
	p.users.Add(1)
	if p.closed.Load() {
		p.users.Add(-1)
		return false
	}
	return true
}

func (p *Port) exit() { p.users.Add(-1) }

// Close unregisters the socket from the program (and detaches the program
// if the port owns it), then frees the socket, rings and UMEM. It may be
// called from any goroutine, also while the worker waits in Wait (which it
// wakes). Frames lent to the worker become invalid: the worker must not
// touch them afterwards. Recv returns 0 after Close.
func (p *Port) Close() error {
	p.closeOnce.Do(func() {
		p.final = p.Stats()
		p.closed.Store(true)
		if p.evfd >= 0 {
			var one = [8]byte{1}
			unix.Write(p.evfd, one[:])
		}
		for p.users.Load() != 0 {
			time.Sleep(20 * time.Microsecond)
		}
		p.closeErr = p.teardown()
		p.log.Info("AF_XDP port closed", "ifname", p.ifname, "queue", p.queue,
			"rx_dropped", p.final.RxDropped, "tx_completed", p.final.TxCompleted)
	})
	return p.closeErr
}

// teardown undoes Open in reverse; it runs on Open's failure paths too.
func (p *Port) teardown() error {
	var errs []error
	if p.registered {
		errs = append(errs, p.prog.Unregister(p.queue))
		p.registered = false
	}
	if p.ownProg {
		errs = append(errs, p.prog.Close())
		p.ownProg = false
	}
	// asavie's Close unmaps the UMEM but not the rings, and a ring mapping
	// holds the socket: left mapped, the socket outlives Close and its
	// queue stays bound (the next bind fails with EBUSY). Unmap them here.
	// They were mapped with syscall.Mmap, which unix.Munmap does not know,
	// hence MunmapPtr.
	for _, r := range []*ring{&p.rx.ring, &p.tx.ring, &p.fill.ring, &p.comp.ring} {
		if r.mapping != nil {
			errs = append(errs, unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(r.mapping)), uintptr(len(r.mapping))))
			*r = ring{}
		}
	}
	p.rx.descs, p.tx.descs, p.fill.descs, p.comp.descs = nil, nil, nil, nil
	p.umem = nil
	if p.sock != nil {
		errs = append(errs, p.sock.Close())
		p.sock = nil
		p.fd = -1
	}
	if p.evfd >= 0 {
		errs = append(errs, unix.Close(p.evfd))
		p.evfd = -1
	}
	return errors.Join(errs...)
}
