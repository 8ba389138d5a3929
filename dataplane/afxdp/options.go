package afxdp

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Mode is how the XDP program runs on the interface.
type Mode uint8

// XDP attach modes (config interfaces.NAME.xdp-mode).
const (
	// ModeAuto tries native and falls back to generic, logging which.
	ModeAuto Mode = iota
	// ModeNative runs the program in the driver (XDP_FLAGS_DRV_MODE).
	ModeNative
	// ModeGeneric runs it on the kernel's skb path (XDP_FLAGS_SKB_MODE):
	// works on every interface, copies every packet.
	ModeGeneric
)

var modeNames = [...]string{ModeAuto: "auto", ModeNative: "native", ModeGeneric: "generic"}

// String returns the config name of the mode.
func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ParseMode maps a config name (auto, native, generic) to a Mode.
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return Mode(i), nil
		}
	}
	return ModeAuto, fmt.Errorf("unknown xdp mode %q (want auto, native or generic)", s)
}

// ZeroCopy is the socket's zero-copy preference.
type ZeroCopy uint8

// Zero-copy preferences, passed to bind(2) as XDP_ZEROCOPY / XDP_COPY flags.
const (
	// ZeroCopyAuto lets the kernel use zero-copy when the driver offers
	// it and copy mode otherwise (no bind flag).
	ZeroCopyAuto ZeroCopy = iota
	// ZeroCopyRequire fails Open with ErrNotSupported unless zero-copy works.
	ZeroCopyRequire
	// ZeroCopyOff forces copy mode.
	ZeroCopyOff
)

// Default sizes. Rings of 2048 descriptors absorb a burst of a few hundred
// microseconds at line rate; 4096 chunks of 2048 bytes (8 MiB of UMEM, the
// default RLIMIT_MEMLOCK when the process lacks CAP_IPC_LOCK) give the fill
// ring its 2048 frames and leave as many for TX and frames a worker holds.
const (
	DefaultFrameSize = 2048
	DefaultNumFrames = 4096
	DefaultRingSize  = 2048
	// DefaultHeadroom is the kernel's XDP_PACKET_HEADROOM: received frames
	// start this far into their chunk (see Options.Headroom).
	DefaultHeadroom = 256
)

// Options configure one AF_XDP port (one socket on one RX queue).
type Options struct {
	Ifname string // interface, in the caller's network namespace
	Queue  int    // RX queue index

	// FrameSize is the UMEM chunk size: 2048 or 4096 (the kernel's aligned
	// mode needs a power of two no larger than a page).
	FrameSize int
	// NumFrames is the number of UMEM chunks.
	NumFrames int
	// Ring sizes in descriptors, powers of two.
	RxRingSize, TxRingSize, FillRingSize, CompletionRingSize int
	// Headroom is Frame.Off of frames from Alloc: room for the outer
	// IP/UDP/ESP headers that encapsulation prepends in place. Received
	// frames start where the kernel put them, XDP_PACKET_HEADROOM (256)
	// into the chunk, because asavie/xdp registers the UMEM with no extra
	// headroom; so Headroom may not exceed 256, and a frame's Off is
	// always at least Headroom.
	Headroom int
	// ZeroCopy is the zero-copy preference (default ZeroCopyAuto).
	ZeroCopy ZeroCopy
	// Program is the interface's steering program, shared by the ports of
	// all its queues; Open registers the socket in it. When nil, Open loads
	// and attaches a program of its own (in XDPMode), used by this queue
	// only and detached by Close.
	Program *Program
	// XDPMode is the attach mode of the port's own program (Program nil).
	XDPMode Mode
	// Bare makes the port's own program redirect every frame of the queue
	// instead of steering (the benchmark baseline; see (*Port).Drop).
	Bare bool
	// TxOnly opens a socket that only transmits (a traffic generator): no
	// program is loaded or registered and every frame is free for TX.
	TxOnly bool
	// Logger receives setup and teardown logs only; nil discards.
	Logger *slog.Logger
}

// DefaultOptions returns the defaults for the port of queue 0 of ifname.
func DefaultOptions(ifname string) Options {
	return Options{
		Ifname:             ifname,
		FrameSize:          DefaultFrameSize,
		NumFrames:          DefaultNumFrames,
		RxRingSize:         DefaultRingSize,
		TxRingSize:         DefaultRingSize,
		FillRingSize:       DefaultRingSize,
		CompletionRingSize: DefaultRingSize,
		Headroom:           DefaultHeadroom,
	}
}

// withDefaults fills zero fields with the defaults.
func (o Options) withDefaults() Options {
	d := DefaultOptions(o.Ifname)
	if o.FrameSize == 0 {
		o.FrameSize = d.FrameSize
	}
	if o.NumFrames == 0 {
		o.NumFrames = d.NumFrames
	}
	for _, n := range []*int{&o.RxRingSize, &o.TxRingSize, &o.FillRingSize, &o.CompletionRingSize} {
		if *n == 0 {
			*n = DefaultRingSize
		}
	}
	if o.Headroom == 0 {
		o.Headroom = d.Headroom
	}
	return o
}

// minTailroom is the least room Validate leaves behind a frame's packet:
// enough for a 1500-byte packet after the headroom.
const minTailroom = 1500

// Validate checks the options (after defaults) before anything touches the
// kernel, and reports every problem at once.
func (o Options) Validate() error {
	var errs []error
	if o.Ifname == "" {
		errs = append(errs, errors.New("interface name is empty"))
	}
	if o.Queue < 0 {
		errs = append(errs, fmt.Errorf("queue %d is negative", o.Queue))
	}
	if o.FrameSize != 2048 && o.FrameSize != 4096 {
		errs = append(errs, fmt.Errorf("frame size %d: want 2048 or 4096", o.FrameSize))
	}
	for _, r := range []struct {
		name string
		n    int
	}{{"rx ring", o.RxRingSize}, {"tx ring", o.TxRingSize}, {"fill ring", o.FillRingSize}, {"completion ring", o.CompletionRingSize}} {
		if r.n <= 0 || r.n&(r.n-1) != 0 {
			errs = append(errs, fmt.Errorf("%s size %d: want a power of two", r.name, r.n))
		}
	}
	if o.NumFrames < o.FillRingSize+64 {
		errs = append(errs, fmt.Errorf("%d frames: want at least fill ring size + 64 (%d) so TX has frames", o.NumFrames, o.FillRingSize+64))
	}
	if o.Headroom < 0 || o.Headroom > DefaultHeadroom {
		errs = append(errs, fmt.Errorf("headroom %d: want 0..%d (received frames start at XDP_PACKET_HEADROOM)", o.Headroom, DefaultHeadroom))
	}
	if o.FrameSize-DefaultHeadroom < minTailroom {
		errs = append(errs, fmt.Errorf("frame size %d leaves less than %d bytes after the headroom", o.FrameSize, minTailroom))
	}
	if o.ZeroCopy > ZeroCopyOff {
		errs = append(errs, fmt.Errorf("zero-copy preference %d unknown", o.ZeroCopy))
	}
	if o.XDPMode > ModeGeneric {
		errs = append(errs, fmt.Errorf("xdp mode %d unknown", o.XDPMode))
	}
	if o.TxOnly && (o.Program != nil || o.Bare) {
		errs = append(errs, errors.New("tx-only ports have no program"))
	}
	if o.Program != nil && o.Bare {
		errs = append(errs, errors.New("bare applies to the port's own program; Program is set"))
	}
	return errors.Join(errs...)
}

// logger returns l, or a logger that discards when l is nil.
func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
