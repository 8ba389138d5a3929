package bench

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/bench/gen"
	"github.com/sluicenet/sluice/bench/tx"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/afxdp"
)

// AFXDP measures the dataplane on a veth lab: the generator on the client
// end (AF_XDP or AF_PACKET TX), one real worker on an AF_XDP port with the
// steering program in generic mode on the server end. Its baseline is a
// bare AF_XDP receive-and-drop on the same veth (the bare program, which
// redirects everything, and the port's DropLoop), with the same sender,
// alternating with dataplane rounds. Over the dataplane rounds the worker
// must count exactly what the generator sent, less what the kernel could
// not hand to the socket (reported as lost). Needs root.
//
// On a veth in generic mode the sender's core does the kernel's work for
// both ends (transmit, the XDP program, the copy into the receiver's UMEM);
// the receiver's core only polls rings. So the bare rate is usually the
// sender's, and the ratio says whether the dataplane keeps up with it.
func AFXDP(o AFXDPOptions) (Row, error) {
	o.defaults()
	lab := o.Lab
	if lab == nil {
		var err error
		if lab, err = NewLab(LabMTU); err != nil {
			return Row{}, err
		}
		defer lab.Close()
	}
	sc := o.Scenario
	sc.ServerMAC, sc.ClientMAC = lab.Server.MAC, lab.Client.MAC
	sc.Interface, sc.Driver, sc.XDPMode = lab.Server.If, "afxdp", "generic"
	g, err := gen.New(sc)
	if err != nil {
		return Row{}, err
	}
	comp, err := Compile(g)
	if err != nil {
		return Row{}, err
	}
	var sender tx.Transmitter
	if err := lab.Client.NS.Do(func() error {
		var err error
		if o.TX == "afpacket" {
			sender, err = tx.OpenPacket(lab.Client.If, 0)
		} else {
			sender, err = tx.OpenXDP(lab.Client.If)
		}
		return err
	}); err != nil {
		return Row{}, fmt.Errorf("sender: %w", err)
	}
	defer sender.Close()
	st, err := g.NewStream(0, 1)
	if err != nil {
		return Row{}, err
	}
	// The sender and the receiver are locked to their threads and busy;
	// one more P lets the other goroutines (the measurement, the punt
	// drain) run without preempting them, which would make the runtime
	// hand Ps between threads (and allocate Ms) in the measured window.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(runtime.NumCPU() + 1))
	r := &afxdpRun{o: o, lab: lab, comp: comp, sender: sender, st: st}
	if err := r.open(); err != nil {
		return Row{}, err
	}
	defer r.close()
	var dpWins, baseWins []window
	var got dataplane.Counts
	var sent gen.Counts
	var lost, offered, baseOffered, fillEmpty, ringFull uint64
	var offeredT, baseOfferedT time.Duration
	for i := 0; i < o.Rounds; i++ {
		w, err := r.round(true)
		if err != nil {
			return Row{}, err
		}
		dpWins = append(dpWins, w.window)
		got.Add(&w.counts)
		sent.Add(&w.sent)
		lost += w.lost
		fillEmpty += w.port.FillRingEmpty
		ringFull += w.port.RxRingFull
		offered += w.offered
		offeredT += w.elapsed
		if o.Progress != nil {
			o.Progress()
		}
		b, err := r.round(false)
		if err != nil {
			return Row{}, err
		}
		baseWins = append(baseWins, b.window)
		baseOffered += b.offered
		baseOfferedT += b.elapsed
		if o.Progress != nil {
			o.Progress()
		}
	}
	row := newRow(g, 1, o.Rounds)
	fillRow(&row, dpWins, baseWins)
	row.Lost = lost
	if offeredT > 0 {
		row.OfferedPPS = float64(offered) / offeredT.Seconds()
	}
	if baseOfferedT > 0 {
		row.BaseOfferedPPS = float64(baseOffered) / baseOfferedT.Seconds()
	}
	account(&row, sent, &got)
	if lost > 0 {
		row.Exact = false
		row.Mismatch = fmt.Sprintf("%d of %d frames lost before the worker (kernel: fill ring empty %d, rx ring full %d times)",
			lost, sent.Total(), fillEmpty, ringFull)
		if err := gen.Expect(sent).CheckLossy(&got, lost); err != nil {
			row.Mismatch += "; and the counters are inconsistent: " + err.Error()
		} else {
			row.Consistent = true
		}
	}
	return row, nil
}

