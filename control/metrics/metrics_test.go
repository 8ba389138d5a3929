package metrics

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluicenet/sluice/control"
	"github.com/sluicenet/sluice/control/api/types"
	"github.com/sluicenet/sluice/control/config"
	ct "github.com/sluicenet/sluice/control/controltest"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/mem"
)

// scrape GETs /metrics from the real endpoint and parses it with the
// Prometheus text parser, the oracle for the format.
func scrape(t *testing.T, addr string) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("scrape: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, body)
	}
	return fams, body
}

// value returns the sample of family name whose labels include want, or
// fails.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no sample of %s with %v", name, want)
	return 0
}

func TestScrapeCountsTraffic(t *testing.T) {
	dp := dataplane.New()
	ports := []*mem.Port{mem.New(mem.Options{Name: "eth0", Queue: 0}), mem.New(mem.Options{Name: "eth0", Queue: 1})}
	for _, p := range ports {
		dp.AddWorker(dataplane.WorkerOptions{Port: p, CPU: -1, IdleWait: time.Millisecond})
	}
	c := control.NewController(dp, control.Options{})
	tree, err := config.Parse([]byte(ct.LabYAML(1, 2)), config.FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(tree, "test", ""); err != nil {
		t.Fatal(err)
	}
	dp.Start()
	defer dp.Stop()
	srv, err := Listen("127.0.0.1:0", c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	defer srv.Close()

	// Worker 0: client 1, five good packets (PPP 100 bytes), one replayed,
	// two cleartext L2TP. Worker 1: client 2, three good packets, one with
	// a broken ICV, one with a bad IPv4 checksum.
	c1, c2 := ct.ClientSA(t, 1), ct.ClientSA(t, 2)
	var f0, f1 [][]byte
	for i := 0; i < 5; i++ {
		f0 = append(f0, ct.L2TPOverESP(t, c1, 1, 100))
	}
	f0 = append(f0, f0[2], ct.CleartextL2TP(t, 1), ct.CleartextL2TP(t, 1))
	for i := 0; i < 3; i++ {
		f1 = append(f1, ct.L2TPOverESP(t, c2, 2, 100))
	}
	tampered := ct.L2TPOverESP(t, c2, 2, 100)
	tampered[len(tampered)-1] ^= 1
	junk := ct.CleartextL2TP(t, 2)
	junk[14+10] ^= 0xff
	f1 = append(f1, tampered, junk)
	for i, fs := range [][][]byte{f0, f1} {
		for _, f := range fs {
			ct.Inject(ports[i], f)
		}
	}
	ct.WaitFor(t, "the workers", func() bool { return dp.Counts()[dataplane.StatRxPackets] == 13 })

	fams, body := scrape(t, srv.Addr().String())
	const udpL2TP = 8 + 8 + 100 // what ESP protected in transport mode: UDP header, L2TP header, PPP
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"sluice_interface_rx_packets_total", []string{"interface", "eth0"}, 13},
		{"sluice_worker_rx_packets_total", []string{"worker", "0", "queue", "0"}, 8},
		{"sluice_worker_rx_packets_total", []string{"worker", "1", "queue", "1"}, 5},
		{"sluice_worker_delivered_packets_total", []string{"worker", "0"}, 5},
		{"sluice_worker_drops_total", []string{"worker", "1", "reason", "esp-auth-failed"}, 1},
		{"sluice_drops_total", []string{"reason", "l2tp-cleartext"}, 2},
		{"sluice_drops_total", []string{"reason", "esp-replay"}, 1},
		{"sluice_drops_total", []string{"reason", "esp-auth-failed"}, 1},
		{"sluice_drops_total", []string{"reason", "malformed"}, 1},
		{"sluice_drops_total", []string{"reason", "tx-ring-full"}, 0},
		{"sluice_ipsec_sa_packets_total", []string{"sa", "in-c1", "direction", "in"}, 5},
		{"sluice_ipsec_sa_bytes_total", []string{"sa", "in-c1"}, 5 * udpL2TP},
		{"sluice_ipsec_sa_packets_total", []string{"sa", "in-c2"}, 3},
		{"sluice_ipsec_sa_replay_drops_total", []string{"sa", "in-c1"}, 1},
		{"sluice_ipsec_sa_auth_failures_total", []string{"sa", "in-c2"}, 1},
		{"sluice_ipsec_sa_auth_failures_total", []string{"sa", "in-c1"}, 0},
		{"sluice_ipsec_sa_expired", []string{"sa", "in-c1", "limit", "hard"}, 0},
		{"sluice_firewall_rule_packets_total", []string{"ruleset", "WAN_LOCAL", "rule", "10"}, 8},
		{"sluice_firewall_rule_packets_total", []string{"ruleset", "WAN_LOCAL", "rule", "default"}, 2},
		{"sluice_l2tp_data_packets_total", nil, 8},
		{"sluice_l2tp_data_bytes_total", nil, 8 * 100},
		{"sluice_l2tp_tunnels", []string{"source", "static"}, 2},
		{"sluice_l2tp_sessions", []string{"source", "static"}, 2},
		{"sluice_l2tp_sessions", []string{"source", "lns"}, 0},
		{"sluice_config_revision", nil, 1},
		{"sluice_config_commits_total", []string{"result", "ok"}, 1},
		{"sluice_config_commit_duration_seconds", nil, 1},
		{"sluice_worker_punt_queue_capacity", []string{"worker", "0"}, float64(dataplane.DefaultPuntDepth)},
		{"sluice_port_rx_dropped_total", []string{"interface", "eth0", "queue", "0"}, 0},
		{"sluice_build_info", nil, 1},
	} {
		if got := value(t, fams, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	// Conventions: every sluice counter ends in _total, nothing else does;
	// no per-session series unless asked; no key in the exposition.
	for name, f := range fams {
		if !strings.HasPrefix(name, "sluice_") {
			continue
		}
		if isCounter := f.GetType() == dto.MetricType_COUNTER; isCounter != strings.HasSuffix(name, "_total") {
			t.Errorf("%s is a %v", name, f.GetType())
		}
	}
	if _, ok := fams["sluice_l2tp_session_packets_total"]; ok {
		t.Error("per-session series without Options.PerSession")
	}
	if bytes.Contains(bytes.ToLower(body), []byte(ct.KeyHex(1)[2:])) {
		t.Fatal("a key is in the metrics")
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}

	// clear changes what operators see, never what Prometheus scrapes.
	if err := c.Clear(types.ClearAll, ""); err != nil {
		t.Fatal(err)
	}
	fams, _ = scrape(t, srv.Addr().String())
	if got := value(t, fams, "sluice_ipsec_sa_packets_total", "sa", "in-c1"); got != 5 {
		t.Fatalf("after clear, the counter went to %v", got)
	}
	if got := value(t, fams, "sluice_drops_total", "reason", "l2tp-cleartext"); got != 2 {
		t.Fatalf("after clear, drops went to %v", got)
	}
}

func TestPerSessionSeries(t *testing.T) {
	dp := dataplane.New()
	port := mem.New(mem.Options{Name: "eth0"})
	dp.AddWorker(dataplane.WorkerOptions{Port: port, CPU: -1, IdleWait: time.Millisecond})
	c := control.NewController(dp, control.Options{})
	tree, _ := config.Parse([]byte(ct.LabYAML(3)), config.FormatAuto)
	if _, err := c.Commit(tree, "test", ""); err != nil {
		t.Fatal(err)
	}
	dp.Start()
	defer dp.Stop()
	srv, err := Listen("127.0.0.1:0", c, Options{PerSession: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	defer srv.Close()
	sa := ct.ClientSA(t, 3)
	ct.Inject(port, ct.L2TPOverESP(t, sa, 3, 50))
	ct.Inject(port, ct.L2TPOverESP(t, sa, 3, 50))
	ct.WaitFor(t, "the worker", func() bool { return dp.Counts()[dataplane.StatDelivered] == 2 })
	fams, _ := scrape(t, srv.Addr().String())
	if got := value(t, fams, "sluice_l2tp_session_packets_total", "tunnel", "3", "session", "1"); got != 2 {
		t.Fatalf("session packets = %v", got)
	}
	if got := value(t, fams, "sluice_l2tp_session_bytes_total", "tunnel", "3", "session", "1"); got != 100 {
		t.Fatalf("session bytes = %v", got)
	}
}

func TestListenDefaultIsLoopback(t *testing.T) {
	if DefaultListen != "127.0.0.1:9477" {
		t.Fatalf("DefaultListen = %s", DefaultListen)
	}
	if d, ok := config.Default([]string{"metrics", "listen"}); !ok || d != DefaultListen {
		t.Fatalf("schema default %q disagrees with DefaultListen", d)
	}
	c := control.NewController(dataplane.New(), control.Options{})
	if _, err := Listen("256.0.0.1:1", c, Options{}); err == nil {
		t.Fatal("a bad address was accepted")
	}
}
