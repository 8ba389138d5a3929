package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/bench/gen"
	"github.com/sluicenet/sluice/bench/tx"
	"github.com/sluicenet/sluice/control"
	"github.com/sluicenet/sluice/control/api/client"
)

// Lab addresses: the same /24 as dptest's veth lab.
var (
	liveServer = netip.MustParseAddr("10.99.0.1")
	liveClient = netip.MustParseAddr("10.99.0.2")
)

const liveTCPPort = 7001

// RunLive builds the lab, starts sluiced in the server namespace with the
// generator's configuration (the seed rule 10 with default drop, one
// aes128gcm16 SA pair and a static L2TP tunnel), checks that an ordinary
// TCP connection still reaches the server's kernel, sends the frames, reads
// the daemon's counters through its API, stops the daemon and removes the
// lab. Cancelling ctx (Ctrl-C) stops it early, cleaning up all the same.
// Needs root.
func RunLive(ctx context.Context, o LiveOptions) (res *LiveResult, err error) {
	if o.Frames == 0 {
		o.Frames = 2000
	}
	if o.PPS == 0 {
		o.PPS = 20000
	}
	if o.Mix == (gen.Mix{}) {
		o.Mix[gen.KindESPData] = 7000
		o.Mix[gen.KindESPHello] = 1000
		o.Mix[gen.KindClearData] = 1000
		o.Mix[gen.KindClearHello] = 1000
	}
	if len(o.Sizes.Weights) == 0 {
		o.Sizes = gen.IMIX
	}
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	say := func(format string, args ...any) { fmt.Fprintf(logw, format+"\n", args...) }
	sluiced, err := findSluiced(o.Sluiced)
	if err != nil {
		return nil, err
	}

	lab, err := NewLab(1500)
	if err != nil {
		return nil, err
	}
	srvNS, cliNS := lab.Server.NS.Name, lab.Client.NS.Name
	defer func() {
		if cerr := lab.Close(); cerr != nil && err == nil {
			err = cerr
		}
		say("lab removed: namespaces %s and %s, veth pair", srvNS, cliNS)
	}()
	if err := addAddr(lab.Server, liveServer); err != nil {
		return nil, err
	}
	if err := addAddr(lab.Client, liveClient); err != nil {
		return nil, err
	}
	say("lab: %s (%s, %s) in %s  <-veth->  %s (%s) in %s", lab.Server.If, liveServer, lab.Server.MAC, lab.Server.NS.Name,
		lab.Client.If, liveClient, lab.Client.NS.Name)

	g, err := gen.New(gen.Scenario{
		Interface: lab.Server.If, Driver: "afxdp", Server: liveServer, Client: liveClient,
		ServerMAC: lab.Server.MAC, ClientMAC: lab.Client.MAC,
		Mix: o.Mix, Sizes: o.Sizes, FreshSeq: true, ReplayWindow: 1024, Seed: 1,
	})
	if err != nil {
		return nil, err
	}
	res = &LiveResult{Scenario: g.String(), Namespaces: []string{srvNS, cliNS}, Links: []string{lab.Server.If, lab.Client.If}}
	dir, err := os.MkdirTemp("", "sluice-lab-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "sluice.sock")
	cfg := append(g.Config(), fmt.Sprintf("api:\n  socket: %s\nmetrics:\n  listen: 127.0.0.1:9477\n", sock)...)
	cfgPath := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return nil, err
	}

	// The daemon, in the server namespace: a command started from a thread
	// in that namespace inherits it.
	var dlog lockedBuffer
	cmd := exec.Command(sluiced, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = &dlog, &dlog
	if o.DaemonLog != nil {
		cmd.Stdout = io.MultiWriter(&dlog, o.DaemonLog)
		cmd.Stderr = cmd.Stdout
	}
	if err := lab.Server.NS.Do(cmd.Start); err != nil {
		return nil, fmt.Errorf("start %s: %w", sluiced, err)
	}
	say("sluiced started (pid %d) with %s", cmd.Process.Pid, cfgPath)
	// exited is closed when the daemon has exited; waitErr is then its
	// exit status. A closed channel can be waited on by every select here.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
		res.DaemonLog = dlog.String()
	}()

	api := client.New(sock)
	if err := waitReady(ctx, api, exited); err != nil {
		return res, fmt.Errorf("%w\n%s", err, dlog.String())
	}
	say("sluiced is up: API on %s", sock)

	// An ordinary TCP connection to the server's kernel: the steering
	// program passes it (XDP_PASS), so the box stays reachable.
	if res.TCPEcho, err = tcpEcho(lab); err != nil {
		return res, fmt.Errorf("tcp to the server's kernel: %w", err)
	}
	say("tcp %s -> %s:%d reached the server's kernel, which echoed %q", liveClient, liveServer, liveTCPPort, res.TCPEcho)

	// The generator, in the client namespace.
	st, err := g.NewStream(0, 1)
	if err != nil {
		return res, err
	}
	var stop atomic.Bool
	go func() {
		select {
		case <-ctx.Done():
			stop.Store(true)
		case <-exited:
			stop.Store(true)
		}
	}()
	var txr tx.Result
	err = lab.Client.NS.Do(func() error {
		t, err := tx.OpenPacket(lab.Client.If, 256)
		if err != nil {
			return err
		}
		defer t.Close()
		txr, err = tx.Run(t, st, tx.Options{PPS: o.PPS, Count: o.Frames, Stop: &stop})
		return err
	})
	if err != nil {
		return res, fmt.Errorf("generator: %w", err)
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	res.Sent = st.Counts()
	res.Expect = gen.Expect(res.Sent)
	say("generator sent %d frames in %v (%.0f pkt/s)", txr.Sent, txr.Elapsed.Round(time.Millisecond), txr.PPS())

	// Wait until the daemon has counted every frame (or a deadline).
	deadline := time.Now().Add(5 * time.Second)
	for {
		raw, err := api.Stats(ctx)
		if err != nil {
			return res, fmt.Errorf("read counters: %w", err)
		}
		res.Stats = control.Stats{}
		if err := json.Unmarshal(raw, &res.Stats); err != nil {
			return res, fmt.Errorf("decode counters: %w", err)
		}
		if res.Stats.Interfaces[lab.Server.If].RxPackets >= res.Expect.RxPackets || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		res.Exit = waitErr
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		res.Exit = fmt.Errorf("sluiced did not stop within 15s of SIGTERM: %v", waitErr)
	}
	stopped = true
	say("sluiced stopped")
	return res, nil
}

// findSluiced resolves the daemon binary.
func findSluiced(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "sluiced")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("sluiced")
	if err != nil {
		return "", errors.New("sluiced not found next to sluice-bench or in PATH (run `make build`, or pass --sluiced)")
	}
	return p, nil
}

