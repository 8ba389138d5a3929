package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"time"

	"github.com/sluicenet/sluice/control"
	"github.com/sluicenet/sluice/control/api"
	"github.com/sluicenet/sluice/control/config"
	"github.com/sluicenet/sluice/control/metrics"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/afxdp"
	"github.com/sluicenet/sluice/ipsec"
)

// shutdownTimeout bounds a graceful shutdown (drain, detach).
const shutdownTimeout = 10 * time.Second

// daemon is a running sluiced: AF_XDP ports and their steering programs,
// the dataplane's workers, and the control plane with its servers.
type daemon struct {
	log    *slog.Logger
	dp     *dataplane.Dataplane
	ctrl   *control.Controller
	progs  []*afxdp.Program
	progOf map[string]*afxdp.Program // by interface
	ports  []*afxdp.Port
	ifaces map[string]config.InterfaceSpec // what is attached, for reloads
	// stops holds the shutdown steps of the servers started after the
	// workers, run in reverse order.
	stops []func(context.Context) error
}

// startDaemon attaches to every configured interface, commits the
// configuration and starts the workers. It never half-starts: on any error
// it undoes what it did and returns a one-line reason.
func startDaemon(tree *config.Tree, cfg *config.Config, savePath string, log *slog.Logger) (_ *daemon, err error) {
	d := &daemon{log: log, ifaces: cfg.Interfaces, progOf: map[string]*afxdp.Program{}}
	defer func() {
		if err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			_ = d.stop(ctx)
		}
	}()
	if len(cfg.Interfaces) == 0 {
		return nil, errors.New("no interfaces configured: add interfaces NAME { driver afxdp address ... }")
	}
	names := make([]string, 0, len(cfg.Interfaces))
	for n := range cfg.Interfaces {
		names = append(names, n)
	}
	sort.Strings(names)
	// Check everything before attaching anything.
	for _, n := range names {
		spec := cfg.Interfaces[n]
		if spec.Driver != config.DriverAFXDP {
			return nil, fmt.Errorf("interfaces %s driver %s: the daemon drives afxdp interfaces (pcap is for `sluiced replay`)", n, spec.Driver)
		}
		if err := afxdp.CheckSupport(n); err != nil {
			return nil, err
		}
	}
	for _, n := range names {
		if err := d.attach(n, cfg.Interfaces[n]); err != nil {
			return nil, err
		}
	}
	if w := cfg.Dataplane.Workers; w > 0 && w != len(d.ports) {
		return nil, fmt.Errorf("dataplane workers %d: the configured interfaces have %d queues and sluice runs one worker per queue (set workers auto, or interfaces NAME queues)", w, len(d.ports))
	}

	d.dp = dataplane.New()
	for ifname, prog := range d.progOf {
		d.dp.SetKernelPassed(ifname, func() uint64 {
			c, err := prog.Counters()
			if err != nil {
				return 0
			}
			return c.Passed
		})
	}
	// SA lifetime events: workers report them without blocking, a control
	// goroutine logs them and expires idle SAs by time.
	expiries := control.NewExpiryQueue(1024)
	d.ctrl = control.NewController(d.dp, control.Options{Logger: log, SAOptions: []ipsec.Option{ipsec.WithExpiryHook(expiries.Hook)}})
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() { d.ctrl.WatchLifetimes(ctx, expiries, time.Second); close(watched) }()
	d.stops = append(d.stops, func(context.Context) error { cancel(); <-watched; return nil })
	if _, err := d.ctrl.Commit(tree, "sluiced", "startup configuration"); err != nil {
		return nil, err
	}
	var workerCPUs []int
	for i, p := range d.ports {
		cpu := -1
		if cpus := cfg.Dataplane.CPUs; len(cpus) > 0 {
			cpu = cpus[i%len(cpus)]
			workerCPUs = append(workerCPUs, cpu)
		}
		d.dp.AddWorker(dataplane.WorkerOptions{Port: p, Idle: cfg.Dataplane.Idle, CPU: cpu, Pin: afxdp.PinCPU, Logger: log})
	}
	reserveCPUs(log, workerCPUs)
	if err := d.startServers(cfg, savePath); err != nil {
		return nil, err
	}
	d.dp.Start()
	d.startLNS()
	for i, w := range d.dp.Workers() {
		st := w.Port().Stats()
		log.Info("worker started", "worker", i, "ifname", w.Port().Name(), "queue", w.Port().Queue(),
			"mode", st.Mode, "zero_copy", st.ZeroCopy, "idle", cfg.Dataplane.Idle)
	}
	log.Info("sluiced running", "workers", len(d.ports), "revision", d.ctrl.Running().N)
	return d, nil
}

