package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/sluicenet/sluice/control"
	"github.com/sluicenet/sluice/control/config"
)

const defaultConfigPath = "/etc/sluice/sluice.yaml"

// daemonSettings are the configuration leaves that SLUICE_* environment
// variables and flags may override (through viper), by tree path. The tree
// decoded from the file holds every other node; viper is not asked for those
// because it folds key case (ruleset names like WAN_LOCAL must keep theirs).
var daemonSettings = []struct {
	path []string
	flag string
	help string
}{
	{[]string{"api", "socket"}, "api-socket", "unix socket of the local API"},
	{[]string{"api", "group"}, "api-group", "group owning the API socket"},
	{[]string{"metrics", "listen"}, "metrics-listen", "Prometheus endpoint (host:port; empty disables)"},
	{[]string{"dataplane", "workers"}, "workers", "workers: auto (one per RX queue) or a number"},
	{[]string{"dataplane", "idle"}, "idle", "idle strategy: busy or poll"},
	{[]string{"log", "format"}, "log-format", "log format: text or json"},
	{[]string{"log", "level"}, "log-level", "log level: debug, info, warn or error"},
}

// options are the daemon's command line after viper merged it with the
// environment.
type options struct {
	configPath string
	v          *viper.Viper
}

func parseDaemonFlags(args []string, stderr io.Writer) (*options, error) {
	fs := pflag.NewFlagSet("sluiced", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := fs.StringP("config", "c", defaultConfigPath, "configuration file (YAML, curly or set commands)")
	v := viper.New()
	v.SetEnvPrefix("SLUICE")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	for _, s := range daemonSettings {
		fs.String(s.flag, "", s.help)
		key := strings.Join(s.path, ".")
		if err := v.BindPFlag(key, fs.Lookup(s.flag)); err != nil {
			return nil, err
		}
		if err := v.BindEnv(key); err != nil {
			return nil, err
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sluiced [--config FILE] [flags]\n       sluiced replay --help\n\nflags (each also SLUICE_<PATH>, e.g. SLUICE_API_SOCKET):\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if env := os.Getenv("SLUICE_CONFIG"); env != "" && !fs.Changed("config") {
		*cfg = env
	}
	return &options{configPath: *cfg, v: v}, nil
}

// loadConfig reads the file, overlays the environment and flags on the
// daemon settings, and validates the whole result.
func (o *options) loadConfig() (*config.Tree, *config.Config, error) {
	tree, _, err := control.LoadFile(o.configPath)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range daemonSettings {
		key := strings.Join(s.path, ".")
		if !o.v.IsSet(key) {
			continue
		}
		if err := tree.SetLeaf(s.path, o.v.GetString(key)); err != nil {
			return nil, nil, fmt.Errorf("--%s / SLUICE_%s: %w", s.flag, strings.ToUpper(strings.ReplaceAll(key, ".", "_")), err)
		}
	}
	cfg, err := tree.Config()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", o.configPath, err)
	}
	return tree, cfg, nil
}

// newLogger builds the root logger from log.format and log.level.
func newLogger(w io.Writer, spec config.LogSpec) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(spec.Level))
	ho := &slog.HandlerOptions{Level: lvl}
	if spec.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// oneLine flattens an error to the single line the daemon exits with.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

func daemonMain(args []string, stdout, stderr io.Writer) int {
	o, err := parseDaemonFlags(args, stderr)
	if err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "sluiced: %s\n", oneLine(err))
		return 2
	}
	tree, cfg, err := o.loadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "sluiced: %s\n", oneLine(err))
		return 1
	}
	log := newLogger(stderr, cfg.Log)
	// Ports are opened on this locked thread: capabilities and network
	// namespaces are per thread.
	runtime.LockOSThread()
	d, err := startDaemon(tree, cfg, o.configPath, log)
	if err != nil {
		fmt.Fprintf(stderr, "sluiced: %s\n", oneLine(err))
		return 1
	}
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	for s := range sig {
		if s == syscall.SIGHUP {
			d.reload(o)
			continue
		}
		log.Info("shutting down", "signal", s.String())
		break
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := d.stop(ctx); err != nil {
		fmt.Fprintf(stderr, "sluiced: shutdown: %s\n", oneLine(err))
		return 1
	}
	return 0
}
