// Package metrics exposes sluice's counters to Prometheus.
//
// Data flow: a scrape calls Collector.Collect, which reads the controller's
// Raw views (workers' published counters, SA, rule and session counters,
// port statistics) at that moment and turns them into constant metrics.
// Nothing is counted per packet here and nothing is cached: the workers
// already count, once per burst, and a scrape only reads.
//
//	GET /metrics ──► Collector.Collect ──► Controller views (Raw) ──► atomics the workers publish
//
// Counters are the raw, monotonic values: `clear ... counters` changes what
// the shell shows, never what Prometheus sees. Names follow Prometheus
// conventions: sluice_ prefix, units in names, _total for counters. Labels
// are bounded by the configuration (interfaces, workers, SAs, rules, the
// fixed drop-reason vocabulary); L2TP sessions, which the LNS creates at
// will, are counted in totals and get a per-session label only when
// Options.PerSession asks for it.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicenet/sluice/control"
	"github.com/sluicenet/sluice/control/api/types"
	"github.com/sluicenet/sluice/dataplane"
)

// Options configure the collector and the endpoint.
type Options struct {
	// PerSession adds per-session L2TP series (labels tunnel, session).
	// Off by default: sessions come and go with subscribers, and a label
	// per session makes unbounded series.
	PerSession bool
	// Logger logs the endpoint's failures; nil discards.
	Logger *slog.Logger
}

// DefaultListen is where metrics are served when the configuration says
// nothing (metrics.listen's default): loopback only.
const DefaultListen = "127.0.0.1:9477"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("sluice_"+name, help, labels, nil)
}