// attach loads the interface's steering program, attaches it in the
// configured mode and opens one AF_XDP port per queue.
func (d *daemon) attach(name string, spec config.InterfaceSpec) error {
	nq, err := afxdp.QueueCount(name)
	if err != nil {
		return err
	}
	queues := spec.Queues
	if len(queues) == 0 {
		for q := 0; q < nq; q++ {
			queues = append(queues, q)
		}
	}
	for _, q := range queues {
		if q >= nq {
			return fmt.Errorf("interfaces %s queues: queue %d does not exist (the interface has %d)", name, q, nq)
		}
	}
	mode, err := afxdp.ParseMode(spec.XDPMode)
	if err != nil {
		return fmt.Errorf("interfaces %s xdp-mode: %w", name, err)
	}
	prog, err := afxdp.LoadProgram(afxdp.ProgramOptions{MaxQueues: nq, Logger: d.log})
	if err != nil {
		return err
	}
	d.progs = append(d.progs, prog)
	d.progOf[name] = prog
	if err := prog.Attach(name, mode); err != nil {
		return err
	}
	for _, q := range queues {
		o := afxdp.DefaultOptions(name)
		o.Queue, o.Program, o.Logger = q, prog, d.log
		p, err := afxdp.Open(o)
		if err != nil {
			return err
		}
		d.ports = append(d.ports, p)
	}
	d.log.Info("interface attached", "ifname", name, "queues", queues, "xdp_mode", prog.Mode().String())
	return nil
}

// reload re-reads the configuration (SIGHUP). An invalid file is refused
// and the running configuration stays; interface changes need a restart.
func (d *daemon) reload(o *options) {
	tree, cfg, err := o.loadConfig()
	if err != nil {
		d.log.Error("reload refused, running configuration kept", "err", oneLine(err))
		return
	}
	if !reflect.DeepEqual(cfg.Interfaces, d.ifaces) {
		d.log.Warn("reload: interface changes take effect at the next restart; everything else is applied")
		// Keep the attached interfaces in the committed tree so the running
		// configuration says what is really attached.
		if err := keepInterfaces(tree, d.ctrl.Running().Tree); err != nil {
			d.log.Error("reload refused, running configuration kept", "err", oneLine(err))
			return
		}
	}
	rev, err := d.ctrl.Commit(tree, "sluiced", "reload (SIGHUP)")
	switch {
	case errors.Is(err, control.ErrNoChanges):
		d.log.Info("reload: no changes")
	case err != nil:
		d.log.Error("reload refused, running configuration kept", "err", oneLine(err))
	default:
		d.log.Info("reload applied", "revision", rev.N)
	}
}

// keepInterfaces replaces the interfaces subtree of tree by running's.
func keepInterfaces(tree, running *config.Tree) error {
	_ = tree.Delete([]string{"interfaces"})
	sub, err := running.Sub([]string{"interfaces"})
	if err != nil {
		return err
	}
	tree.Merge(sub)
	return nil
}

// stop drains the workers, stops the servers and detaches from the
// interfaces.
func (d *daemon) stop(ctx context.Context) error {
	var errs []error
	for i := len(d.stops) - 1; i >= 0; i-- {
		if err := d.stops[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	d.stops = nil
	errs = append(errs, d.teardown())
	return errors.Join(errs...)
}

// teardown stops workers, closes ports and detaches programs; safe on a
// partly started daemon.
func (d *daemon) teardown() error {
	if d.dp != nil {
		d.dp.Stop()
	}
	var errs []error
	attached := len(d.progs) > 0
	for _, p := range d.ports {
		if err := p.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	d.ports = nil
	for _, p := range d.progs {
		if err := p.Detach(); err != nil {
			errs = append(errs, err)
		}
		if err := p.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	d.progs = nil
	if len(errs) == 0 && attached {
		d.log.Info("detached from every interface")
	}
	return errors.Join(errs...)
}

// startServers starts the local API and the metrics endpoint; their
// shutdown steps run in reverse order in stop.
func (d *daemon) startServers(cfg *config.Config, savePath string) error {
	srv, err := api.NewServer(d.ctrl, api.Options{Socket: cfg.API.Socket, Group: cfg.API.Group, Logger: d.log, SavePath: savePath})
	if err != nil {
		return err
	}
	d.stops = append(d.stops, func(context.Context) error { return srv.Close() })
	go d.serve("api", srv.Serve)
	d.log.Info("API listening", "socket", cfg.API.Socket)
	if cfg.Metrics.Listen != "" {
		ms, err := metrics.Listen(cfg.Metrics.Listen, d.ctrl, metrics.Options{Logger: d.log})
		if err != nil {
			return err
		}
		d.stops = append(d.stops, func(context.Context) error { return ms.Close() })
		go d.serve("metrics", ms.Serve)
		d.log.Info("metrics listening", "addr", ms.Addr().String())
	}
	return nil
}

// startLNS runs the L2TP network server. It drains the workers' punt
// queues and follows commits by itself; its shutdown step (StopCCN to
// every tunnel, sent through the workers) runs before the workers stop.
func (d *daemon) startLNS() {
	lns := control.NewLNS(d.ctrl, control.LNSOptions{Logger: d.log})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lns.Run(ctx) }()
	d.stops = append(d.stops, func(context.Context) error { cancel(); return <-done })
}

// serve runs a server loop and logs how it ended if it failed.
func (d *daemon) serve(name string, fn func() error) {
	if err := fn(); err != nil {
		d.log.Error("server stopped", "server", name, "err", err)
	}
}
