// Command sluiced is the sluice appliance daemon: it runs the control plane
// and one poll-mode worker per RX queue. `sluiced replay` runs a capture
// through the same pipeline offline.
package main

import (
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "replay" {
		return replayMain(args[1:], stdout, stderr)
	}
	return daemonMain(args, stdout, stderr)
}
