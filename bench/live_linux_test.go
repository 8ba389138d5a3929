package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/sluicenet/sluice/bench/gen"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/dptest"
)

// buildSluiced builds the daemon the lab runs, as `make build` would.
func buildSluiced(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sluiced")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/sluicenet/sluice/cmd/sluiced")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build sluiced: %v\n%s", err, out)
	}
	return bin
}

// TestLiveLabE2E is issue #3's end-to-end scenario, for real: the sluiced
// binary on AF_XDP on one end of a veth pair in a namespace, the generator
// on the other end sending ESP-protected L2TP data and control messages and
// cleartext L2TP, plus a TCP connection to the server's kernel. Every
// counter must match what was sent (the generator's own accounting, by
// kind), the TCP connection must work, and nothing may be left behind.
func TestLiveLabE2E(t *testing.T) {
	dptest.RequireRoot(t)
	bin := buildSluiced(t)
	var log strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := RunLive(ctx, LiveOptions{Sluiced: bin, Frames: 3000, PPS: 30000, Log: &log})
	if err != nil {
		t.Fatalf("lab: %v\n%s", err, log.String())
	}
	t.Logf("lab narration:\n%s", log.String())
	if res.Exit != nil {
		t.Errorf("sluiced exited with %v after SIGTERM\n%s", res.Exit, res.DaemonLog)
	}
	if want := "kernel says: hello through sluice's veth"; res.TCPEcho != want {
		t.Errorf("TCP echo = %q, want %q", res.TCPEcho, want)
	}
	e, s := res.Expect, res.Stats
	if e.RxPackets != 3000 {
		t.Errorf("generator accounted %d frames, want 3000", e.RxPackets)
	}
	for _, k := range []gen.Kind{gen.KindESPData, gen.KindESPHello, gen.KindClearData, gen.KindClearHello} {
		if res.Sent.Frames[k] == 0 {
			t.Errorf("the mix sent no %s frame", k)
		}
	}
	var rx, rxBytes uint64
	for _, is := range s.Interfaces {
		rx += is.RxPackets
		rxBytes += is.RxBytes
	}
	if rx != e.RxPackets || rxBytes != e.RxBytes {
		t.Errorf("rx = %d frames %d bytes, want %d, %d (nothing lost, nothing extra)", rx, rxBytes, e.RxPackets, e.RxBytes)
	}
	for r := dataplane.DropReason(0); r < dataplane.NumDropReasons; r++ {
		if s.Drops[r] != e.Drops[r] {
			t.Errorf("drops %s = %d, want %d", r, s.Drops[r], e.Drops[r])
		}
	}
	if s.Punted.L2TPControl != e.Punted {
		t.Errorf("punted.l2tp-control = %d, want %d", s.Punted.L2TPControl, e.Punted)
	}
	var delivered, dbytes uint64
	for _, tun := range s.L2TP.Tunnels {
		for _, ss := range tun.Sessions {
			delivered += ss.Packets
			dbytes += ss.Bytes
		}
	}
	if delivered != e.Delivered || dbytes != e.DeliveredBytes {
		t.Errorf("delivered %d messages %d bytes, want %d, %d", delivered, dbytes, e.Delivered, e.DeliveredBytes)
	}
	in, _ := gen.SANames(0)
	if sa := s.SA[in]; sa.Packets != e.Delivered+e.Punted {
		t.Errorf("sa %s packets = %d, want %d (every ESP frame authenticated)", in, sa.Packets, e.Delivered+e.Punted)
	}
	if s.PassedToKernel == 0 {
		t.Error("passed-to-kernel = 0: the TCP connection's frames should have been passed by the steering program")
	}
	// Nothing left behind: the lab's namespaces (and with them its veth
	// pair and the XDP program on it) are gone, and no link of that name
	// leaked into ours. (Other packages' tests create namespaces in
	// parallel, so only this lab's names are checked.)
	now := netnsNames()
	for _, n := range res.Namespaces {
		if now[n] {
			t.Errorf("namespace %s left behind", n)
		}
	}
	for _, l := range res.Links {
		if _, err := netlink.LinkByName(l); err == nil {
			t.Errorf("link %s left behind", l)
		}
	}
	if !strings.Contains(res.DaemonLog, "detached from every interface") {
		t.Errorf("sluiced did not report detaching:\n%s", res.DaemonLog)
	}
}

func netnsNames() map[string]bool {
	out := map[string]bool{}
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		out[e.Name()] = true
	}
	return out
}
