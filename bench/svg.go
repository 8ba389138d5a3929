package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strings"
)

// SVG metrics.
const (
	MetricPPS   = "pps"   // Mpps per size: solid, the dataplane; dashed, the baseline
	MetricRatio = "ratio" // dataplane / baseline per size, with a reference line at 1
)

// palette holds one colour per proposal series (colour-blind safe, Okabe-Ito).
var palette = []string{"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"}

// WriteSVG plots the report: x is the payload size (one tick per size run,
// ordered by mean L2TP payload, IMIX at its mean's place), y the metric, one
// series per proposal. Hand-written SVG 1.1, no dependencies; the title
// names the mode, the CPU and the baseline.
func (r *Report) WriteSVG(w io.Writer, metric string) error {
	if metric != MetricPPS && metric != MetricRatio {
		return fmt.Errorf("svg metric %q: want %s or %s", metric, MetricPPS, MetricRatio)
	}
	// Sizes in order of mean payload; proposals in order of appearance.
	type size struct {
		name string
		mean float64
	}
	var sizes []size
	seenSize := map[string]bool{}
	var props []string
	seenProp := map[string]bool{}
	for _, x := range r.Rows {
		if !seenSize[x.Size] {
			seenSize[x.Size] = true
			sizes = append(sizes, size{x.Size, x.MeanPayload})
		}
		if !seenProp[x.Proposal] {
			seenProp[x.Proposal] = true
			props = append(props, x.Proposal)
		}
	}
	sort.SliceStable(sizes, func(i, j int) bool { return sizes[i].mean < sizes[j].mean })
	xi := map[string]int{}
	for i, s := range sizes {
		xi[s.name] = i
	}
	val := func(x Row, base bool) float64 {
		switch {
		case metric == MetricRatio:
			return x.Ratio
		case base:
			return x.BasePPS / 1e6
		}
		return x.PPS / 1e6
	}
	ymax := 0.0
	for _, x := range r.Rows {
		ymax = math.Max(ymax, math.Max(val(x, false), val(x, metric == MetricPPS)))
	}
	if metric == MetricRatio {
		ymax = math.Max(ymax, 1)
	}
	ymax = niceCeil(ymax)

	const W, H, left, right, top, bottom = 760.0, 460.0, 70.0, 190.0, 72.0, 60.0
	pw, ph := W-left-right, H-top-bottom
	px := func(i int) float64 {
		if len(sizes) == 1 {
			return left + pw/2
		}
		return left + pw*float64(i)/float64(len(sizes)-1)
	}
	py := func(v float64) float64 { return top + ph*(1-v/ymax) }

	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	ylabel := "Mpps"
	title := fmt.Sprintf("sluice-bench %s: packets per second (solid: dataplane, dashed: baseline)", r.Mode)
	if metric == MetricRatio {
		ylabel = "dataplane / baseline"
		title = fmt.Sprintf("sluice-bench %s: ratio to the baseline", r.Mode)
	}
	p(`<text x="%g" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", left, esc(title))
	p(`<text x="%g" y="38" fill="#555">%s, %d CPUs, %s</text>`+"\n", left, esc(r.CPU), r.CPUs, esc(r.GoVersion))
	p(`<text x="%g" y="54" fill="#555">baseline: %s</text>`+"\n", left, esc(r.Baseline))
	// Axes, grid and ticks.
	for i := 0; i <= 5; i++ {
		v := ymax * float64(i) / 5
		y := py(v)
		p(`<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#ddd"/>`+"\n", left, y, left+pw, y)
		p(`<text x="%g" y="%g" text-anchor="end">%s</text>`+"\n", left-6, y+4, trimFloat(v))
	}
	p(`<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="black"/>`+"\n", left, top+ph, left+pw, top+ph)
	p(`<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="black"/>`+"\n", left, top, left, top+ph)
	for i, s := range sizes {
		label := s.name + " B"
		if s.name == "imix" {
			label = fmt.Sprintf("imix (%.0f B)", s.mean)
		}
		p(`<text x="%g" y="%g" text-anchor="middle">%s</text>`+"\n", px(i), top+ph+18, esc(label))
	}
	p(`<text x="%g" y="%g" text-anchor="middle">L2TP payload per data message</text>`+"\n", left+pw/2, H-14)
	p(`<text transform="translate(18 %g) rotate(-90)" text-anchor="middle">%s</text>`+"\n", top+ph/2, esc(ylabel))
	if metric == MetricRatio {
		p(`<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#888" stroke-dasharray="2 3"/>`+"\n", left, py(1), left+pw, py(1))
	}
	// Series.
	for si, prop := range props {
		col := palette[si%len(palette)]
		var rows []Row
		for _, x := range r.Rows {
			if x.Proposal == prop {
				rows = append(rows, x)
			}
		}
		sort.SliceStable(rows, func(i, j int) bool { return xi[rows[i].Size] < xi[rows[j].Size] })
		line := func(base bool, dash string) {
			var pts []string
			for _, x := range rows {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(xi[x.Size]), py(val(x, base))))
			}
			p(`<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", col, dash, strings.Join(pts, " "))
			for _, x := range rows {
				p(`<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s %s: %s</title></circle>`+"\n",
					px(xi[x.Size]), py(val(x, base)), col, esc(prop), esc(x.Size), trimFloat(val(x, base)))
			}
		}
		line(false, "")
		if metric == MetricPPS {
			line(true, ` stroke-dasharray="6 4"`)
		}
		ly := top + 16*float64(si)
		p(`<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-width="2"/>`+"\n", left+pw+16, ly, left+pw+40, ly, col)
		p(`<text x="%g" y="%g">%s</text>`+"\n", left+pw+46, ly+4, esc(prop))
	}
	p("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func esc(s string) string { return html.EscapeString(s) }

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 for v <= 0).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*e {
			return m * e
		}
	}
	return 10 * e
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "" || s == "-" {
		return "0"
	}
	return s
}
