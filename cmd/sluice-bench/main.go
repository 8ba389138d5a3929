// Command sluice-bench measures sluice's dataplane against a baseline
// measured in the same run, on the same cores:
//
//	sluice-bench pipeline [flags]   in process: mem ports, N workers, vs bare AEAD open
//	sluice-bench afxdp [flags]      veth lab (root): AF_XDP worker vs bare AF_XDP drop
//	sluice-bench config [flags]     print the sluice config the generator's traffic needs
//
// It prints a table (with a progress bar on stderr when stderr is a
// terminal), or JSON with --json, and plots with --svg FILE. The CPU model
// is always in the report. It exits 1 when the dataplane's counters
// disagree with what the generator sent.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/sluicenet/sluice/bench"
	"github.com/sluicenet/sluice/bench/gen"
	"github.com/sluicenet/sluice/ipsec"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "sluice-bench:", err)
		}
		os.Exit(exitCode(err))
	}
}

// errCounts marks a run that completed but whose counters disagree.
var errCounts = errors.New("counters disagree with the generator (see the report)")

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

const usage = `usage: sluice-bench pipeline|afxdp|config|lab [flags]

  pipeline  in process: N workers on mem ports fed by the generator on their
            own goroutines, against the bare AEAD open (or HMAC+CBC) of the
            same frames on the same cores, rounds interleaved
  afxdp     namespace lab (root): generator on the client end of a veth,
            one worker on an AF_XDP port (steering program, generic mode)
            on the server end, against a bare AF_XDP receive-and-drop on
            the same veth, rounds interleaved
  config    print the sluice config (YAML) the generator's traffic needs
  lab       the live namespace lab ` + "`make run`" + ` shows: the real sluiced daemon
            on one end of a veth, generator traffic and TCP from the other,
            counters checked (sluice-bench lab --help)

flags:
`

// options are the flags every mode shares.
type options struct {
	sizes, proposals, mix, svg, svgMetric, tx string
	sas, sessions, workers, rounds            int
	replay                                    uint
	clear, badICV                             float64
	ipv6, natt, json, pin                     bool
	round, warmup                             time.Duration
	rate                                      float64
	seed                                      uint64
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		newFlags(&options{}, stderr).PrintDefaults()
		return flag.ErrHelp
	}
	mode := args[0]
	if mode == "lab" {
		return labMain(args[1:], stdout, stderr)
	}
	if mode != "pipeline" && mode != "afxdp" && mode != "config" {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown mode %q", mode)
	}
	var o options
	fs := newFlags(&o, stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	scens, err := scenarios(&o)
	if err != nil {
		return err
	}
	if mode == "config" {
		g, err := gen.New(scens[0])
		if err != nil {
			return err
		}
		return g.WriteConfig(stdout)
	}
	if mode == "afxdp" && os.Geteuid() != 0 {
		return errors.New("afxdp needs root (network namespaces, XDP, AF_XDP)")
	}

	baseline := "bare AEAD open (HMAC + CBC decrypt for CBC suites) of the same frames, same cores"
	if mode == "afxdp" {
		baseline = "bare AF_XDP receive-and-drop on the same veth, same sender"
	}
	rep := bench.NewReport(mode, baseline)
	prog := bench.NewProgress(os.Stderr, len(scens)*o.rounds*2)
	defer prog.Done()

	var lab *bench.Lab
	if mode == "afxdp" {
		if lab, err = bench.NewLab(bench.LabMTU); err != nil {
			return err
		}
		defer lab.Close()
	}
	// Ctrl-C stops after the current scenario and reports what ran; a
	// second one removes the lab (deleting the veth detaches every XDP
	// program on it) and exits at once.
	sigs := make(chan os.Signal, 2)
	interrupted := make(chan struct{})
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		<-sigs
		fmt.Fprintln(stderr, "\nsluice-bench: stopping after this scenario (Ctrl-C again to abort)")
		close(interrupted)
		<-sigs
		prog.Done()
		if lab != nil {
			_ = lab.Close()
		}
		os.Exit(130)
	}()

	for _, sc := range scens {
		select {
		case <-interrupted:
			prog.Done()
			fmt.Fprintln(stderr, "sluice-bench: interrupted; reporting what ran")
			return report(rep, &o, stdout)
		default:
		}
		prog.SetLabel(fmt.Sprintf("%s %v %s", mode, sc.Proposal, sc.Sizes.Name))
		var row bench.Row
		if mode == "pipeline" {
			row, err = bench.Pipeline(bench.PipelineOptions{Scenario: sc, Workers: o.workers, Rounds: o.rounds,
				Round: o.round, Warmup: o.warmup, Pin: o.pin, Progress: prog.Step})
		} else {
			row, err = bench.AFXDP(bench.AFXDPOptions{Scenario: sc, Rounds: o.rounds, Round: o.round, Warmup: o.warmup,
				TX: o.tx, Rate: o.rate, Lab: lab, Pin: o.pin, Progress: prog.Step})
		}
		if err != nil {
			return fmt.Errorf("%v %s: %w", sc.Proposal, sc.Sizes.Name, err)
		}
		rep.Rows = append(rep.Rows, row)
	}
	prog.Done()
	return report(rep, &o, stdout)
}