var (
	descBuildInfo   = desc("build_info", "Always 1; the daemon's version in a label.", "version")
	descStartTime   = desc("start_time_seconds", "When the control plane started, in seconds since the Unix epoch.")
	descRevision    = desc("config_revision", "Revision number of the running configuration.")
	descCommits     = desc("config_commits_total", "Configuration commits, by result (ok, refused).", "result")
	descExpired     = desc("config_confirm_rollbacks_total", "Commit-confirms rolled back because nobody confirmed them.")
	descPending     = desc("config_confirm_pending", "1 while a commit-confirm waits for confirm.")
	descCommitLat   = desc("config_commit_duration_seconds", "Time a successful commit took: validate, compile, publish.")
	descSaved       = desc("config_saved_revision", "Revision last saved to a file; -1 if never.")
	descIfRxPkts    = desc("interface_rx_packets_total", "Frames received, summed over the interface's workers.", "interface")
	descIfRxBytes   = desc("interface_rx_bytes_total", "Frame bytes received.", "interface")
	descIfTxPkts    = desc("interface_tx_packets_total", "Frames transmitted.", "interface")
	descIfTxBytes   = desc("interface_tx_bytes_total", "Frame bytes transmitted.", "interface")
	descPortDropped = desc("port_rx_dropped_total", "Frames the kernel dropped for lack of room in the RX ring or UMEM.", "interface", "queue")
	descPortRxInv   = desc("port_rx_invalid_descriptors_total", "Invalid RX descriptors the kernel reported.", "interface", "queue")
	descPortTxInv   = desc("port_tx_invalid_descriptors_total", "Invalid TX descriptors the kernel reported.", "interface", "queue")
	descPortRxFull  = desc("port_rx_ring_full_total", "Times the RX ring was full.", "interface", "queue")
	descPortFillEm  = desc("port_fill_ring_empty_total", "Times the fill ring was empty.", "interface", "queue")
	descPortTxEmpty = desc("port_tx_ring_empty_total", "Times the TX ring was empty.", "interface", "queue")
	descPortTxDone  = desc("port_tx_completed_total", "Frames the kernel reported sent.", "interface", "queue")
	descPortZC      = desc("port_zero_copy", "1 when the port's AF_XDP socket runs in zero-copy mode.", "interface", "queue", "mode")
	descWorkerDrops = desc("worker_drops_total", "Packets a worker dropped, by reason.", "worker", "reason")
	descPuntDepth   = desc("worker_punt_queue_depth", "Packets waiting in a worker's punt queue for the control plane.", "worker")
	descPuntCap     = desc("worker_punt_queue_capacity", "Size of a worker's punt queue.", "worker")
	descDrops       = desc("drops_total", "Packets dropped, summed over the workers, by reason (ARCHITECTURE.md's vocabulary).", "reason")
	descSAPkts      = desc("ipsec_sa_packets_total", "Packets an SA authenticated and accepted (inbound) or protected (outbound).", "sa", "direction")
	descSABytes     = desc("ipsec_sa_bytes_total", "Plaintext bytes of those packets.", "sa", "direction")
	descSAAuth      = desc("ipsec_sa_auth_failures_total", "Inbound packets whose ICV did not verify.", "sa")
	descSAReplay    = desc("ipsec_sa_replay_drops_total", "Inbound packets refused by the anti-replay window.", "sa")
	descSAMalformed = desc("ipsec_sa_malformed_total", "Packets for the SA too short or with an impossible trailer.", "sa")
	descSAExpDrops  = desc("ipsec_sa_expired_drops_total", "Packets refused because the SA passed a hard lifetime.", "sa")
	descSAExpired   = desc("ipsec_sa_expired", "1 when the SA reached a lifetime limit (soft: rekey-*, hard: life-*).", "sa", "limit")
	descRulePkts    = desc("firewall_rule_packets_total", "Packets a rule matched (rule=\"default\": the default action).", "ruleset", "rule")
	descRuleBytes   = desc("firewall_rule_bytes_total", "Bytes of the packets a rule matched.", "ruleset", "rule")
	descTunnels     = desc("l2tp_tunnels", "L2TP tunnels, by source (static, lns).", "source")
	descSessions    = desc("l2tp_sessions", "L2TP sessions, by source (static, lns).", "source")
	descL2TPPkts    = desc("l2tp_data_packets_total", "L2TP data messages delivered to sessions, all sessions together.")
	descL2TPBytes   = desc("l2tp_data_bytes_total", "Payload (PPP) bytes of those messages.")
	descL2TPCtl     = desc("l2tp_control_punted_total", "L2TP control messages punted to the control plane.")
	descSessPkts    = desc("l2tp_session_packets_total", "Data messages delivered to one session (Options.PerSession).", "tunnel", "session")
	descSessBytes   = desc("l2tp_session_bytes_total", "Payload bytes delivered to one session (Options.PerSession).", "tunnel", "session")
)

// workerStats names each worker statistic as its own metric, units in the
// name (labels worker, interface, queue).
var workerStats = func() [dataplane.StatDrops]*prometheus.Desc {
	var d [dataplane.StatDrops]*prometheus.Desc
	w := func(s dataplane.Stat, name, help string) {
		d[s] = desc("worker_"+name, help, "worker", "interface", "queue")
	}
	w(dataplane.StatRxPackets, "rx_packets_total", "Frames a worker received.")
	w(dataplane.StatRxBytes, "rx_bytes_total", "Frame bytes a worker received.")
	w(dataplane.StatTxPackets, "tx_packets_total", "Frames a worker transmitted.")
	w(dataplane.StatTxBytes, "tx_bytes_total", "Frame bytes a worker transmitted.")
	w(dataplane.StatNATKeepalives, "nat_keepalives_total", "NAT-keepalives absorbed (RFC 3948).")
	w(dataplane.StatPuntedL2TPControl, "punted_l2tp_control_packets_total", "L2TP control messages handed to the control plane.")
	w(dataplane.StatPuntedIKE, "punted_ike_packets_total", "UDP/4500 packets with the non-ESP marker handed to the control plane.")
	w(dataplane.StatPassedToKernel, "passed_to_kernel_packets_total", "Frames the steering decision leaves to the kernel.")
	w(dataplane.StatDelivered, "delivered_packets_total", "L2TP data messages delivered to a session.")
	w(dataplane.StatDeliveredBytes, "delivered_bytes_total", "Payload (PPP) bytes of those messages.")
	w(dataplane.StatAcceptedLocal, "accepted_local_packets_total", "Packets the rules accepted that are not L2TP (no consumer in the dataplane).")
	w(dataplane.StatBursts, "bursts_total", "RX bursts that returned at least one frame.")
	w(dataplane.StatInjected, "injected_packets_total", "Control-plane packets the worker transmitted.")
	return d
}()

