package afxdp

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"

	"github.com/asavie/xdp"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Program names as the kernel shows them (bpftool, netlink); at most 15
// characters. A program found on an interface under one of these names at
// start is a stale one of ours, left by a crashed run.
const (
	steerProgName = "sluice_steer"
	bareProgName  = "sluice_bare"
)

// DefaultMaxQueues is the default number of XSKMAP entries: queue indexes
// at or above it are passed to the kernel.
const DefaultMaxQueues = 256

// ProgramOptions configure LoadProgram.
type ProgramOptions struct {
	// Bare loads the baseline program that redirects every frame of a
	// queue to its socket, instead of the steering program.
	Bare bool
	// MaxQueues is the number of queue slots (default DefaultMaxQueues).
	MaxQueues int
	// Logger receives attach/detach logs; nil discards.
	Logger *slog.Logger
}

// Program is the XDP program of one interface, shared by the sockets of
// all its queues. Its methods are for setup and teardown: call them from
// one goroutine (Counters may be called from any).
type Program struct {
	prog     xdp.Program // asavie/xdp's struct: our program, queue map, XSKMAP
	counters *ebpf.Map   // per-CPU [redirected, passed]; nil for the bare program
	name     string
	log      *slog.Logger

	mu       sync.Mutex // guards the attachment below (Attach/Detach/Close)
	attached bool
	ifname   string
	ifindex  int
	mode     Mode           // ModeNative or ModeGeneric once attached
	ns       netns.NsHandle // namespace of the interface, for Detach from any thread
}

var memlockOnce sync.Once

// LoadProgram creates the program's maps and loads it into the kernel
// (the verifier runs here). It needs CAP_BPF (or CAP_SYS_ADMIN).
func LoadProgram(opts ProgramOptions) (*Program, error) {
	if opts.MaxQueues == 0 {
		opts.MaxQueues = DefaultMaxQueues
	}
	if opts.MaxQueues < 0 {
		return nil, fmt.Errorf("max queues %d is negative", opts.MaxQueues)
	}
	// A no-op on kernels with memcg accounting of BPF memory (5.11+).
	memlockOnce.Do(func() { _ = rlimit.RemoveMemlock() })

	p := &Program{log: logger(opts.Logger), ns: netns.None()}
	var err error
	defer func() {
		if err != nil {
			p.closeObjects()
		}
	}()
	p.prog.Queues, err = ebpf.NewMap(&ebpf.MapSpec{
		Name: "sluice_qids", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: uint32(opts.MaxQueues),
	})
	if err != nil {
		return nil, wrapKernel("create queue map", err)
	}
	p.prog.Sockets, err = ebpf.NewMap(&ebpf.MapSpec{
		Name: xsksMapSym, Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: uint32(opts.MaxQueues),
	})
	if err != nil {
		return nil, wrapKernel("create XSKMAP", err)
	}
	insns := bareInstructions()
	p.name = bareProgName
	if !opts.Bare {
		p.name = steerProgName
		insns = steerInstructions()
		p.counters, err = ebpf.NewMap(&ebpf.MapSpec{
			Name: countersMapSym, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: numCounters,
		})
		if err != nil {
			return nil, wrapKernel("create counters map", err)
		}
		if err = insns.AssociateMap(countersMapSym, p.counters); err != nil {
			return nil, err
		}
	}
	if err = insns.AssociateMap(xsksMapSym, p.prog.Sockets); err != nil {
		return nil, err
	}
	p.prog.Program, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         p.name,
		Type:         ebpf.XDP,
		Instructions: insns,
		License:      "Dual MIT/GPL",
	})
	if err != nil {
		return nil, wrapKernel("load XDP program", err)
	}
	return p, nil
}

// BPF returns the loaded program (for BPF_PROG_TEST_RUN in tests).
func (p *Program) BPF() *ebpf.Program { return p.prog.Program }

// XDP returns asavie/xdp's view of the program (Program, Queues, Sockets).
func (p *Program) XDP() *xdp.Program { return &p.prog }

