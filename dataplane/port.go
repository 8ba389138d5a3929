package dataplane

import "time"

// BatchSize is the most frames a worker takes from a port in one burst.
const BatchSize = 64

// Frame is one packet buffer lent by a Port to its worker.
//
// Layout of Buf (one UMEM chunk for AF_XDP, one slot for mem/pcap):
//
//	0        Off                 Off+Len              len(Buf)
//	|headroom |  packet bytes     |  tailroom          |
//
// Headroom and tailroom let ESP encapsulation grow the packet in place
// (outer IP/UDP/ESP headers in front, padding and ICV behind) and let
// decapsulation shrink it by moving Off and Len only.
type Frame struct {
	Buf    []byte // the whole buffer; never reallocated
	Off    int    // start of the packet in Buf
	Len    int    // packet length
	Handle uint64 // the port's own handle for the buffer (UMEM address, slot index)
}

// Data returns the packet bytes.
func (f *Frame) Data() []byte { return f.Buf[f.Off : f.Off+f.Len] }

// Headroom returns how many bytes may be prepended in place.
func (f *Frame) Headroom() int { return f.Off }

// Tailroom returns how many bytes may be appended in place.
func (f *Frame) Tailroom() int { return len(f.Buf) - f.Off - f.Len }

// Port is one RX/TX queue pair of an interface, driven by exactly one worker.
// No method may be called from two goroutines at once, except Close.
//
// Ownership: frames returned by Recv or Alloc belong to the caller until it
// hands them back with Send (the port transmits them and reclaims them) or
// Release (the port reclaims them at once). No method allocates per packet.
type Port interface {
	// Name is the interface name (e.g. "eth0").
	Name() string
	// Queue is the RX queue index this port serves.
	Queue() int
	// Steered reports whether an XDP steering program already chose what
	// reaches this port. A port that is not steered (pcap, mem) gets every
	// frame; the worker then applies the steering decision in software and
	// counts what the program would have passed to the kernel.
	Steered() bool
	// Recv fills fs with up to len(fs) received frames and returns how many.
	// It never blocks.
	Recv(fs []Frame) int
	// Send queues fs for transmission and returns how many were accepted,
	// always a prefix of fs. Frames not accepted still belong to the caller.
	Send(fs []Frame) int
	// Release returns frames to the port without transmitting them.
	Release(fs []Frame)
	// Alloc lends up to len(fs) free frames, each with Off set to the port's
	// headroom and Len 0, for building packets to Send. It returns how many.
	Alloc(fs []Frame) int
	// Wait blocks until RX may have frames, the timeout passes or Close is
	// called. Workers call it only after an idle spell (idle: poll).
	Wait(timeout time.Duration)
	// Stats returns the port's own counters (kernel ring statistics included).
	Stats() PortStats
	// Close releases the port's resources. Recv returns 0 afterwards.
	Close() error
}

// Waker is implemented by ports whose Wait another goroutine can cut short
// (AF_XDP: an eventfd in the poll set; mem: a channel). The worker's Wake
// uses it so that a frame the control plane queued for TX leaves at once
// instead of after the worker's idle sleep.
type Waker interface {
	// Wake makes a Wait in progress, or the next one, return at once. Any
	// goroutine; never blocks.
	Wake()
}

// PortStats are counters a port keeps itself, beyond what workers count.
type PortStats struct {
	RxDropped      uint64 // frames the kernel dropped (no room in the RX ring or UMEM)
	RxInvalidDescs uint64 // invalid RX descriptors reported by the kernel
	TxInvalidDescs uint64 // invalid TX descriptors reported by the kernel
	RxRingFull     uint64 // times the RX ring was full
	FillRingEmpty  uint64 // times the fill ring was empty
	TxRingEmpty    uint64 // times the TX ring was empty
	TxCompleted    uint64 // frames the kernel reported sent
	ZeroCopy       bool   // the socket runs in zero-copy mode
	Mode           string // "native", "generic", "mem", "pcap"
}