// addAddr puts a /24 on one end of the lab.
func addAddr(e LabEnd, a netip.Addr) error {
	h, err := netlink.NewHandleAt(e.NS.Handle(), unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(e.If)
	if err != nil {
		return err
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(24, 32)}}
	if err := h.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("lab: address %s on %s: %w", a, e.If, err)
	}
	if lo, err := h.LinkByName("lo"); err == nil {
		_ = h.LinkSetUp(lo)
	}
	return nil
}

// waitReady polls the API until the daemon answers, it exits, or 15 s pass.
func waitReady(ctx context.Context, api *client.Client, exited <-chan struct{}) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := api.Status(ctx); err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("sluiced exited before it was ready")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("sluiced did not answer on its API within 15s")
		}
	}
}

// tcpEcho listens in the server namespace (the server's kernel), connects
// from the client namespace, and returns what came back.
func tcpEcho(lab *Lab) (string, error) {
	var ln net.Listener
	if err := lab.Server.NS.Do(func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(liveServer, liveTCPPort).String())
		return err
	}); err != nil {
		return "", err
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		_, _ = c.Write([]byte("kernel says: " + line))
	}()
	var conn net.Conn
	if err := lab.Client.NS.Do(func() (err error) {
		d := net.Dialer{Timeout: 5 * time.Second}
		conn, err = d.Dial("tcp", netip.AddrPortFrom(liveServer, liveTCPPort).String())
		return err
	}); err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("hello through sluice's veth\n")); err != nil {
		return "", err
	}
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", err
	}
	return reply[:len(reply)-1], nil
}

// lockedBuffer is a bytes.Buffer safe for the daemon's two output pipes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
