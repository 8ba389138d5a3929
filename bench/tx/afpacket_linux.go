package tx

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/bench/gen"
)

// AF_PACKET TX ring geometry. Frames are 2048 bytes: the TPACKET_V2 header
// (32 bytes, data right behind it) and up to 2016 bytes of Ethernet frame.
const (
	pktFrameSize = 2048
	pktBlockSize = 1 << 16 // 32 frames per block
	pktDataOff   = 32      // TPACKET_ALIGN(sizeof(struct tpacket2_hdr)), net/packet/af_packet.c tpacket_fill_skb
	// DefaultPacketFrames is the TX ring size in frames.
	DefaultPacketFrames = 1024
)

// tpacket2_hdr offsets (linux/if_packet.h).
const (
	tpStatus = 0
	tpLen    = 4
	tpSnap   = 8
)

// Packet transmits through an AF_PACKET socket with a memory-mapped
// PACKET_TX_RING (TPACKET_V2) and PACKET_QDISC_BYPASS: the generator writes
// each frame into a ring slot, flips the slot's status to SEND_REQUEST, and
// one sendto(2) per batch makes the kernel build an skb per slot and hand
// it straight to the driver, skipping the qdisc layer.
//
// Why this package uses unsafe and raw ring syscalls: the ring's status
// words are shared with the kernel and must be read and written
// atomically, which needs a *uint32 into the mapping. STYLE.md keeps
// x/sys/unix in the packages that own their syscalls; this one owns the
// AF_PACKET TX ring.
type Packet struct {
	fd       int
	ring     []byte
	frames   int
	cur      int
	inflight []bool
	fis      []gen.FrameInfo
	queued   uint64
	done     uint64
	failed   uint64
	maxLen   int
}

// OpenPacket opens the AF_PACKET TX ring on ifname, in the calling
// goroutine's network namespace (call it inside Netns.Do for a lab end).
// frames is the ring size (0: DefaultPacketFrames). Needs CAP_NET_RAW.
func OpenPacket(ifname string, frames int) (_ *Packet, err error) {
	if frames <= 0 {
		frames = DefaultPacketFrames
	}
	per := pktBlockSize / pktFrameSize
	frames = (frames + per - 1) / per * per
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("tx: %w", err)
	}
	// Protocol 0: the socket transmits and never receives.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("tx: AF_PACKET socket: %w", err)
	}
	p := &Packet{fd: fd, frames: frames, maxLen: pktFrameSize - pktDataOff}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return nil, fmt.Errorf("tx: PACKET_VERSION: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		return nil, fmt.Errorf("tx: PACKET_QDISC_BYPASS: %w", err)
	}
	req := unix.TpacketReq{Block_size: pktBlockSize, Block_nr: uint32(frames / per), Frame_size: pktFrameSize, Frame_nr: uint32(frames)}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
		return nil, fmt.Errorf("tx: PACKET_TX_RING: %w", err)
	}
	if p.ring, err = unix.Mmap(fd, 0, frames*pktFrameSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return nil, fmt.Errorf("tx: mmap TX ring: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		return nil, fmt.Errorf("tx: bind to %s: %w", ifname, err)
	}
	p.inflight = make([]bool, frames)
	p.fis = make([]gen.FrameInfo, frames)
	return p, nil
}

// status returns the status word of slot i, shared with the kernel.
func (p *Packet) status(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&p.ring[i*pktFrameSize+tpStatus]))
}

// reclaim takes slot i back from the kernel if it is done with it and
// reports whether the slot is free. A slot the kernel refused
// (TP_STATUS_WRONG_FORMAT) is counted and its frame Unsend'ed.
func (p *Packet) reclaim(st *gen.Stream, i int) bool {
	s := atomic.LoadUint32(p.status(i))
	switch {
	case s == unix.TP_STATUS_AVAILABLE:
		if p.inflight[i] {
			p.inflight[i] = false
			p.done++
		}
		return true
	case s&unix.TP_STATUS_WRONG_FORMAT != 0:
		p.inflight[i] = false
		p.failed++
		st.Unsend(p.fis[i])
		atomic.StoreUint32(p.status(i), unix.TP_STATUS_AVAILABLE)
		return true
	}
	return false // SEND_REQUEST or SENDING: the kernel's
}

// Transmit implements Transmitter. Allocates nothing.
func (p *Packet) Transmit(st *gen.Stream, max int) (int, error) {
	n := 0
	for n < max && p.reclaim(st, p.cur) {
		slot := p.ring[p.cur*pktFrameSize : (p.cur+1)*pktFrameSize]
		l, _ := st.Next(slot[pktDataOff:])
		if l == 0 {
			break
		}
		*(*uint32)(unsafe.Pointer(&slot[tpLen])) = uint32(l)
		*(*uint32)(unsafe.Pointer(&slot[tpSnap])) = uint32(l)
		p.fis[p.cur] = st.Last()
		p.inflight[p.cur] = true
		// The store publishes the frame's bytes to the kernel: it must come
		// after them (atomic stores are release stores).
		atomic.StoreUint32(p.status(p.cur), unix.TP_STATUS_SEND_REQUEST)
		if p.cur++; p.cur == p.frames {
			p.cur = 0
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	p.queued += uint64(n)
	return n, p.kick()
}

// kick asks the kernel to send every slot marked SEND_REQUEST, without
// waiting for them to complete.
func (p *Packet) kick() error {
	for {
		_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(p.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0, unix.EAGAIN, unix.ENOBUFS:
			// ENOBUFS/EAGAIN: the device queue is full; the slots stay
			// SEND_REQUEST and the next kick sends them.
			return nil
		case unix.EINTR:
			continue
		}
		return fmt.Errorf("tx: sendto on TX ring: %w", errno)
	}
}

// Finish implements Transmitter: it kicks until every slot is back.
func (p *Packet) Finish(st *gen.Stream, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		busy := 0
		for i := 0; i < p.frames; i++ {
			if !p.reclaim(st, i) {
				busy++
			}
		}
		if busy == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tx: %d TX ring slots still busy after %v", busy, timeout)
		}
		if err := p.kick(); err != nil {
			return err
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// Stats implements Transmitter.
func (p *Packet) Stats() Stats { return Stats{Queued: p.queued, Completed: p.done, Failed: p.failed} }

// Close implements Transmitter.
func (p *Packet) Close() error {
	var errs []error
	if p.ring != nil {
		errs = append(errs, unix.Munmap(p.ring))
		p.ring = nil
	}
	if p.fd >= 0 {
		errs = append(errs, unix.Close(p.fd))
		p.fd = -1
	}
	return errors.Join(errs...)
}