// Name returns the program's kernel name.
func (p *Program) Name() string { return p.name }

// Mode returns the mode the program is attached in (ModeNative or
// ModeGeneric), or ModeAuto when it is not attached.
func (p *Program) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.attached {
		return ModeAuto
	}
	return p.mode
}

// Register points queue's slot at the AF_XDP socket fd, through asavie's
// Program.Register; from then on the program redirects that queue's
// frames to the socket. The socket must be bound already.
func (p *Program) Register(queue, fd int) error {
	if err := p.prog.Register(queue, fd); err != nil {
		return fmt.Errorf("register queue %d: %w", queue, err)
	}
	return nil
}

// Unregister clears queue's slot; the program passes the queue's frames
// to the kernel again. (asavie's Unregister deletes from its array map,
// which the kernel refuses, so this clears the slot itself.)
func (p *Program) Unregister(queue int) error {
	var errs []error
	if err := p.prog.Sockets.Delete(uint32(queue)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		errs = append(errs, fmt.Errorf("unregister queue %d: %w", queue, err))
	}
	if err := p.prog.Queues.Put(uint32(queue), uint32(0)); err != nil {
		errs = append(errs, fmt.Errorf("unregister queue %d: %w", queue, err))
	}
	return errors.Join(errs...)
}

// ProgramCounters are the steering program's verdict counts, summed over
// CPUs.
type ProgramCounters struct {
	Redirected uint64 // frames handed to an AF_XDP socket
	Passed     uint64 // frames passed to the kernel (passed-to-kernel)
}

// Counters reads the steering program's counters. The bare program keeps
// none and returns zeros.
func (p *Program) Counters() (ProgramCounters, error) {
	var c ProgramCounters
	if p.counters == nil {
		return c, nil
	}
	for key, dst := range []*uint64{&c.Redirected, &c.Passed} {
		var perCPU []uint64
		if err := p.counters.Lookup(uint32(key), &perCPU); err != nil {
			return c, fmt.Errorf("read counters: %w", err)
		}
		for _, v := range perCPU {
			*dst += v
		}
	}
	return c, nil
}

// xdpFlags maps a concrete mode to its attach flag.
func xdpFlags(m Mode) int {
	if m == ModeNative {
		return unix.XDP_FLAGS_DRV_MODE
	}
	return unix.XDP_FLAGS_SKB_MODE
}

// attachedMode maps netlink's IFLA_XDP_ATTACHED value to a Mode and the
// flag that detaches it.
func attachedMode(x *netlink.LinkXdp) (Mode, int) {
	switch x.AttachMode {
	case 1: // XDP_ATTACHED_DRV
		return ModeNative, unix.XDP_FLAGS_DRV_MODE
	case 3: // XDP_ATTACHED_HW
		return ModeNative, unix.XDP_FLAGS_HW_MODE
	default: // XDP_ATTACHED_SKB, XDP_ATTACHED_MULTI
		return ModeGeneric, unix.XDP_FLAGS_SKB_MODE
	}
}

// progName returns the kernel name of the program with the given id, or
// "" when it cannot be read.
func progName(id uint32) string {
	prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return ""
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		return ""
	}
	return info.Name
}

