package afxdp

import (
	"testing"
	"time"

	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/dptest"
)

// TestHotPathZeroAllocs measures heap allocations of Recv, Release, Alloc,
// Send, Wait and Drop on a live socket with frames flowing: each must be
// zero. The client's datagrams are sent beforehand (its socket writes
// would count too: AllocsPerRun reads process-wide statistics), and the
// test fails if the measured calls moved no frames.
func TestHotPathZeroAllocs(t *testing.T) {
	dptest.RequireRoot(t)
	lab := dptest.NewVethLab(t, nil)
	p := openIn(t, lab.Server.NS, DefaultOptions(lab.Server.If))
	c := udpFrom(t, lab.Client.NS, "udp4", dptest.ServerAddr4.Addr().String(), 4500)
	preload := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if _, err := c.Write([]byte("zero-alloc")); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(2 * time.Second)
		for p.rx.consumable(uint32(n)) < uint32(n) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if got := p.rx.consumable(uint32(n)); got < uint32(n) {
			t.Fatalf("only %d of %d frames in the RX ring", got, n)
		}
	}
	const runs = 100
	fs := make([]dataplane.Frame, 8)

	preload(runs * len(fs))
	received := 0
	if a := testing.AllocsPerRun(runs, func() {
		n := p.Recv(fs)
		received += n
		p.Release(fs[:n])
	}); a != 0 {
		t.Errorf("Recv+Release: %v allocations per call", a)
	}
	if received < runs*len(fs) {
		t.Fatalf("Recv+Release moved %d frames, want %d", received, runs*len(fs))
	}

	frame := buildUDP4(t, lab.Server.MAC, lab.Client.MAC, dptest.ServerAddr4.Addr().AsSlice(),
		dptest.ClientAddr4.Addr().AsSlice(), 4500, 40000, []byte("zero-alloc tx"))
	sent := 0
	if a := testing.AllocsPerRun(runs, func() {
		n := p.Alloc(fs[:4])
		for i := 0; i < n; i++ {
			fs[i].Len = copy(fs[i].Buf[fs[i].Off:], frame)
		}
		k := p.Send(fs[:n])
		p.Release(fs[k:n])
		sent += k
	}); a != 0 {
		t.Errorf("Alloc+Send: %v allocations per call", a)
	}
	if sent < runs*4 {
		t.Fatalf("Alloc+Send sent %d frames, want %d", sent, runs*4)
	}

	if a := testing.AllocsPerRun(10, func() { p.Wait(time.Millisecond) }); a != 0 {
		t.Errorf("Wait: %v allocations per call", a)
	}

	preload(runs * 8)
	dropped := 0
	if a := testing.AllocsPerRun(runs, func() { dropped += p.Drop() }); a != 0 {
		t.Errorf("Drop: %v allocations per call", a)
	}
	if dropped < runs*8 {
		t.Fatalf("Drop dropped %d frames, want %d", dropped, runs*8)
	}
	if s := p.Counters(); s.BadFrames != 0 || s.KickErrors != 0 {
		t.Errorf("counters %+v", s)
	}
}
