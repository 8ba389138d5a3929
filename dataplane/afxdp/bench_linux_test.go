package afxdp

import (
	"fmt"
	"net"
	"runtime"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/dptest"
)

// The lab's two CPUs: the sender (and with it the kernel's receive work)
// on one, the receiving loop on the other.
const (
	senderCPU   = 0
	receiverCPU = 1
)

// flood is a TX-only AF_XDP port flooding a lab's server end.
type flood struct {
	tx   *Port
	stop atomic.Bool
	sent atomic.Uint64
	done chan error
}

// startFlood starts a flood of size-byte UDP/4500 frames (Ethernet header
// included, FCS not) from the client end to dst, on a thread pinned to
// senderCPU; it stops in b.Cleanup.
func startFlood(b *testing.B, lab *dptest.VethLab, dst net.IP, size int) *flood {
	b.Helper()
	fl := &flood{done: make(chan error, 1)}
	txo := DefaultOptions(lab.Client.If)
	txo.TxOnly = true
	fl.tx = openIn(b, lab.Client.NS, txo)
	payload := make([]byte, size-42) // Ethernet 14 + IPv4 20 + UDP 8
	frame := buildUDP4(b, lab.Client.MAC, lab.Server.MAC, dptest.ClientAddr4.Addr().AsSlice(), dst, 4500, 4500, payload)
	if len(frame) != size {
		b.Fatalf("frame of %d bytes, want %d", len(frame), size)
	}
	go func() {
		// The sender's CPU also runs the server end's receive path (veth's
		// NAPI or backlog runs where veth_xmit was called).
		runtime.LockOSThread() // never unlocked: the pinned thread dies with us
		if runtime.NumCPU() > senderCPU+1 {
			if err := PinCPU(senderCPU); err != nil {
				fl.done <- err
				return
			}
		}
		_, err := fl.tx.Flood([][]byte{frame}, &fl.stop, &fl.sent)
		fl.done <- err
	}()
	b.Cleanup(fl.halt)
	return fl
}

// halt stops the flood (idempotent).
func (fl *flood) halt() {
	if fl.stop.Swap(true) {
		return
	}
	if err := <-fl.done; err != nil {
		panic(fmt.Sprintf("flood: %v", err))
	}
}

// pinReceiver pins the benchmark goroutine's thread to receiverCPU and
// returns a function that restores its affinity and unlocks it.
func pinReceiver(b *testing.B) func() {
	b.Helper()
	runtime.LockOSThread()
	var orig unix.CPUSet
	if err := unix.SchedGetaffinity(0, &orig); err != nil {
		b.Fatal(err)
	}
	if runtime.NumCPU() > receiverCPU {
		if err := PinCPU(receiverCPU); err != nil {
			b.Fatal(err)
		}
	}
	return func() {
		unix.SchedSetaffinity(0, &orig)
		runtime.UnlockOSThread()
	}
}

// spinDeadline fails the benchmark when nothing arrives for this long.
const spinDeadline = 5 * time.Second

// waitFrames waits for the flood to reach the socket.
func waitFrames(b *testing.B, recv func() int) {
	b.Helper()
	deadline := time.Now().Add(spinDeadline)
	for recv() == 0 {
		if time.Now().After(deadline) {
			b.Fatal("no frames reached the socket")
		}
	}
}

// spinRecv polls recv until it returns frames, failing when nothing
// arrives for spinDeadline (the clock is read every 64Ki empty polls).
func spinRecv(b *testing.B, recv func() int) int {
	var since time.Time
	for spins := 1; ; spins++ {
		if n := recv(); n > 0 {
			return n
		}
		if spins%(1<<16) == 0 {
			if since.IsZero() {
				since = time.Now()
			} else if time.Since(since) > spinDeadline {
				b.Fatal("flood stopped")
			}
		}
	}
}

// newSwapper returns a function that attaches a program to ifname in ns
// in mode, replacing the one attached there. Its requests are served by one
// goroutine locked to a thread inside ns and pinned to the receiver's CPU,
// so a swap neither creates a thread nor disturbs the sender's CPU.
func newSwapper(b *testing.B, ns *dptest.Netns, ifname string, mode Mode) func(*Program) {
	b.Helper()
	req := make(chan *Program)
	res := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies in ns
		err := netns.Set(ns.Handle())
		if err == nil && runtime.NumCPU() > receiverCPU {
			err = PinCPU(receiverCPU)
		}
		for prog := range req {
			if err == nil {
				var l netlink.Link
				if l, err = netlink.LinkByName(ifname); err == nil {
					err = netlink.LinkSetXdpFdWithFlags(l, prog.BPF().FD(), xdpFlags(mode))
				}
			}
			res <- err
		}
	}()
	b.Cleanup(func() { close(req) })
	return func(prog *Program) {
		req <- prog
		if err := <-res; err != nil {
			b.Fatalf("swap program: %v", err)
		}
	}
}

// rxVariant is one receive configuration of BenchmarkAFXDPRx.
type rxVariant struct {
	name    string
	prog    *Program
	recv    func() int
	pkts    int       // in the current window
	windows []float64 // pkt/s of each completed window
}

