package control

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicenet/sluice/control/config"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/mem"
	"github.com/sluicenet/sluice/ipsec"
)

// Commit without loss (issue #5, item 4): workers run on mem ports while
// another goroutine commits over and over, changing rules, adding and
// removing SAs and sessions. The traffic is designed so that the packets
// every configuration accepts are known exactly: worker k carries client
// k's L2TP-in-ESP for static tunnel k, whose SA, session and accepting
// rule every variant keeps. Each of those must be delivered, counted once
// by its SA and once by its session, with no refusal of any kind. Mixed in:
// cleartext L2TP (every variant refuses it: l2tp-cleartext), junk with a
// bad IPv4 checksum (malformed), and ESP from a client whose SA and
// session come and go with the commits (accepted or not, never counted as
// a loss).

const flapClient = 100 // its SA and session exist in odd variants only

// variantYAML is configuration variant v for stable clients 1..workers.
func variantYAML(workers, v int) string {
	var b strings.Builder
	b.WriteString("interfaces:\n  eth0: {driver: mem, address: [10.99.0.1]}\n")
	b.WriteString("firewall:\n  name:\n    WAN_LOCAL:\n      default-action: drop\n      rule:\n")
	if v%3 == 0 {
		b.WriteString("        5: {action: drop, protocol: udp, destination: {port: 9999}}\n")
	}
	b.WriteString("        10: {action: accept, protocol: udp, destination: {port: 1701}, ipsec: match-ipsec}\n")
	if v%4 == 1 {
		b.WriteString("        15: {action: accept, protocol: udp, source: {address: [10.99.9.0/24]}, destination: {port: 1701}}\n")
	}
	for k := 0; k < v; k++ {
		fmt.Fprintf(&b, "        %d: {action: accept, protocol: tcp, destination: {port: %d}}\n", 20+k, 2200+k)
	}
	b.WriteString("  interface:\n    eth0: {local: WAN_LOCAL}\n")
	b.WriteString("ipsec:\n  sa:\n")
	sa := func(i int, extra string) {
		fmt.Fprintf(&b, "    in-c%d: {spi: 0x%08x, direction: in, source: %s, destination: 10.99.0.1, proposal: aes128gcm16, enc-key: %s%s}\n",
			i, 0xc000+i, clientAddr(i), keyHex(i), extra)
	}
	for k := 1; k <= workers; k++ {
		sa(k, "")
	}
	if v%2 == 1 {
		window := ""
		if v%4 == 3 {
			window = ", replay-window: 64" // a changed SA: replaced, not kept
		}
		sa(flapClient, window)
	}
	for k := 0; k < 3*v; k++ { // SAs with no traffic come and go
		sa(200+k, "")
	}
	b.WriteString("l2tp:\n  static:\n    tunnel:\n")
	for k := 1; k <= workers; k++ {
		fmt.Fprintf(&b, "      %d: {peer-tunnel: %d, sa: in-c%d, session: {1: {peer-session: 1}}}\n", k, k, k)
	}
	if v%2 == 1 {
		fmt.Fprintf(&b, "      %d: {peer-tunnel: %d, sa: in-c%d, session: {1: {peer-session: %d}}}\n", flapClient, flapClient, flapClient, 1+v)
	}
	return b.String()
}

// sealer encrypts inner packets into Ethernet frames in one reused buffer,
// as fast as a producer goroutine can inject them.
type sealer struct {
	sa    *ipsec.OutboundSA
	inner []byte
	buf   []byte
	head  int
}

func newSealer(sa *ipsec.OutboundSA, inner []byte) *sealer {
	head, tail := sa.Overhead()
	head += len(ethHdr)
	return &sealer{sa: sa, inner: inner, buf: make([]byte, head+len(inner)+tail), head: head}
}

// frame returns a fresh ESP frame (the next sequence number); valid until
// the next call.
func (s *sealer) frame(t testing.TB) []byte {
	copy(s.buf[s.head:], s.inner)
	off, n, r := s.sa.Encap(s.buf, s.head, len(s.inner), 0)
	if r != ipsec.OK {
		t.Errorf("Encap: %v", r)
		return nil
	}
	copy(s.buf[off-len(ethHdr):], ethHdr)
	return s.buf[off-len(ethHdr) : off+n]
}

// sent counts what one producer injected, by kind.
type sent struct {
	stable, flap, cleartext, junk uint64
}