// afxdpRun is one scenario's lab state: one socket on the server end's
// queue 0, registered in both the steering and the bare program, and the
// program of the round attached in generic mode. Swapping the program is
// one atomic netlink call: no socket, UMEM or program is made or torn down
// between rounds (dataplane/afxdp's rx benchmark does the same).
type afxdpRun struct {
	o           AFXDPOptions
	lab         *Lab
	comp        *Compiled
	sender      tx.Transmitter
	st          *gen.Stream
	port        *afxdp.Port
	steer, bare *afxdp.Program
}

// Server port rings: deeper than the defaults, so a receiver descheduled
// for a few milliseconds on a shared CPU (8192 frames are 10ms at 800k
// frames/s) does not turn into loss, for the dataplane and the baseline
// alike.
const (
	labRing   = 8192
	labFrames = 2 * labRing
)

// open loads both programs, attaches the steering one and opens the
// server port registered in both.
func (r *afxdpRun) open() (err error) {
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if r.steer, err = afxdp.LoadProgram(afxdp.ProgramOptions{}); err != nil {
		return err
	}
	if r.bare, err = afxdp.LoadProgram(afxdp.ProgramOptions{Bare: true}); err != nil {
		return err
	}
	if err := r.swap(r.steer); err != nil {
		return err
	}
	po := afxdp.DefaultOptions(r.lab.Server.If)
	po.Program = r.steer
	po.NumFrames, po.FillRingSize, po.RxRingSize = labFrames, labRing, labRing
	if err := r.lab.Server.NS.Do(func() (err error) { r.port, err = afxdp.Open(po); return err }); err != nil {
		return fmt.Errorf("server port: %w", err)
	}
	return r.bare.Register(0, r.port.FD())
}

// swap attaches prog to the server end in generic mode, atomically
// replacing the program there (nil: detach).
func (r *afxdpRun) swap(prog *afxdp.Program) error {
	return r.lab.Server.NS.Do(func() error {
		link, err := netlink.LinkByName(r.lab.Server.If)
		if err != nil {
			return err
		}
		fd := -1
		if prog != nil {
			fd = prog.BPF().FD()
		}
		if err := netlink.LinkSetXdpFdWithFlags(link, fd, unix.XDP_FLAGS_SKB_MODE); err != nil {
			return fmt.Errorf("attach XDP program to %s: %w", r.lab.Server.If, err)
		}
		return nil
	})
}

// close detaches whatever program is attached and releases the port and
// the programs.
func (r *afxdpRun) close() {
	_ = r.swap(nil)
	if r.port != nil {
		_ = r.port.Close()
	}
	for _, p := range []*afxdp.Program{r.steer, r.bare} {
		if p != nil {
			_ = p.Close()
		}
	}
}

// roundResult is one round: its measured window, and for dataplane rounds
// the accounting.
type roundResult struct {
	window
	counts  dataplane.Counts
	sent    gen.Counts
	lost    uint64
	offered uint64              // frames the sender handed over during the window
	port    dataplane.PortStats // what the server port's drop counters gained in the round
}

