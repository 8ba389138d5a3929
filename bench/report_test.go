package bench

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/bench/gen"
	"github.com/sluicenet/sluice/ipsec"
)

// sampleReport runs two tiny pipeline scenarios for the output tests.
func sampleReport(t *testing.T) (*Report, []gen.Scenario) {
	t.Helper()
	rep := NewReport("pipeline", "bare AEAD open")
	var scs []gen.Scenario
	for _, p := range []ipsec.Proposal{ipsec.AES128GCM16, ipsec.ChaCha20Poly1305} {
		for _, sz := range []gen.Sizes{gen.Fixed(64), gen.IMIX} {
			sc := gen.Scenario{Proposal: p, Sizes: sz, Seed: 77}
			row, err := Pipeline(PipelineOptions{Scenario: sc, Workers: 1, Rounds: 1, Round: 20 * time.Millisecond, Warmup: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			rep.Rows = append(rep.Rows, row)
			scs = append(scs, sc)
		}
	}
	return rep, scs
}

func TestReportOutputs(t *testing.T) {
	rep, scs := sampleReport(t)
	var js, table, svgPPS, svgRatio bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteSVG(&svgPPS, MetricPPS); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteSVG(&svgRatio, MetricRatio); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteSVG(io.Discard, "latency"); err == nil {
		t.Error("an unknown SVG metric was accepted")
	}

	t.Run("json round trip", func(t *testing.T) {
		var back Report
		if err := json.Unmarshal(js.Bytes(), &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back.Rows, rep.Rows) || back.CPU != rep.CPU || back.CPU == "" {
			t.Fatalf("JSON does not read back the same report")
		}
	})
	t.Run("cpu named", func(t *testing.T) {
		for name, out := range map[string]string{"table": table.String(), "svg": svgPPS.String(), "json": js.String()} {
			if !strings.Contains(out, xmlEscape(rep.CPU)) && !strings.Contains(out, rep.CPU) {
				t.Errorf("%s does not name the CPU %q", name, rep.CPU)
			}
		}
		if !strings.Contains(table.String(), "exact") {
			t.Errorf("table has no counts column:\n%s", table.String())
		}
	})
	t.Run("svg", func(t *testing.T) {
		for metric, doc := range map[string][]byte{MetricPPS: svgPPS.Bytes(), MetricRatio: svgRatio.Bytes()} {
			// encoding/xml is the independent reader: the document must be
			// well formed SVG, with one line per proposal (two for pps:
			// dataplane and baseline) and one marker per row and line.
			dec := xml.NewDecoder(bytes.NewReader(doc))
			var root string
			lines, circles := 0, 0
			for {
				tok, err := dec.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%s: not well-formed XML: %v", metric, err)
				}
				if se, ok := tok.(xml.StartElement); ok {
					if root == "" {
						root = se.Name.Space + " " + se.Name.Local
					}
					switch se.Name.Local {
					case "polyline":
						lines++
					case "circle":
						circles++
					}
				}
			}
			perProp := map[string]int{MetricPPS: 2, MetricRatio: 1}[metric]
			if root != "http://www.w3.org/2000/svg svg" || lines != 2*perProp || circles != len(rep.Rows)*perProp {
				t.Errorf("%s: root %q, %d polylines, %d markers; want svg, %d, %d", metric, root, lines, circles, 2*perProp, len(rep.Rows)*perProp)
			}
		}
	})
	t.Run("no keys", func(t *testing.T) {
		all := js.String() + table.String() + svgPPS.String()
		for _, sc := range scs {
			for i := 0; i < sc.SAs; i++ {
				for _, sp := range []ipsec.SASpec{sc.InboundSpec(i), sc.OutboundSpec(i)} {
					if k := hex.EncodeToString(sp.EncKey); strings.Contains(strings.ToLower(all), k[:16]) {
						t.Fatalf("key of %s appears in the report", sp.Name)
					}
				}
			}
		}
	})
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func TestProgressOffWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	p := &Progress{w: &buf, on: false, total: 3}
	p.SetLabel("x")
	p.Step()
	p.Done()
	if buf.Len() != 0 {
		t.Fatalf("progress drew %q on a non-terminal", buf.String())
	}
	p = &Progress{w: &buf, on: true, total: 2, start: time.Now()}
	p.SetLabel("pipeline aes128gcm16 64")
	p.Step()
	p.Step()
	p.Done()
	if out := buf.String(); !strings.Contains(out, "100%") || !strings.Contains(out, "pipeline aes128gcm16 64") {
		t.Fatalf("progress on a terminal drew %q", out)
	}
}
