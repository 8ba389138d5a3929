package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluicenet/sluice/bench"
	"github.com/sluicenet/sluice/bench/gen"
)

const labUsage = `usage: sluice-bench lab [--sluiced PATH] [--frames N] [--pps N] [--sizes imix|64|...] [--daemon-log]

The namespace lab (root; what ` + "`make run`" + ` shows): two network namespaces joined
by a veth pair, the real sluiced daemon on AF_XDP on the server end with
the generator's config (the seed rule 10 with default drop, one
aes128gcm16 SA pair, a static L2TP tunnel), and on the client end the
generator sending ESP-protected L2TP data and HELLOs and cleartext L2TP,
plus an ordinary TCP connection to the server's kernel. It prints what was
sent, what sluiced counted (through its API) and what was expected, then
removes everything (also on Ctrl-C). Exits 1 if a counter disagrees.

flags:
`

func labMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice-bench lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sluiced := fs.String("sluiced", "", "sluiced binary (default: next to sluice-bench, else PATH)")
	frames := fs.Uint64("frames", 2000, "frames the generator sends")
	pps := fs.Float64("pps", 20000, "generator rate, frames per second")
	sizes := fs.String("sizes", "imix", "L2TP payload size: bytes or imix")
	daemonLog := fs.Bool("daemon-log", false, "show sluiced's log as it runs")
	fs.Usage = func() { fmt.Fprint(stderr, labUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if os.Geteuid() != 0 {
		return errors.New("lab needs root (network namespaces, XDP, AF_XDP)")
	}
	sz, err := gen.ParseSizeList(*sizes)
	if err != nil || len(sz) != 1 {
		return fmt.Errorf("--sizes %q: want one size or imix", *sizes)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := bench.LiveOptions{Sluiced: *sluiced, Frames: *frames, PPS: *pps, Sizes: sz[0], Log: stdout}
	if *daemonLog {
		o.DaemonLog = stderr
	}
	res, err := bench.RunLive(ctx, o)
	if err != nil {
		if res != nil && res.DaemonLog != "" && !*daemonLog {
			fmt.Fprintf(stderr, "sluiced's log:\n%s", res.DaemonLog)
		}
		return err
	}
	res.Print(stdout)
	if !res.OK() {
		if !*daemonLog {
			fmt.Fprintf(stderr, "sluiced's log:\n%s", res.DaemonLog)
		}
		return errCounts
	}
	fmt.Fprintln(stdout, "\nlab OK: every counter matches what was sent, the TCP connection reached the kernel, sluiced stopped cleanly and the lab is gone")
	return nil
}
