package api_test

import (
	"log/slog"
	"net/http"
	"os"

	"github.com/sluicenet/sluice/control"
	"github.com/sluicenet/sluice/control/api"
	"github.com/sluicenet/sluice/control/metrics"
	"github.com/sluicenet/sluice/dataplane"
)

// The daemon's wiring of the operator surface: one controller over the
// dataplane, the API on its unix socket, metrics on metrics.listen. Config
// changes are logged by the controller with their diff, keys redacted.
func Example() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	dp := dataplane.New() // workers added and started by the daemon
	ctrl := control.NewController(dp, control.Options{Logger: log.With("component", "control")})
	// ... ctrl.Commit(tree from /etc/sluice/sluice.yaml, "boot", "startup") ...
	// ... ctrl.SetL2TPInfo(lns) once the LNS runs ...
	srv, err := api.NewServer(ctrl, api.Options{
		Socket:   "/run/sluice/sluice.sock", // cfg.API.Socket
		Group:    "sluice",                  // cfg.API.Group
		Logger:   log.With("component", "api"),
		SavePath: "/etc/sluice/sluice.yaml", // the file the daemon started from
	})
	if err != nil {
		log.Error("api", "err", err)
		return
	}
	go srv.Serve()
	defer srv.Close()
	ms, err := metrics.Listen("127.0.0.1:9477", ctrl, metrics.Options{Logger: log}) // cfg.Metrics.Listen
	if err != nil {
		log.Error("metrics", "err", err)
		return
	}
	go ms.Serve()
	defer ms.Close()
	// Or mount the handler on a mux of the daemon's own:
	http.Handle("/metrics", metrics.Handler(ctrl, metrics.Options{}))
}
