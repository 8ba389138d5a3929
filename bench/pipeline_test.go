package bench

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicenet/sluice/bench/gen"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/mem"
	"github.com/sluicenet/sluice/ipsec"
)

// everyKind has every frame kind the generator makes.
var everyKind = gen.Mix{
	gen.KindESPData: 6000, gen.KindESPHello: 500, gen.KindClearData: 1000, gen.KindClearHello: 500,
	gen.KindBadICV: 1000, gen.KindUnknownSPI: 500, gen.KindJunk: 500,
}

// TestPipelineRun is a short `sluice-bench pipeline`: two workers on mem
// ports, every frame kind, several rounds. The dataplane must count exactly
// what the generator sent, by kind and reason (the generator's own
// expectation, not numbers copied from an earlier run), with no heap
// allocation in the measured windows, and the baseline must have run.
func TestPipelineRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		sc   gen.Scenario
	}{
		{"gcm-natt-imix", gen.Scenario{SAs: 3, Sessions: 2, Sizes: gen.IMIX, NATT: true, Mix: everyKind}},
		{"gcm-fresh-replay", gen.Scenario{Proposal: ipsec.AES256GCM16, SAs: 4, Sizes: gen.Fixed(1400), IPv6: true, Mix: everyKind, ReplayWindow: 1024, FreshSeq: true}},
		{"cbc-sha1", gen.Scenario{Proposal: ipsec.AES128SHA1, SAs: 2, Sizes: gen.Fixed(64), Mix: everyKind}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps := 0
			row, err := Pipeline(PipelineOptions{Scenario: tc.sc, Workers: 2, Rounds: 2, Round: 60 * time.Millisecond,
				Warmup: 20 * time.Millisecond, Progress: func() { steps++ }})
			if err != nil {
				t.Fatal(err)
			}
			if !row.Exact {
				t.Fatalf("counts not exact: %s", row.Mismatch)
			}
			for k := gen.Kind(0); k < gen.NumKinds; k++ {
				if row.Sent[k.String()] == 0 {
					t.Errorf("no %v frame sent", k)
				}
			}
			if row.Delivered == 0 || row.Punted == 0 || row.Drops["l2tp-cleartext"] == 0 || row.Drops["esp-auth-failed"] == 0 {
				t.Errorf("delivered %d, punted %d, drops %v: every outcome should occur", row.Delivered, row.Punted, row.Drops)
			}
			if row.Drops["esp-replay"] != 0 {
				t.Errorf("%d esp-replay drops", row.Drops["esp-replay"])
			}
			// Process-wide count: the runtime may allocate an M or two per
			// window when it preempts a locked worker thread; anything per
			// packet would be thousands. TestWorkerBurstAllocs is the exact
			// zero.
			if row.AllocsPerPkt > 1e-4 && !raceEnabled {
				t.Errorf("%v heap allocations per packet in the measured windows", row.AllocsPerPkt)
			}
			if row.PPS <= 0 || row.BasePPS <= 0 || row.Ratio <= 0 || row.NsPerPacket <= 0 || row.Gbps <= 0 {
				t.Errorf("rates not measured: %+v", row)
			}
			if steps != 4 {
				t.Errorf("progress called %d times, want 4 (2 rounds × 2 halves)", steps)
			}
		})
	}
}

// TestWorkerBurstAllocs: the path a pipeline run measures (mem port with
// the generator as Source, punt drain, worker burst through every stage)
// allocates nothing per burst, for every frame kind.
func TestWorkerBurstAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under -race")
	}
	for _, sc := range []gen.Scenario{
		{SAs: 3, Sessions: 2, Sizes: gen.IMIX, NATT: true, Mix: everyKind},
		{Proposal: ipsec.AES128SHA256, SAs: 2, Sizes: gen.IMIX, IPv6: true, Mix: everyKind},
		{Proposal: ipsec.AES256GCM16, SAs: 2, Sizes: gen.Fixed(1400), Mix: everyKind, ReplayWindow: 1024, FreshSeq: true},
	} {
		g, err := gen.New(sc)
		if err != nil {
			t.Fatal(err)
		}
		comp, err := Compile(g)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := g.NewStream(0, 1)
		var stop atomic.Bool
		punts := dataplane.NewPuntQueue(dataplane.DefaultPuntDepth)
		port := mem.New(mem.Options{Name: g.Scenario().Interface, Source: source(st, punts, &stop)})
		w := dataplane.NewWorker(dataplane.WorkerOptions{Port: port, Tables: &comp.Tables, Punts: punts, CPU: -1})
		for range 8 { // warm: pools, first snapshot
			w.Burst()
		}
		if a := testing.AllocsPerRun(200, func() { w.Burst() }); a != 0 {
			t.Errorf("%v: %v allocations per burst of %d frames, want 0", g, a, dataplane.BatchSize)
		}
		got, sent := w.Counts(), st.Counts()
		if err := gen.Expect(sent).Check(&got); err != nil {
			t.Errorf("%v: %v", g, err)
		}
	}
}

// TestAccountDetectsMismatch: a dataplane that lost one delivered frame is
// reported, not papered over.
func TestAccountDetectsMismatch(t *testing.T) {
	var sent gen.Counts
	sent.Frames[gen.KindESPData], sent.Bytes[gen.KindESPData], sent.Payload[gen.KindESPData] = 10, 1000, 640
	var got dataplane.Counts
	got[dataplane.StatRxPackets], got[dataplane.StatRxBytes] = 10, 1000
	got[dataplane.StatDelivered], got[dataplane.StatDeliveredBytes] = 9, 576
	got[dataplane.StatDrops+dataplane.Stat(dataplane.DropESPReplay)] = 1
	var row Row
	account(&row, sent, &got)
	if row.Exact || !strings.Contains(row.Mismatch, "delivered: got 9, want 10") || !strings.Contains(row.Mismatch, "esp-replay: got 1, want 0") {
		t.Fatalf("exact %v, mismatch %q", row.Exact, row.Mismatch)
	}
	if err := gen.Expect(sent).CheckLossy(&got, 0); err == nil {
		t.Fatal("CheckLossy accepted a replay drop nobody sent")
	}
	got[dataplane.StatRxPackets] = 9
	got[dataplane.StatDrops+dataplane.Stat(dataplane.DropESPReplay)] = 0
	if err := gen.Expect(sent).CheckLossy(&got, 1); err != nil {
		t.Fatalf("one frame lost, nine delivered: %v", err)
	}
}

func TestPipelineRefusesSharedFreshSAs(t *testing.T) {
	_, err := Pipeline(PipelineOptions{Scenario: gen.Scenario{SAs: 1, ReplayWindow: 64, FreshSeq: true}, Workers: 2, Rounds: 1})
	if err == nil || !strings.Contains(err.Error(), "at least as many SAs") {
		t.Fatalf("err = %v, want a hint to raise --sas", err)
	}
}
