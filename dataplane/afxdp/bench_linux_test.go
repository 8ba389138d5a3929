package afxdp

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/dptest"
)

// benchLab is a veth lab with a receiving port on the server end and a
// flooding TX-only port on the client end.
type benchLab struct {
	lab     *dptest.VethLab
	rx      *Port
	tx      *Port
	stop    atomic.Bool
	sent    atomic.Uint64
	done    chan error
	started time.Time
}

// startBenchLab opens the server port with o's program choice, then starts
// the flood of size-byte UDP/4500 frames (Ethernet header included, FCS
// not) from the client.
func startBenchLab(b *testing.B, o Options, size int) *benchLab {
	b.Helper()
	bl := &benchLab{lab: dptest.NewVethLab(b, nil), done: make(chan error, 1)}
	o.Ifname = bl.lab.Server.If
	bl.rx = openIn(b, bl.lab.Server.NS, o)
	txo := DefaultOptions(bl.lab.Client.If)
	txo.TxOnly = true
	bl.tx = openIn(b, bl.lab.Client.NS, txo)
	payload := make([]byte, size-42) // Ethernet 14 + IPv4 20 + UDP 8
	frame := buildUDP4(b, bl.lab.Client.MAC, bl.lab.Server.MAC, dptest.ClientAddr4.Addr().AsSlice(),
		dptest.ServerAddr4.Addr().AsSlice(), 4500, 4500, payload)
	if len(frame) != size {
		b.Fatalf("frame of %d bytes, want %d", len(frame), size)
	}
	go func() {
		_, err := bl.tx.Flood([][]byte{frame}, &bl.stop, &bl.sent)
		bl.done <- err
	}()
	b.Cleanup(bl.halt)
	return bl
}

// halt stops the flood (idempotent).
func (bl *benchLab) halt() {
	if bl.stop.Swap(true) {
		return
	}
	if err := <-bl.done; err != nil {
		panic(fmt.Sprintf("flood: %v", err))
	}
}

// spinDeadline fails the benchmark when nothing arrives for this long.
const spinDeadline = 5 * time.Second

// benchRates are the results of one sub-benchmark, for the ratios.
var benchRates = map[string]float64{}

// BenchmarkAFXDPRx measures AF_XDP receive rates on a veth lab: a TX-only
// AF_XDP port in the client namespace floods UDP/4500 frames at the
// server end, where
//
//   - bare:  the bare program (redirect everything) and the Drop loop
//     (RX descriptors straight back to the fill ring): the baseline;
//   - steer: the steering program and the Drop loop, so steer/bare is the
//     cost of the steering decision;
//   - port:  the steering program and Recv/Release through
//     dataplane.Frame, the least a worker does per burst.
//
// One op is one frame received. It reports pkt/s, the ratio to bare of
// the same frame size measured in the same run (x-bare), and the share
// of offered frames that never reached the socket (loss). On a veth the
// sender's core also runs the receive side's XDP program (softirq after
// veth_xmit), so the rates are those of the lab, not of a NIC.
func BenchmarkAFXDPRx(b *testing.B) {
	dptest.RequireRoot(b)
	for _, size := range []int{64, 1400} {
		for _, stage := range []string{"bare", "steer", "port"} {
			b.Run(fmt.Sprintf("%s/%dB", stage, size), func(b *testing.B) {
				o := DefaultOptions("")
				o.Bare = stage == "bare"
				bl := startBenchLab(b, o, size)
				fs := make([]dataplane.Frame, dataplane.BatchSize)
				recv := bl.rx.Drop
				if stage == "port" {
					recv = func() int {
						n := bl.rx.Recv(fs)
						bl.rx.Release(fs[:n])
						return n
					}
				}
				// Warm up: wait for the first frames, then start clean.
				waitFrames(b, recv)
				sent0, st0 := bl.sent.Load(), bl.rx.Stats()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				credit, got := 0, 0
				for b.Loop() {
					for credit == 0 {
						credit = spinRecv(b, recv)
						got += credit
					}
					credit--
				}
				elapsed := b.Elapsed()
				b.StopTimer()
				offered := bl.sent.Load() - sent0
				bl.halt()
				st := bl.rx.Stats()
				pps := float64(b.N) / elapsed.Seconds()
				b.ReportMetric(pps, "pkt/s")
				key := fmt.Sprintf("%dB", size)
				if stage == "bare" {
					benchRates[key] = pps
				}
				if base := benchRates[key]; base > 0 {
					b.ReportMetric(pps/base, "x-bare")
				}
				if offered > 0 && uint64(got) <= offered {
					b.ReportMetric(1-float64(got)/float64(offered), "loss")
				}
				// Per received frame: frames the kernel dropped for want of a
				// fill buffer, and times it found the RX ring full.
				b.ReportMetric(float64(st.RxDropped-st0.RxDropped)/float64(b.N), "rx-dropped/op")
				b.ReportMetric(float64(st.RxRingFull-st0.RxRingFull)/float64(b.N), "rx-ring-full/op")
			})
		}
	}
}

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

// BenchmarkAFXDPFlood measures the generator alone: frames per second the
// client's TX-only port gets the kernel to transmit, with nothing on the
// server end but the kernel dropping them (no program attached).
func BenchmarkAFXDPFlood(b *testing.B) {
	dptest.RequireRoot(b)
	for _, size := range []int{64, 1400} {
		b.Run(fmt.Sprintf("tx/%dB", size), func(b *testing.B) {
			lab := dptest.NewVethLab(b, nil)
			o := DefaultOptions(lab.Client.If)
			o.TxOnly = true
			tx := openIn(b, lab.Client.NS, o)
			frame := buildUDP4(b, lab.Client.MAC, lab.Server.MAC, dptest.ClientAddr4.Addr().AsSlice(),
				net.IPv4(10, 99, 0, 99), 9, 9, make([]byte, size-42))
			var stop atomic.Bool
			var sent atomic.Uint64
			done := make(chan error, 1)
			go func() {
				_, err := tx.Flood([][]byte{frame}, &stop, &sent)
				done <- err
			}()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var seen uint64
			for b.Loop() {
				for seen == 0 {
					seen = sent.Swap(0)
				}
				seen--
			}
			elapsed := b.Elapsed()
			stop.Store(true)
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pkt/s")
		})
	}
}
