package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/sluicenet/sluice/control"
)

const replayUsage = `usage: sluiced replay --config CFG --in IN.pcap [--out TX.pcap] [--deliver INNER.pcap]
                      [--punt PUNT.pcap] [--stats STATS.json] [--interface NAME]

Runs every frame of IN.pcap through the daemon's pipeline on one worker,
deterministically, then writes what was transmitted (--out, Ethernet), the
inner IP packets delivered to L2TP sessions (--deliver, linktype RAW), what
was punted to the control plane (--punt, linktype RAW) and the counters
(--stats, JSON; "-" for standard output). Without --stats the counters are
printed to standard output.
`

func replayMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, replayUsage) }
	cfgPath := fs.String("config", "", "configuration file")
	in := fs.String("in", "", "input capture (Ethernet)")
	out := fs.String("out", "", "transmitted frames capture")
	deliver := fs.String("deliver", "", "delivered inner packets capture")
	punt := fs.String("punt", "", "punted packets capture")
	stats := fs.String("stats", "", "counters as JSON")
	ifname := fs.String("interface", "", "interface the capture stands for")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cfgPath == "" || *in == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	_, cfg, err := control.LoadFile(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "sluiced replay: %v\n", err)
		return 1
	}
	inF, err := os.Open(*in)
	if err != nil {
		fmt.Fprintf(stderr, "sluiced replay: %v\n", err)
		return 1
	}
	defer inF.Close()
	opts := control.ReplayOptions{Config: cfg, In: inF, Interface: *ifname}
	var files []*os.File
	for _, o := range []struct {
		path string
		dst  *io.Writer
	}{{*out, &opts.Out}, {*deliver, &opts.Deliver}, {*punt, &opts.Punt}} {
		if o.path == "" {
			continue
		}
		f, err := os.Create(o.path)
		if err != nil {
			fmt.Fprintf(stderr, "sluiced replay: %v\n", err)
			return 1
		}
		files = append(files, f)
		*o.dst = f
	}
	st, err := control.Replay(opts)
	for _, f := range files {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "sluiced replay: %v\n", err)
		return 1
	}
	js, _ := json.MarshalIndent(st, "", "  ")
	js = append(js, '\n')
	switch *stats {
	case "", "-":
		_, _ = stdout.Write(js)
	default:
		if err := os.WriteFile(*stats, js, 0o644); err != nil {
			fmt.Fprintf(stderr, "sluiced replay: %v\n", err)
			return 1
		}
	}
	return 0
}
