package bench

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicenet/sluice/bench/gen"
	"github.com/sluicenet/sluice/bench/tx"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/afxdp"
	"github.com/sluicenet/sluice/dataplane/dptest"
)

// afxdpRates holds the bare rate per size measured earlier in this run,
// for the dataplane sub-benchmark's ratio.
var afxdpRates = map[string]float64{}

// BenchmarkAFXDP is `sluice-bench afxdp` in go test form: on a veth lab,
// the generator floods ESP-in-L2TP frames from the client end through a
// TX-only AF_XDP port; on the server end one op is one frame received,
// either by the bare receive-and-drop loop (bare program; the baseline) or
// by a dataplane worker's Burst (steering program, generic mode). The
// dataplane sub-benchmark reports pps-ratio against the bare rate of the
// same size measured just before it in the same run, and loss, the share
// of offered frames that never reached the socket.
func BenchmarkAFXDP(b *testing.B) {
	dptest.RequireRoot(b)
	for _, size := range []int{64, 1400} {
		for _, stage := range []string{"bare", "dataplane"} {
			b.Run(fmt.Sprintf("%s/%dB", stage, size), func(b *testing.B) {
				benchAFXDP(b, stage == "dataplane", size)
			})
		}
	}
}

func benchAFXDP(b *testing.B, dp bool, size int) {
	lab, err := NewLab(LabMTU)
	if err != nil {
		b.Fatal(err)
	}
	defer lab.Close()
	g, err := gen.New(gen.Scenario{Sizes: gen.Fixed(size), ServerMAC: lab.Server.MAC, ClientMAC: lab.Client.MAC,
		Interface: lab.Server.If, Driver: "afxdp", XDPMode: "generic"})
	if err != nil {
		b.Fatal(err)
	}
	comp, err := Compile(g)
	if err != nil {
		b.Fatal(err)
	}
	po := afxdp.DefaultOptions(lab.Server.If)
	po.XDPMode, po.Bare = afxdp.ModeGeneric, !dp
	var port *afxdp.Port
	var sender *tx.XDP
	if err := lab.Server.NS.Do(func() (err error) { port, err = afxdp.Open(po); return }); err != nil {
		b.Fatal(err)
	}
	defer port.Close()
	if err := lab.Client.NS.Do(func() (err error) { sender, err = tx.OpenXDP(lab.Client.If); return }); err != nil {
		b.Fatal(err)
	}
	defer sender.Close()
	st, _ := g.NewStream(0, 1)
	var stop atomic.Bool
	var sent atomic.Uint64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = tx.Run(sender, st, tx.Options{Stop: &stop, Sent: &sent})
	}()
	defer func() { stop.Store(true); wg.Wait() }()

	recv := port.Drop
	if dp {
		w := dataplane.NewWorker(dataplane.WorkerOptions{Port: port, Tables: &comp.Tables, Idle: dataplane.IdleBusy, CPU: -1})
		recv = w.Burst
	}
	deadline := time.Now().Add(5 * time.Second)
	for recv() == 0 {
		if time.Now().After(deadline) {
			b.Fatal("no frame reached the server port")
		}
	}
	sent0, got := sent.Load(), 0
	b.SetBytes(int64(size))
	b.ReportAllocs()
	credit := 0
	for b.Loop() {
		for credit == 0 {
			credit = recv()
			got += credit
		}
		credit--
	}
	el := b.Elapsed()
	b.StopTimer()
	offered := sent.Load() - sent0
	pps := float64(b.N) / el.Seconds()
	b.ReportMetric(pps, "pkt/s")
	key := fmt.Sprint(size)
	if !dp {
		afxdpRates[key] = pps
	} else if base := afxdpRates[key]; base > 0 {
		b.ReportMetric(pps/base, "pps-ratio")
	}
	if offered > 0 && uint64(got) <= offered {
		b.ReportMetric(1-float64(got)/float64(offered), "loss")
	}
}
