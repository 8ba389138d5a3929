package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is one sluice-bench invocation's results. It never holds keys: a
// scenario is described by its proposal and shape only.
type Report struct {
	Tool      string    `json:"tool"`
	Mode      string    `json:"mode"` // pipeline | afxdp
	CPU       string    `json:"cpu"`  // /proc/cpuinfo model name
	CPUs      int       `json:"cpus"`
	GoVersion string    `json:"go"`
	Started   time.Time `json:"started"`
	Baseline  string    `json:"baseline"` // what Ratio divides by
	Rows      []Row     `json:"rows"`
}

// NewReport starts a report for mode.
func NewReport(mode, baseline string) *Report {
	return &Report{Tool: "sluice-bench", Mode: mode, CPU: CPUModel(), CPUs: runtime.NumCPU(),
		GoVersion: runtime.Version(), Started: time.Now().UTC().Truncate(time.Second), Baseline: baseline}
}

// Row is one scenario's measurement: the best of its rounds for the
// dataplane and for the baseline, which ran interleaved on the same cores.
type Row struct {
	Proposal     string  `json:"proposal"`
	Size         string  `json:"size"`         // "64", "1400", "imix"
	MeanPayload  float64 `json:"mean-payload"` // L2TP payload bytes per data message
	Family       string  `json:"family"`       // ipv4, ipv6, ipv4+natt, ...
	SAs          int     `json:"sas"`
	Sessions     int     `json:"sessions"`
	Workers      int     `json:"workers"`
	Mix          string  `json:"mix"`
	ReplayWindow uint32  `json:"replay-window"`
	Rounds       int     `json:"rounds"`

	PPS          float64 `json:"pps"`        // best round
	PPSMedian    float64 `json:"pps-median"` // median round
	Gbps         float64 `json:"gbps"`       // delivered L2TP payload, best round
	NsPerPacket  float64 `json:"ns-per-packet"`
	BasePPS      float64 `json:"baseline-pps"` // best baseline round
	Ratio        float64 `json:"ratio"`        // median over rounds of dataplane pps / baseline pps of the round run next to it
	RatioBest    float64 `json:"ratio-best"`   // PPS / BasePPS
	AllocsPerPkt float64 `json:"allocs-per-packet"`

	// afxdp: what the sender offered during the dataplane's measured
	// windows, and what never reached a worker.
	OfferedPPS     float64 `json:"offered-pps,omitempty"`
	BaseOfferedPPS float64 `json:"baseline-offered-pps,omitempty"`
	Lost           uint64  `json:"lost,omitempty"`

	// Accounting over every dataplane round: what the generator sent by
	// kind, what the dataplane counted, and whether they agree exactly.
	Sent      map[string]uint64 `json:"sent"`
	Delivered uint64            `json:"delivered"`
	Punted    uint64            `json:"punted"`
	Drops     map[string]uint64 `json:"drops"`
	Exact     bool              `json:"exact"`
	// Consistent: frames were lost before the worker, and what it counted
	// is consistent with that (afxdp runs at full speed).
	Consistent bool   `json:"consistent,omitempty"`
	Mismatch   string `json:"mismatch,omitempty"`
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for people: one line per scenario, the CPU
// model and the baseline named in the header.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "sluice-bench %s on %s (%d CPUs, %s)\n", r.Mode, r.CPU, r.CPUs, r.GoVersion)
	fmt.Fprintf(w, "baseline: %s\n", r.Baseline)
	fmt.Fprintf(w, "Mpps and base Mpps: best of the interleaved rounds; ratio: median over the rounds of dataplane/baseline of adjacent rounds\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"proposal", "size", "family", "SAs", "sess", "wrk", "Mpps", "median", "Gbit/s", "ns/pkt", "base Mpps", "ratio", "allocs/pkt"}
	afx := r.Mode == "afxdp"
	if afx {
		head = append(head, "offered", "base offered", "lost")
	}
	head = append(head, "counts")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, x := range r.Rows {
		cols := []string{x.Proposal, x.Size, x.Family, fmt.Sprint(x.SAs), fmt.Sprint(x.Sessions), fmt.Sprint(x.Workers),
			fmt.Sprintf("%.3f", x.PPS/1e6), fmt.Sprintf("%.3f", x.PPSMedian/1e6), fmt.Sprintf("%.2f", x.Gbps),
			fmt.Sprintf("%.0f", x.NsPerPacket), fmt.Sprintf("%.3f", x.BasePPS/1e6), fmt.Sprintf("%.2f", x.Ratio),
			fmt.Sprintf("%.4f", x.AllocsPerPkt)}
		if afx {
			cols = append(cols, fmt.Sprintf("%.3f", x.OfferedPPS/1e6), fmt.Sprintf("%.3f", x.BaseOfferedPPS/1e6), fmt.Sprint(x.Lost))
		}
		c := "exact"
		switch {
		case x.Consistent:
			c = "lossy"
		case !x.Exact:
			c = "MISMATCH"
		}
		cols = append(cols, c)
		fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, x := range r.Rows {
		if x.Mismatch != "" {
			fmt.Fprintf(w, "\n%s %s: %s\n", x.Proposal, x.Size, x.Mismatch)
		}
	}
	return nil
}

// median returns the median of xs (xs is sorted in place).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	for i := 1; i < len(xs); i++ {
		for j := i; j > 0 && xs[j] < xs[j-1]; j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}