// median returns the median of xs (which it sorts).
func median(xs []float64) float64 {
	sort.Float64s(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// Interleaving: each variant gets rxWindow of measurement in turn, after
// rxSettle of draining what the previous program put in the ring, so slow
// changes in the shared machine's load hit every variant alike.
const (
	rxWindow = 50 * time.Millisecond
	rxSettle = 10 * time.Millisecond
)

// BenchmarkAFXDPRx measures AF_XDP receive rates on a veth lab: a TX-only
// AF_XDP port in the client namespace floods UDP/4500 frames at the server
// end, whose socket runs three variants, interleaved in short windows
// within one run:
//
//   - bare:  the bare program (redirect everything) and the Drop loop
//     (RX descriptors straight back to the fill ring): the baseline;
//   - steer: the steering program and the Drop loop, so steer-x-bare is
//     the cost of the steering decision;
//   - port:  the steering program and Recv/Release through
//     dataplane.Frame, the least a worker does per burst.
//
// It runs in native and in generic XDP mode. The programs are swapped
// atomically on the interface; the socket is registered in both. One op is one frame received. It reports
// each variant's pkt/s, its ratio to bare in the same run (x-bare), and
// the share of offered frames that never reached the socket (loss). The
// sender is pinned to CPU 0, which also runs the server end's XDP program,
// and the receiver to CPU 1: on a veth the rates are those of the lab's
// CPU 0, not of a NIC. Use -benchtime=5s or more for stable ratios.
func BenchmarkAFXDPRx(b *testing.B) {
	dptest.RequireRoot(b)
	for _, mode := range []Mode{ModeNative, ModeGeneric} {
		for _, size := range []int{64, 1400} {
			b.Run(fmt.Sprintf("%s/%dB", mode, size), func(b *testing.B) { benchRx(b, mode, size) })
		}
	}
}

func benchRx(b *testing.B, mode Mode, size int) {
	lab := dptest.NewVethLab(b, nil)
	steer := loadIn(b, lab.Server.NS, lab.Server.If, ProgramOptions{}, true, mode)
	bare := loadIn(b, lab.Server.NS, lab.Server.If, ProgramOptions{Bare: true}, false, mode)
	o := DefaultOptions(lab.Server.If)
	o.Program = steer
	p := openIn(b, lab.Server.NS, o)
	if err := bare.Register(0, p.FD()); err != nil {
		b.Fatal(err)
	}
	swap := newSwapper(b, lab.Server.NS, lab.Server.If, mode)
	// Leave the steering program attached, so its Close detaches it.
	b.Cleanup(func() { swap(steer) })

	fl := startFlood(b, lab, dptest.ServerAddr4.Addr().AsSlice(), size)
	fs := make([]dataplane.Frame, dataplane.BatchSize)
	variants := []*rxVariant{
		{name: "bare", prog: bare, recv: p.Drop},
		{name: "steer", prog: steer, recv: p.Drop},
		{name: "port", prog: steer, recv: func() int {
			n := p.Recv(fs)
			p.Release(fs[:n])
			return n
		}},
	}
	defer pinReceiver(b)()
	cur := 0
	swap(variants[cur].prog)
	waitFrames(b, variants[cur].recv)
	sent0, got := fl.sent.Load(), 0
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	windowStart, settling := time.Now(), true
	credit := 0
	for b.Loop() {
		for credit == 0 {
			v := variants[cur]
			credit = spinRecv(b, v.recv)
			got += credit
			now := time.Now()
			switch {
			case settling && now.Sub(windowStart) >= rxSettle:
				settling, windowStart = false, now
			case settling:
			case now.Sub(windowStart) >= rxWindow:
				v.pkts += credit
				v.windows = append(v.windows, float64(v.pkts)/now.Sub(windowStart).Seconds())
				v.pkts = 0
				b.StopTimer()
				next := variants[(cur+1)%len(variants)]
				if next.prog != v.prog {
					swap(next.prog)
				}
				cur = (cur + 1) % len(variants)
				b.StartTimer()
				windowStart, settling = time.Now(), true
			default:
				v.pkts += credit
			}
		}
		credit--
	}
	b.StopTimer()
	offered := fl.sent.Load() - sent0
	fl.halt()
	// Medians over windows, and of the per-cycle ratios to the bare window
	// of the same cycle: a window hit by another process's burst on this
	// shared machine moves the mean but hardly the median.
	base := variants[0]
	cycles := len(variants[len(variants)-1].windows)
	if cycles == 0 {
		return // too short a run for a window of each (-benchtime=1x)
	}
	for _, v := range variants {
		ratios := make([]float64, cycles)
		for i := range ratios {
			ratios[i] = v.windows[i] / base.windows[i]
		}
		b.ReportMetric(median(append([]float64(nil), v.windows...)), v.name+"-pkt/s")
		if v != base {
			b.ReportMetric(median(ratios), v.name+"-x-bare")
		}
	}
	b.ReportMetric(float64(cycles), "cycles")
	if offered > 0 && uint64(got) <= offered {
		b.ReportMetric(1-float64(got)/float64(offered), "loss")
	}
}

// BenchmarkAFXDPFlood measures the generator alone: frames per second the
// client's TX-only port gets the kernel to transmit, to an address nobody
// has, with no program on the server end (the server's kernel drops them).
func BenchmarkAFXDPFlood(b *testing.B) {
	dptest.RequireRoot(b)
	for _, size := range []int{64, 1400} {
		b.Run(fmt.Sprintf("tx/%dB", size), func(b *testing.B) {
			lab := dptest.NewVethLab(b, nil)
			fl := startFlood(b, lab, net.IPv4(10, 99, 0, 99), size)
			for deadline := time.Now().Add(spinDeadline); fl.sent.Load() == 0; {
				if time.Now().After(deadline) {
					b.Fatal("flood sent nothing")
				}
				time.Sleep(time.Millisecond)
			}
			fl.sent.Store(0)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var seen uint64
			for b.Loop() {
				for seen == 0 {
					seen = fl.sent.Swap(0)
				}
				seen--
			}
			elapsed := b.Elapsed()
			fl.halt()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pkt/s")
		})
	}
}
