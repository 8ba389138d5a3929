package bench

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/bench/gen"
	"github.com/sluicenet/sluice/dataplane/dptest"
)

// benchNamespaces lists the lab namespaces sluice-bench has made.
func benchNamespaces(t *testing.T) map[string]bool {
	t.Helper()
	ents, err := os.ReadDir("/var/run/netns")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "sluice-bench-") {
			out[e.Name()] = true
		}
	}
	return out
}

// TestLabAFXDPRun is a short `sluice-bench afxdp` with each transmitter: a
// paced count of frames of every kind, so nothing may be lost, and the
// worker on the AF_XDP port must count exactly what the generator sent.
// The lab it creates must be gone afterwards.
func TestLabAFXDPRun(t *testing.T) {
	dptest.RequireRoot(t)
	before := benchNamespaces(t)
	for _, txKind := range []string{"afxdp", "afpacket"} {
		t.Run(txKind, func(t *testing.T) {
			row, err := AFXDP(AFXDPOptions{
				Scenario: gen.Scenario{SAs: 2, Sessions: 2, Sizes: gen.IMIX, Mix: everyKind, NATT: txKind == "afpacket"},
				Rounds:   1, Count: 3000, Rate: 30000, TX: txKind,
			})
			if err != nil {
				t.Fatal(err)
			}
			if row.Lost != 0 || !row.Exact {
				t.Fatalf("lost %d, exact %v: %s", row.Lost, row.Exact, row.Mismatch)
			}
			if row.Delivered == 0 || row.Punted == 0 || row.Drops["malformed"] == 0 {
				t.Errorf("delivered %d, punted %d, drops %v: every outcome should occur", row.Delivered, row.Punted, row.Drops)
			}
			if row.PPS <= 0 || row.BasePPS <= 0 || row.OfferedPPS <= 0 {
				t.Errorf("rates not measured: %+v", row)
			}
			// Allocations here are process-wide and, in a Count round,
			// include the runtime starting threads for the round's locked
			// goroutines (tens per round, whatever the frame count); the
			// per-packet paths are proven allocation-free by
			// TestWorkerBurstAllocs and the generator and transmitter tests.
			if row.AllocsPerPkt > 0.05 {
				t.Errorf("%v allocations per packet", row.AllocsPerPkt)
			}
		})
	}
	after := benchNamespaces(t)
	for ns := range after {
		if !before[ns] {
			t.Errorf("namespace %s left behind", ns)
		}
	}
}

// TestLabAFXDPFullSpeed runs unpaced: frames may be lost before the worker
// when it falls behind, but what it counts must then add up with the loss.
func TestLabAFXDPFullSpeed(t *testing.T) {
	dptest.RequireRoot(t)
	row, err := AFXDP(AFXDPOptions{Scenario: gen.Scenario{Sizes: gen.Fixed(64), Mix: everyKind},
		Rounds: 1, Round: 200 * time.Millisecond, Warmup: 50 * time.Millisecond, Pin: true})
	if err != nil {
		t.Fatal(err)
	}
	if !row.Exact && !row.Consistent {
		t.Fatalf("counts neither exact nor consistent with the loss: %s", row.Mismatch)
	}
	if row.PPS <= 0 || row.BasePPS <= 0 {
		t.Fatalf("rates not measured: %+v", row)
	}
}
