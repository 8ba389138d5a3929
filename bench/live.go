package bench

import (
	"io"

	"github.com/sluicenet/sluice/bench/gen"
	"github.com/sluicenet/sluice/control"
)

// LiveOptions configure RunLive, the namespace lab `make run` shows: the
// real sluiced daemon on the server end of a veth pair, the generator on the
// client end.
type LiveOptions struct {
	// Sluiced is the daemon binary to run (default: "sluiced" next to the
	// running executable, else in PATH).
	Sluiced string
	// Frames is how many generated frames to send (default 2000), at PPS
	// frames per second (default 20000).
	Frames uint64
	PPS    float64
	// Mix is the share of each frame kind (default: 70% ESP data, 10% ESP
	// HELLO, 10% cleartext L2TP data, 10% cleartext HELLO).
	Mix gen.Mix
	// Sizes is the L2TP payload size distribution (default IMIX).
	Sizes gen.Sizes
	// Log receives the lab's narration (default: discard); DaemonLog the
	// daemon's own log (default: kept in LiveResult.DaemonLog only).
	Log       io.Writer
	DaemonLog io.Writer
}

// LiveResult is what a lab run sent and what the daemon counted.
type LiveResult struct {
	Scenario   string
	Namespaces []string // the lab's, removed when RunLive returns
	Links      []string // the veth pair's ends
	Sent       gen.Counts
	Expect     gen.Expectation
	Stats      control.Stats // the daemon's counters document (API /v1/stats)
	TCPEcho    string        // what the server's kernel echoed back over TCP
	DaemonLog  string
	Exit       error // the daemon's exit after SIGTERM (nil: clean)
}
