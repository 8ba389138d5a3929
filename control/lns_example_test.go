package control_test

import (
	"context"
	"log/slog"

	"github.com/sluicenet/sluice/control"
	"github.com/sluicenet/sluice/dataplane"
)

// The daemon's hook: after the first commit and once the workers run, one
// LNS per controller, on its own goroutine. It follows every later commit
// by itself (l2tp lns settings, SAs removed) and is the controller's
// source of negotiated tunnels and sessions for the API. Stop it before
// the workers: its StopCCNs leave through them.
func ExampleNewLNS() {
	dp := dataplane.New()
	// ... dp.AddWorker for every port, ctrl.Commit(tree, ...), dp.Start() ...
	ctrl := control.NewController(dp, control.Options{})
	lns := control.NewLNS(ctrl, control.LNSOptions{Logger: slog.Default()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lns.Run(ctx) }()

	// ... on shutdown: StopCCN to every tunnel, acknowledged or not
	// within LNSOptions.ShutdownGrace; then the workers.
	cancel()
	<-done
	dp.Stop()
}
