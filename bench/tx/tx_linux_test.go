package tx

import (
	"bytes"
	"testing"
	"time"

	"github.com/sluicenet/sluice/bench/gen"
	"github.com/sluicenet/sluice/dataplane/dptest"
)

// labScenario is a scenario addressed to a lab's two ends.
func labScenario(lab *dptest.VethLab) gen.Scenario {
	return gen.Scenario{
		SAs: 2, Sizes: gen.IMIX, Seed: 9,
		Mix:       gen.Mix{gen.KindESPData: 7000, gen.KindClearData: 1000, gen.KindBadICV: 1000, gen.KindJunk: 1000},
		ServerMAC: lab.Server.MAC, ClientMAC: lab.Client.MAC,
		Server: lab.Server.Addr4.Addr(), Client: lab.Client.Addr4.Addr(),
	}
}

// TestVethTransmitters sends generated frames with each transmitter from
// the client end of a veth lab and captures them with a plain AF_PACKET
// socket on the server end: every frame arrives, byte for byte what a
// second stream of the same generator writes, and the stream counts
// exactly what was sent.
func TestVethTransmitters(t *testing.T) {
	dptest.RequireRoot(t)
	for _, kind := range []string{"afpacket", "afxdp"} {
		t.Run(kind, func(t *testing.T) {
			lab := dptest.NewVethLab(t, nil)
			g, err := gen.New(labScenario(lab))
			if err != nil {
				t.Fatal(err)
			}
			cap, err := dptest.OpenPacketSocket(lab.Server.NS, lab.Server.If)
			if err != nil {
				t.Fatal(err)
			}
			defer cap.Close()
			var tr Transmitter
			err = lab.Client.NS.Do(func() error {
				var err error
				if kind == "afpacket" {
					tr, err = OpenPacket(lab.Client.If, 256)
				} else {
					tr, err = OpenXDP(lab.Client.If)
				}
				return err
			})
			if err != nil {
				t.Fatalf("open %s: %v", kind, err)
			}
			defer tr.Close()
			const n = 300
			// Capture concurrently: the socket's receive buffer holds far
			// fewer than n full-size frames.
			type rx struct {
				frames [][]byte
				err    error
			}
			rxc := make(chan rx, 1)
			go func() {
				var r rx
				buf := make([]byte, 4096)
				for len(r.frames) < n {
					l, err := cap.Recv(buf, 3*time.Second)
					if err != nil {
						r.err = err
						break
					}
					// The kernels emit frames of their own (ARP, IPv6
					// neighbour discovery): ours are IPv4 from the client.
					if l >= 34 && bytes.Equal(buf[6:12], lab.Client.MAC) && buf[12] == 0x08 && buf[13] == 0 &&
						bytes.Equal(buf[26:30], lab.Client.Addr4.Addr().AsSlice()) {
						r.frames = append(r.frames, append([]byte(nil), buf[:l]...))
					}
				}
				rxc <- r
			}()
			st, _ := g.NewStream(0, 1)
			// Paced so the capture goroutine keeps up even under -race.
			res, err := Run(tr, st, Options{Count: n, PPS: 5000})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if c := st.Counts(); res.Sent != n || c.Total() != n {
				t.Fatalf("sent %d, stream counts %d; want %d", res.Sent, c.Total(), n)
			}
			if s := tr.Stats(); s.Completed != n || s.Failed != 0 {
				t.Fatalf("stats %+v: want %d completed, none failed", s, n)
			}
			r := <-rxc
			if r.err != nil {
				t.Fatalf("captured %d of %d frames: %v", len(r.frames), n, r.err)
			}
			// Steady state: a Transmit call allocates nothing (the ring may
			// be full by now; that path must not allocate either).
			if a := testing.AllocsPerRun(50, func() {
				if _, err := tr.Transmit(st, 8); err != nil {
					t.Fatal(err)
				}
			}); a != 0 && !raceEnabled {
				t.Errorf("%v allocations per Transmit, want 0", a)
			}
			replica, _ := g.NewStream(0, 1)
			want := make([]byte, g.MaxFrameLen())
			for i, got := range r.frames {
				wl, _ := replica.Next(want)
				if !bytes.Equal(got, want[:wl]) {
					t.Fatalf("frame %d (%v): received %d bytes that differ from the %d generated", i, replica.Last().Kind, len(got), wl)
				}
			}
		})
	}
}