// report writes the table or JSON, and the SVG.
func report(rep *bench.Report, o *options, stdout io.Writer) error {
	var err error
	if o.json {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteTable(stdout)
	}
	if err != nil {
		return err
	}
	if o.svg != "" {
		f, err := os.Create(o.svg)
		if err != nil {
			return err
		}
		if err := rep.WriteSVG(f, o.svgMetric); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	for _, r := range rep.Rows {
		if !r.Exact && !r.Consistent {
			return errCounts
		}
	}
	return nil
}

func newFlags(o *options, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("sluice-bench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.sizes, "sizes", "64,1400", "L2TP payload sizes, comma separated: bytes (32-1500) or imix (7:4:1 of 64/576/1400)")
	fs.StringVar(&o.proposals, "proposals", "aes128gcm16", "ESP proposals, comma separated, or all ("+strings.Join(proposalNames(), ", ")+")")
	fs.IntVar(&o.sas, "sas", 1, "inbound SAs, each with its pair and one L2TP tunnel (1-100000; tunnels stop at 65535)")
	fs.IntVar(&o.sessions, "sessions", 1, "L2TP sessions per tunnel")
	fs.BoolVar(&o.ipv6, "ipv6", false, "IPv6 outer headers")
	fs.BoolVar(&o.natt, "natt", false, "ESP in UDP/4500 (RFC 3948)")
	fs.StringVar(&o.mix, "mix", "", "share of each frame kind in percent, e.g. clear-data=5,bad-icv=1 (kinds: esp-data esp-hello clear-data clear-hello bad-icv unknown-spi junk); esp-data gets the rest")
	fs.Float64Var(&o.clear, "clear", 0, "percent of cleartext L2TP data to UDP/1701 (adds clear-data to --mix)")
	fs.Float64Var(&o.badICV, "bad-icv", 0, "percent of ESP frames with a bad ICV (adds bad-icv to --mix)")
	fs.UintVar(&o.replay, "replay-window", 0, "anti-replay window of the inbound SAs; > 0 re-sequences every frame (AES-GCM only)")
	fs.IntVar(&o.workers, "workers", runtime.NumCPU(), "pipeline: workers (one mem port and generator shard each)")
	fs.IntVar(&o.rounds, "rounds", 5, "interleaved dataplane and baseline rounds per scenario")
	fs.DurationVar(&o.round, "round", 500*time.Millisecond, "measured time per round")
	fs.DurationVar(&o.warmup, "warmup", 100*time.Millisecond, "unmeasured time at the start of each round")
	fs.BoolVar(&o.pin, "pin", true, "pin workers and baseline goroutines (pipeline), sender and receiver (afxdp) to CPUs")
	fs.StringVar(&o.tx, "tx", "afxdp", "afxdp: the client's transmitter, afxdp or afpacket")
	fs.Float64Var(&o.rate, "rate", 0, "afxdp: sender target in frames per second (0: as fast as possible)")
	fs.Uint64Var(&o.seed, "seed", 1, "key and junk seed")
	fs.BoolVar(&o.json, "json", false, "write the report as JSON")
	fs.StringVar(&o.svg, "svg", "", "also plot the report into this SVG file")
	fs.StringVar(&o.svgMetric, "svg-metric", bench.MetricPPS, "what the SVG plots: pps or ratio")
	return fs
}

func proposalNames() []string {
	var out []string
	for _, p := range ipsec.Proposals() {
		out = append(out, p.String())
	}
	return out
}

// scenarios expands the flags into one scenario per proposal and size.
func scenarios(o *options) ([]gen.Scenario, error) {
	sizes, err := gen.ParseSizeList(o.sizes)
	if err != nil {
		return nil, err
	}
	var props []ipsec.Proposal
	if o.proposals == "all" {
		props = ipsec.Proposals()
	} else {
		for _, s := range strings.Split(o.proposals, ",") {
			p, err := ipsec.ParseProposal(s)
			if err != nil {
				return nil, err
			}
			props = append(props, p)
		}
	}
	mixText := o.mix
	for _, extra := range []struct {
		kind string
		pct  float64
	}{{"clear-data", o.clear}, {"bad-icv", o.badICV}} {
		if extra.pct != 0 {
			if mixText != "" {
				mixText += ","
			}
			mixText += fmt.Sprintf("%s=%.2f", extra.kind, extra.pct)
		}
	}
	mix, err := gen.ParseMix(mixText)
	if err != nil {
		return nil, err
	}
	if o.rounds < 1 {
		return nil, errors.New("rounds: want at least 1")
	}
	var out []gen.Scenario
	for _, p := range props {
		for _, sz := range sizes {
			sc := gen.Scenario{
				Proposal: p, SAs: o.sas, Sessions: o.sessions, Sizes: sz, IPv6: o.ipv6, NATT: o.natt, Mix: mix,
				ReplayWindow: uint32(o.replay), FreshSeq: o.replay > 0, Seed: o.seed,
			}
			if err := sc.Validate(); err != nil {
				return nil, err
			}
			out = append(out, sc)
		}
	}
	return out, nil
}