// round runs one dataplane (dp) or baseline round.
func (r *afxdpRun) round(dp bool) (roundResult, error) {
	var res roundResult
	prog := r.bare
	if dp {
		prog = r.steer
	}
	if err := r.swap(prog); err != nil {
		return res, err
	}
	port := r.port
	stats0 := port.Stats()

	rxCPU, txCPU := 1%runtime.NumCPU(), 0
	var rxWG, txWG sync.WaitGroup
	var rxStop, txStop atomic.Bool
	var received atomic.Uint64
	var worker *dataplane.Worker
	var punts *dataplane.PuntQueue
	if dp {
		punts = dataplane.NewPuntQueue(8192)
		worker = dataplane.NewWorker(dataplane.WorkerOptions{
			Port: port, Tables: &r.comp.Tables, Punts: punts, Idle: dataplane.IdleBusy, CPU: -1,
		})
		rxWG.Add(1)
		go runLocked(&rxWG, r.o.Pin, rxCPU, worker.Run)
		// The control plane's side of the punt queue: drained, not
		// answered, on a goroutine that sleeps most of the time.
		rxWG.Add(1)
		go func() {
			defer rxWG.Done()
			for !rxStop.Load() {
				for punts.Peek() != nil {
					punts.Advance()
				}
				time.Sleep(time.Millisecond)
			}
		}()
	} else {
		// Drop only hands RX descriptors back to the fill ring; frames a
		// worker released in the previous round wait on the free stack. An
		// empty Recv puts them on the fill ring first, or a round after a
		// lossy one could start with an empty fill ring and nothing to
		// drop, ever.
		port.Recv(nil)
		rxWG.Add(1)
		go runLocked(&rxWG, r.o.Pin, rxCPU, func() { bareLoop(port, &rxStop, &received) })
	}
	rxCount := func() uint64 {
		if dp {
			return worker.Counts()[dataplane.StatRxPackets]
		}
		return received.Load()
	}

	before := r.st.Counts()
	var sentNow atomic.Uint64
	var txErr error
	txWG.Add(1)
	go runLocked(&txWG, r.o.Pin, txCPU, func() {
		_, txErr = tx.Run(r.sender, r.st, tx.Options{PPS: r.o.Rate, Count: r.o.Count, Stop: &txStop, Sent: &sentNow})
	})
	if r.o.Count > 0 {
		// Whole-round measurement: from the start to the last frame.
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		m0, t0 := ms.Mallocs, time.Now()
		txWG.Wait()
		settle(rxCount)
		runtime.ReadMemStats(&ms)
		res.window = window{frames: rxCount(), mallocs: ms.Mallocs - m0, elapsed: time.Since(t0)}
		res.offered, res.elapsed = sentNow.Load(), time.Since(t0)
	} else {
		o := PipelineOptions{Round: r.o.Round, Warmup: r.o.Warmup}
		var s0, s1 uint64
		res.window = measure(o, func() (uint64, uint64) {
			s0, s1 = s1, sentNow.Load()
			var payload uint64
			if dp {
				payload = worker.Counts()[dataplane.StatDeliveredBytes]
			}
			return rxCount(), payload
		})
		res.offered = s1 - s0
		txStop.Store(true)
		txWG.Wait()
		settle(rxCount)
	}
	rxStop.Store(true)
	if dp {
		worker.Stop()
	}
	rxWG.Wait()
	if txErr != nil {
		return res, fmt.Errorf("sender: %w", txErr)
	}
	st := port.Stats()
	res.port = dataplane.PortStats{FillRingEmpty: st.FillRingEmpty - stats0.FillRingEmpty, RxRingFull: st.RxRingFull - stats0.RxRingFull,
		RxDropped: st.RxDropped - stats0.RxDropped}
	if res.frames == 0 {
		// Nothing reached the receiver in the measured time: say what the
		// two ends saw rather than report a rate of zero.
		return res, fmt.Errorf("no frame received in the measured time (dataplane %v): sender %+v, sent %d, server port %+v",
			dp, r.sender.Stats(), sentNow.Load(), res.port)
	}
	if dp {
		after := r.st.Counts()
		for k := range after.Frames {
			res.sent.Frames[k] = after.Frames[k] - before.Frames[k]
			res.sent.Bytes[k] = after.Bytes[k] - before.Bytes[k]
			res.sent.Payload[k] = after.Payload[k] - before.Payload[k]
		}
		res.counts = worker.Counts()
		res.lost = res.sent.Total() - res.counts[dataplane.StatRxPackets]
	}
	return res, nil
}

// bareLoop is the baseline receiver: dataplane/afxdp's Drop, which hands
// RX descriptors straight back to the fill ring without building frames.
func bareLoop(port *afxdp.Port, stop *atomic.Bool, count *atomic.Uint64) {
	port.DropLoop(stop, count)
}

// settle waits until count stops moving (frames in flight on the veth and
// in the RX ring have been taken), at most a second.
func settle(count func() uint64) {
	last, quiet := count(), 0
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline) && quiet < 10; {
		time.Sleep(5 * time.Millisecond)
		if c := count(); c != last {
			last, quiet = c, 0
		} else {
			quiet++
		}
	}
}
