// Command sluice is the operator shell of the sluice appliance, a client of
// sluiced's local API (control/api) on its unix socket.
//
// With arguments it runs one operational command and exits:
//
//	sluice show ipsec sa
//	sluice clear firewall name WAN_LOCAL counters
//
// Without, it is an interactive shell (history, tab completion and `?` help
// from the configuration schema) with VyOS's two modes: operational
// (prompt `>`: show, monitor, clear, configure) and configuration (prompt
// `#`: set, delete, show, compare, commit, commit-confirm, confirm,
// discard, save, load, merge, rollback, exit). When standard input is not a
// terminal the shell reads commands from it, one a line, without prompts,
// so scripts can drive it.
//
// The shell imports the API's client and documents and the configuration
// schema (for completion and help) only, never the dataplane; keys are
// never printed because the API never sends them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/chzyer/readline"

	"github.com/sluicenet/sluice/control/api/client"
)

// DefaultSocket is the API socket sluiced listens on by default.
const DefaultSocket = "/run/sluice/sluice.sock"

const usage = `usage: sluice [--socket PATH] [command ...]

With a command, runs it and exits (e.g. "sluice show ipsec sa"); without,
starts the interactive shell. The socket defaults to $SLUICE_SOCKET, else
` + DefaultSocket + `.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main with its inputs and outputs injectable (tests).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	def := os.Getenv("SLUICE_SOCKET")
	if def == "" {
		def = DefaultSocket
	}
	socket := fs.String("socket", def, "the API's unix socket")
	history := fs.String("history", defaultHistory(), "history file of the interactive shell (\"\" for none)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sh := newShell(client.New(*socket), stdout, stderr)
	defer sh.close()
	if fs.NArg() > 0 {
		if err := sh.exec(context.Background(), strings.Join(quoteArgs(fs.Args()), " ")); err != nil {
			sh.printErr(err)
			return 1
		}
		return 0
	}
	if f, ok := stdin.(*os.File); ok && readline.IsTerminal(int(f.Fd())) && readline.IsTerminal(int(os.Stdout.Fd())) {
		return sh.interactive(*history)
	}
	return sh.script(stdin)
}

// quoteArgs re-quotes one-shot arguments that held spaces, so that
// `sluice show firewall name "A B"` reaches the parser as one word.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t") && !strings.Contains(a, "'") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}

func defaultHistory() string {
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".sluice_history")
	}
	return ""
}

// interruptible returns a context cancelled by Ctrl-C (SIGINT), for
// commands that run until interrupted (monitor).
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt)
}

// errExit ends the shell.
var errExit = errors.New("exit")