// Attach attaches the program to ifname, found in the calling goroutine's
// network namespace, in mode; ModeAuto tries native and falls back to
// generic, logging which it got. A program already on the interface (a
// stale one left by a crashed run, ours or not) is replaced, and logged:
// atomically when it runs in the mode we attach in, otherwise detached
// first. Needs CAP_NET_ADMIN.
func (p *Program) Attach(ifname string, mode Mode) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.prog.Program == nil {
		return ErrClosed
	}
	if p.attached {
		return fmt.Errorf("program already attached to %s", p.ifname)
	}
	// netns.Get and netlink use the calling thread's namespace: keep the
	// goroutine on one thread while we read it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return fmt.Errorf("%w: %s", ErrNoInterface, ifname)
		}
		return wrapKernel("look up "+ifname, err)
	}
	ns, err := netns.Get()
	if err != nil {
		return fmt.Errorf("get netns: %w", err)
	}

	try := []Mode{mode}
	if mode == ModeAuto {
		try = []Mode{ModeNative, ModeGeneric}
	}
	if x := link.Attrs().Xdp; x != nil && x.Attached && x.ProgId != 0 {
		staleMode, staleFlag := attachedMode(x)
		name := progName(x.ProgId)
		p.log.Warn("replacing XDP program left on interface",
			"ifname", ifname, "prog_id", x.ProgId, "prog_name", name, "mode", staleMode.String(),
			"ours", name == steerProgName || name == bareProgName)
		if staleMode != try[0] {
			// The kernel refuses native and generic programs side by side.
			if err := netlink.LinkSetXdpFdWithFlags(link, -1, staleFlag); err != nil {
				ns.Close()
				return wrapKernel("detach stale XDP program from "+ifname, err)
			}
		}
	}
	var errs []error
	for _, m := range try {
		err := netlink.LinkSetXdpFdWithFlags(link, p.prog.Program.FD(), xdpFlags(m))
		if err == nil {
			p.attached, p.ifname, p.ifindex, p.mode, p.ns = true, ifname, link.Attrs().Index, m, ns
			p.log.Info("XDP program attached", "ifname", ifname, "prog", p.name, "mode", m.String(), "requested", mode.String())
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", m, err))
		if mode == ModeAuto && m == ModeNative {
			p.log.Info("native XDP refused, falling back to generic", "ifname", ifname, "err", err)
		}
	}
	ns.Close()
	err = errors.Join(errs...)
	if mode == ModeNative && errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("attach XDP to %s: %w: driver has no native XDP: %w", ifname, ErrNotSupported, err)
	}
	return wrapKernel("attach XDP to "+ifname, err)
}

// Detach removes the program from its interface, if it is still the one
// attached there (a program someone attached since is left alone, and
// logged). Safe to call from any goroutine and namespace.
func (p *Program) Detach() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.detachLocked()
}

// +checklocks:p.mu
func (p *Program) detachLocked() error {
	if !p.attached {
		return nil
	}
	info, err := p.prog.Program.Info()
	if err != nil {
		return fmt.Errorf("program info: %w", err)
	}
	id, _ := info.ID()
	err = inNetns(p.ns, func() error {
		link, err := netlink.LinkByIndex(p.ifindex)
		if err != nil {
			return err // interface gone: nothing attached any more
		}
		x := link.Attrs().Xdp
		if x == nil || !x.Attached || x.ProgId != uint32(id) {
			var cur uint32
			if x != nil {
				cur = x.ProgId
			}
			p.log.Warn("XDP program on interface is not ours any more; leaving it", "ifname", p.ifname, "prog_id", cur)
			return nil
		}
		return netlink.LinkSetXdpFdWithFlags(link, -1, xdpFlags(p.mode))
	})
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return wrapKernel("detach XDP from "+p.ifname, err)
		}
	}
	p.log.Info("XDP program detached", "ifname", p.ifname, "prog", p.name)
	p.attached = false
	p.ns.Close()
	return nil
}

// Close detaches the program if attached and frees its maps. The kernel
// unloads the program once nothing refers to it.
func (p *Program) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.detachLocked()
	return errors.Join(err, p.closeObjects())
}

func (p *Program) closeObjects() error {
	var errs []error
	if p.counters != nil {
		errs = append(errs, p.counters.Close())
		p.counters = nil
	}
	// asavie's Close tolerates nil members and clears them.
	errs = append(errs, p.prog.Close())
	return errors.Join(errs...)
}

// inNetns runs fn on a fresh OS thread inside ns. The thread is never
// unlocked, so the runtime destroys it when fn returns instead of reusing
// it in the wrong namespace.
func inNetns(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