// Collector is a prometheus.Collector over a controller's counters.
type Collector struct {
	c    *control.Controller
	opts Options
}

// NewCollector returns a collector for c.
func NewCollector(c *control.Controller, opts Options) *Collector {
	return &Collector{c: c, opts: opts}
}

// Describe implements prometheus.Collector.
func (col *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBuildInfo, descStartTime, descRevision, descCommits, descExpired, descPending,
		descCommitLat, descSaved, descIfRxPkts, descIfRxBytes, descIfTxPkts, descIfTxBytes, descPortDropped, descPortRxInv,
		descPortTxInv, descPortRxFull, descPortFillEm, descPortTxEmpty, descPortTxDone, descPortZC, descWorkerDrops, descPuntDepth, descPuntCap, descDrops, descSAPkts, descSABytes, descSAAuth, descSAReplay,
		descSAMalformed, descSAExpDrops, descSAExpired, descRulePkts, descRuleBytes, descTunnels, descSessions, descL2TPPkts,
		descL2TPBytes, descL2TPCtl, descSessPkts, descSessBytes} {
		ch <- d
	}
	for _, d := range workerStats {
		ch <- d
	}
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Collect implements prometheus.Collector: it reads every counter now.
func (col *Collector) Collect(ch chan<- prometheus.Metric) {
	c := col.c
	gauge(ch, descBuildInfo, 1, c.Version())
	gauge(ch, descStartTime, float64(c.Started().UnixNano())/1e9)
	gauge(ch, descRevision, float64(c.Running().N))
	gauge(ch, descSaved, float64(c.Saved()))
	ok, refused, expired := c.CommitCounts()
	counter(ch, descCommits, ok, "ok")
	counter(ch, descCommits, refused, "refused")
	counter(ch, descExpired, expired)
	gauge(ch, descPending, b2f(c.Pending() != nil))
	h := c.CommitLatency()
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		buckets[b] = h.Cumulative[i]
	}
	ch <- prometheus.MustNewConstHistogram(descCommitLat, h.Count, h.Sum, buckets)

	for _, it := range c.Interfaces(control.Raw) {
		counter(ch, descIfRxPkts, it.RxPackets, it.Name)
		counter(ch, descIfRxBytes, it.RxBytes, it.Name)
		counter(ch, descIfTxPkts, it.TxPackets, it.Name)
		counter(ch, descIfTxBytes, it.TxBytes, it.Name)
	}
	var total dataplane.Counts
	for _, w := range c.Dataplane().Workers() {
		cn := w.Counts()
		total.Add(&cn)
		id, ifname, queue := strconv.Itoa(w.ID()), w.Port().Name(), strconv.Itoa(w.Port().Queue())
		ps := w.Port().Stats()
		counter(ch, descPortDropped, ps.RxDropped, ifname, queue)
		counter(ch, descPortRxInv, ps.RxInvalidDescs, ifname, queue)
		counter(ch, descPortTxInv, ps.TxInvalidDescs, ifname, queue)
		counter(ch, descPortRxFull, ps.RxRingFull, ifname, queue)
		counter(ch, descPortFillEm, ps.FillRingEmpty, ifname, queue)
		counter(ch, descPortTxEmpty, ps.TxRingEmpty, ifname, queue)
		counter(ch, descPortTxDone, ps.TxCompleted, ifname, queue)
		gauge(ch, descPortZC, b2f(ps.ZeroCopy), ifname, queue, ps.Mode)
		for i, d := range workerStats {
			counter(ch, d, cn[i], id, ifname, queue)
		}
		for r := dataplane.DropReason(0); r < dataplane.NumDropReasons; r++ {
			counter(ch, descWorkerDrops, cn.Drop(r), id, r.String())
		}
		if q := w.Punts(); q != nil {
			gauge(ch, descPuntDepth, float64(q.Len()), id)
			gauge(ch, descPuntCap, float64(q.Cap()), id)
		}
	}
	for r := dataplane.DropReason(0); r < dataplane.NumDropReasons; r++ {
		counter(ch, descDrops, total.Drop(r), r.String())
	}
	counter(ch, descL2TPPkts, total[dataplane.StatDelivered])
	counter(ch, descL2TPBytes, total[dataplane.StatDeliveredBytes])
	counter(ch, descL2TPCtl, total[dataplane.StatPuntedL2TPControl])

	for _, sa := range c.SAs(control.Raw) {
		counter(ch, descSAPkts, sa.Packets, sa.Name, sa.Direction)
		counter(ch, descSABytes, sa.Bytes, sa.Name, sa.Direction)
		counter(ch, descSAMalformed, sa.Malformed, sa.Name)
		counter(ch, descSAExpDrops, sa.ExpiredDrops, sa.Name)
		if sa.Direction == "in" {
			counter(ch, descSAAuth, sa.AuthFailures, sa.Name)
			counter(ch, descSAReplay, sa.ReplayDrops, sa.Name)
		}
		hard := sa.Lifetime.State == types.LifetimeHardExpired
		gauge(ch, descSAExpired, b2f(hard || sa.Lifetime.State == types.LifetimeSoftExpired), sa.Name, "soft")
		gauge(ch, descSAExpired, b2f(hard), sa.Name, "hard")
	}
	for _, rs := range c.RuleSets(control.Raw) {
		for _, r := range rs.Rules {
			if r.Disabled {
				continue
			}
			n := strconv.FormatUint(uint64(r.Number), 10)
			counter(ch, descRulePkts, r.Packets, rs.Name, n)
			counter(ch, descRuleBytes, r.Bytes, rs.Name, n)
		}
		counter(ch, descRulePkts, rs.DefaultPackets, rs.Name, "default")
		counter(ch, descRuleBytes, rs.DefaultBytes, rs.Name, "default")
	}
	tunnels, sessions := map[string]int{types.SourceStatic: 0, types.SourceLNS: 0}, map[string]int{types.SourceStatic: 0, types.SourceLNS: 0}
	for _, t := range c.L2TPTunnels() {
		tunnels[t.Source]++
	}
	for _, s := range c.L2TPSessions(control.Raw) {
		sessions[s.Source]++
		if col.opts.PerSession {
			tid, sid := strconv.Itoa(int(s.TunnelID)), strconv.Itoa(int(s.SessionID))
			counter(ch, descSessPkts, s.Packets, tid, sid)
			counter(ch, descSessBytes, s.Bytes, tid, sid)
		}
	}
	for src, n := range tunnels {
		gauge(ch, descTunnels, float64(n), src)
	}
	for src, n := range sessions {
		gauge(ch, descSessions, float64(n), src)
	}
}

// Registry returns a registry with the collector for c and the Go runtime
// and process collectors.
func Registry(c *control.Controller, opts Options) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(c, opts), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler returns the /metrics handler for c (Prometheus text format, or
// what the scraper negotiates).
func Handler(c *control.Controller, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return promhttp.HandlerFor(Registry(c, opts), promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// Server serves /metrics on its own listener (metrics.listen).
type Server struct {
	ln   net.Listener
	http *http.Server
}

// Listen binds addr (host:port; DefaultListen when empty) and returns a
// server for /metrics. It refuses nothing about the address itself: the
// schema's default is loopback, and exposing metrics further is the
// operator's explicit choice.
func Listen(addr string, c *control.Controller, opts Options) (*Server, error) {
	if addr == "" {
		addr = DefaultListen
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", Handler(c, opts))
	return &Server{ln: ln, http: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until Close; it returns nil after Close.
func (s *Server) Serve() error {
	if err := s.http.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops the server, waiting up to five seconds for scrapes in
// flight.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.http.Shutdown(ctx)
}
