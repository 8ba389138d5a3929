package tx

import (
	"fmt"
	"time"

	"github.com/sluicenet/sluice/bench/gen"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/afxdp"
)

// XDP transmits through a TX-only AF_XDP port (dataplane/afxdp): the
// generator writes each frame straight into a UMEM chunk lent by Alloc and
// Send puts it on the TX ring, so a frame is copied once, by the kernel
// into the skb (copy mode, as on veth) or by nobody (zero-copy drivers).
type XDP struct {
	port    *afxdp.Port
	own     bool
	fs      [Batch]dataplane.Frame
	fis     [Batch]gen.FrameInfo
	pending int // frames in fs[:pending] written but not yet accepted by Send
	queued  uint64
}

// OpenXDP opens a TX-only AF_XDP port on queue 0 of ifname, in the calling
// goroutine's network namespace (call it inside Netns.Do for a lab end).
func OpenXDP(ifname string) (*XDP, error) {
	o := afxdp.DefaultOptions(ifname)
	o.TxOnly = true
	p, err := afxdp.Open(o)
	if err != nil {
		return nil, fmt.Errorf("tx: %w", err)
	}
	return &XDP{port: p, own: true}, nil
}

// NewXDP transmits on an already open TX-only port; Close leaves it open.
func NewXDP(p *afxdp.Port) *XDP { return &XDP{port: p} }

// Transmit implements Transmitter. Allocates nothing.
func (x *XDP) Transmit(st *gen.Stream, max int) (int, error) {
	want := min(max, Batch-x.pending)
	written := 0
	if want > 0 {
		got := x.port.Alloc(x.fs[x.pending : x.pending+want])
		for i := x.pending; i < x.pending+got; i++ {
			f := &x.fs[i]
			n, _ := st.Next(f.Buf[f.Off:])
			if n == 0 {
				// A frame longer than the chunk: a misconfigured generator.
				x.port.Release(x.fs[i : x.pending+got])
				got = i - x.pending
				break
			}
			f.Len = n
			x.fis[i] = st.Last()
		}
		x.pending += got
		written = got
	}
	if x.pending == 0 {
		return written, nil
	}
	sent := x.port.Send(x.fs[:x.pending])
	x.queued += uint64(sent)
	if sent > 0 {
		rest := x.pending - sent
		copy(x.fs[:rest], x.fs[sent:x.pending])
		copy(x.fis[:rest], x.fis[sent:x.pending])
		x.pending = rest
	}
	return written, nil
}

// Finish implements Transmitter.
func (x *XDP) Finish(st *gen.Stream, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for x.pending > 0 && time.Now().Before(deadline) {
		if _, err := x.Transmit(st, 0); err != nil {
			return err
		}
	}
	if x.pending > 0 {
		for i := 0; i < x.pending; i++ {
			st.Unsend(x.fis[i])
		}
		x.port.Release(x.fs[:x.pending])
		x.pending = 0
	}
	for x.port.Stats().TxCompleted < x.queued && time.Now().Before(deadline) {
		// An empty Recv reaps completions and kicks what the last kick
		// left on the TX ring (copy mode sends 32 frames per sendto).
		x.port.Recv(x.fs[:0])
		time.Sleep(100 * time.Microsecond)
	}
	if c := x.port.Stats().TxCompleted; c < x.queued {
		return fmt.Errorf("tx: %d of %d frames not completed after %v", x.queued-c, x.queued, timeout)
	}
	return nil
}

// Stats implements Transmitter.
func (x *XDP) Stats() Stats {
	return Stats{Queued: x.queued, Completed: x.port.Stats().TxCompleted}
}

// Port returns the AF_XDP port.
func (x *XDP) Port() *afxdp.Port { return x.port }

// Close implements Transmitter.
func (x *XDP) Close() error {
	if x.own {
		return x.port.Close()
	}
	return nil
}