func TestCommitWithoutLoss(t *testing.T) {
	const workers = 2
	perPort := 1_000_000 // 2 million packets in all
	if raceEnabled || testing.Short() {
		perPort = 40_000
	}
	dp := dataplane.New()
	ports := make([]*mem.Port, workers)
	for i := range ports {
		ports[i] = mem.New(mem.Options{Name: "eth0", Queue: i, Frames: 4096})
		dp.AddWorker(dataplane.WorkerOptions{Port: ports[i], CPU: -1, IdleWait: time.Millisecond})
	}
	c := NewController(dp, Options{History: 16})
	const variants = 8
	trees := make([]*config.Tree, variants)
	for v := range trees {
		trees[v] = mustTree(t, variantYAML(workers, v))
		if _, err := trees[v].Config(); err != nil {
			t.Fatalf("variant %d: %v", v, err)
		}
	}
	if _, err := c.Commit(trees[0], "test", "variant 0"); err != nil {
		t.Fatal(err)
	}
	dp.Start()
	defer dp.Stop()

	// Producers: one per port, each its own stable client (so each SA's
	// sequence numbers arrive in order on one worker) and a flapping one.
	counts := make([]sent, workers)
	var wg sync.WaitGroup
	for k := 0; k < workers; k++ {
		stable := newSealer(clientSA(t, k+1), udpPacket(t, clientAddr(k+1), boxAddr, 1701, 1701, l2tpData(uint16(k+1), 64)))
		flapSA, err := ipsec.NewOutboundSA(ipsec.SASpec{Name: "flap", SPI: 0xc000 + flapClient, Direction: ipsec.Out,
			Source: clientAddr(flapClient), Destination: boxAddr, Proposal: ipsec.AES128GCM16, EncKey: mustKey(t, keyHex(flapClient))})
		if err != nil {
			t.Fatal(err)
		}
		// Both producers use the flapping SA: its packets may meet on two
		// workers and be refused as replays; they are not counted anyway.
		flap := newSealer(flapSA, udpPacket(t, clientAddr(flapClient), boxAddr, 1701, 1701, l2tpData(flapClient, 64)))
		clear := cleartextL2TP(t, k+1)
		junk := cleartextL2TP(t, k+1)
		junk[14+10] ^= 0xff
		wg.Add(1)
		go func(k int, port *mem.Port, st *sent) {
			defer wg.Done()
			for i := 0; i < perPort; i++ {
				switch {
				case i%8 == 3:
					inject(port, clear)
					st.cleartext++
				case i%16 == 5:
					inject(port, junk)
					st.junk++
				case i%4 == 1:
					if f := flap.frame(t); f != nil {
						inject(port, f)
						st.flap++
					}
				default:
					if f := stable.frame(t); f != nil {
						inject(port, f)
						st.stable++
					}
				}
			}
		}(k, ports[k], &counts[k])
	}

	// The committer: a different variant every time, as fast as it goes.
	var stop atomic.Bool
	var commits int
	var commitErr error
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		for v := 1; !stop.Load(); v++ {
			if _, err := c.Commit(trees[v%variants], "test", ""); err != nil {
				commitErr = fmt.Errorf("variant %d: %w", v%variants, err)
				return
			}
			commits++
		}
	}()
	wg.Wait()
	stop.Store(true)
	<-done
	elapsed := time.Since(start)
	if commitErr != nil {
		t.Fatal(commitErr)
	}
	var total uint64
	for _, s := range counts {
		total += s.stable + s.flap + s.cleartext + s.junk
	}
	waitFor(t, "the workers to drain their rings", func() bool { return dp.Counts()[dataplane.StatRxPackets] == total })
	dp.Stop()

	drops := dp.Counts()
	var stableSum, cleartext, junk uint64
	for k, s := range counts {
		stableSum += s.stable
		cleartext += s.cleartext
		junk += s.junk
		l := c.live.Load()
		sa := l.inbound[fmt.Sprintf("in-c%d", k+1)]
		sess := l.sessions[dataplane.SessionKey(uint16(k+1), 1)]
		st := sa.Stats()
		p, _ := sess.Counter.Load()
		if st.Packets != s.stable || p != s.stable || st.ReplayDrops != 0 || st.AuthFailures != 0 || st.Malformed != 0 {
			t.Errorf("client %d: sent %d, SA counted %d (replay %d, auth %d, malformed %d), session delivered %d",
				k+1, s.stable, st.Packets, st.ReplayDrops, st.AuthFailures, st.Malformed, p)
		}
	}
	if got := drops.Drop(dataplane.DropL2TPCleartext); got != cleartext {
		t.Errorf("l2tp-cleartext = %d, want %d (every variant refuses each)", got, cleartext)
	}
	if got := drops.Drop(dataplane.DropMalformed); got != junk {
		t.Errorf("malformed = %d, want %d", got, junk)
	}
	if got := drops[dataplane.StatDelivered]; got < stableSum {
		t.Errorf("delivered %d < %d stable packets", got, stableSum)
	}
	if commits < 10 {
		t.Errorf("only %d commits during the run: the test proved little", commits)
	}
	t.Logf("%d packets (%d always-accepted, all delivered; %d flapping, %d delivered) in %v with %d commits: %.0f commits/s, %.0f packets/s",
		total, stableSum, counts[0].flap+counts[1].flap, drops[dataplane.StatDelivered]-stableSum, elapsed.Round(time.Millisecond),
		commits, float64(commits)/elapsed.Seconds(), float64(total)/elapsed.Seconds())
	for r := dataplane.DropReason(0); r < dataplane.NumDropReasons; r++ {
		if n := drops.Drop(r); n > 0 {
			t.Logf("  drop %s: %d", r, n)
		}
	}
	// Known gap, outside the always-accepted class: when a commit replaces
	// an SA in place (variant 3 changes the flapping SA's replay window,
	// keys unchanged), the SADB switches to the new SA object before the
	// snapshot whose session points at it is published, so a packet the
	// new SA decrypts in between meets a session still bound to the old
	// object: l2tp-wrong-sa, although both configurations accept it.
	// TODO(#5): dataplane/pipeline.go should compare the session's SA by
	// identity (name) when the pointers differ.
	if n := drops.Drop(dataplane.DropL2TPWrongSA); n > 0 {
		t.Logf("known gap: %d flapping packets dropped as l2tp-wrong-sa while their SA was replaced in place", n)
	}
}
