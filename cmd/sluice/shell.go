package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/chzyer/readline"

	"github.com/sluicenet/sluice/control/api/client"
	"github.com/sluicenet/sluice/control/config"
)

// shell holds the state of one operator: the API client, the mode, and in
// configuration mode the session and a local copy of the candidate for
// completion.
type shell struct {
	cli    *client.Client
	out    io.Writer
	errOut io.Writer

	sess   *client.Session // nil in operational mode
	shadow *config.Tree    // the candidate without its keys, for completion

	// monitor refreshes every interval; frames > 0 stops it after that
	// many refreshes (tests), else it runs until interrupted.
	interval time.Duration
	frames   int
	rl       *readline.Instance
}

func newShell(cli *client.Client, out, errOut io.Writer) *shell {
	return &shell{cli: cli, out: out, errOut: errOut, interval: time.Second}
}

func (sh *shell) configuring() bool { return sh.sess != nil }

func (sh *shell) prompt() string {
	if sh.configuring() {
		return "sluice# "
	}
	return "sluice> "
}

func (sh *shell) printErr(err error) {
	fmt.Fprintf(sh.errOut, "error: %v\n", err)
}

// close ends a configuration session left open.
func (sh *shell) close() {
	if sh.sess != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sh.sess.Close(ctx)
		sh.sess = nil
	}
}

// exec runs one command line in the current mode.
func (sh *shell) exec(ctx context.Context, line string) error {
	words, err := splitWords(line)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return nil
	}
	if sh.configuring() {
		return sh.configCommand(ctx, words)
	}
	return sh.opCommand(ctx, words)
}

// script runs commands read from r, one a line, until EOF or exit. It
// returns 1 if any command failed.
func (sh *shell) script(r io.Reader) int {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	status := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		err := sh.exec(context.Background(), line)
		if errors.Is(err, errExit) {
			return status
		}
		if err != nil {
			sh.printErr(err)
			status = 1
		}
	}
	return status
}

// interactive runs the readline shell until exit or end of input.
func (sh *shell) interactive(history string) int {
	rl, err := readline.NewEx(&readline.Config{
		Prompt:          sh.prompt(),
		HistoryFile:     history,
		AutoComplete:    completer{sh},
		Listener:        readline.FuncListener(sh.onKey),
		InterruptPrompt: "^C",
		EOFPrompt:       "exit",
	})
	if err != nil {
		sh.printErr(err)
		return 1
	}
	defer rl.Close()
	sh.rl = rl
	sh.out, sh.errOut = rl.Stdout(), rl.Stderr()
	fmt.Fprintln(sh.out, "sluice operator shell: `?` for help, tab to complete, `configure` to edit, `exit` to leave.")
	for {
		rl.SetPrompt(sh.prompt())
		line, err := rl.Readline()
		if errors.Is(err, readline.ErrInterrupt) {
			continue
		}
		if err != nil { // end of input
			if sh.configuring() {
				fmt.Fprintln(sh.out, "leaving configuration mode; uncommitted changes are discarded")
			}
			return 0
		}
		if err := sh.exec(context.Background(), line); err != nil {
			if errors.Is(err, errExit) {
				return 0
			}
			sh.printErr(err)
		}
	}
}

// splitWords splits a command line into words: blanks separate, single or
// double quotes group ('L2TP only in IPsec'), a backslash escapes the next
// character inside double quotes.
func splitWords(line string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for i := 0; i < len(line); i++ {
		c := rune(line[i])
		switch {
		case quote != 0:
			switch {
			case c == quote:
				quote = 0
			case c == '\\' && quote == '"' && i+1 < len(line):
				i++
				cur.WriteByte(line[i])
			default:
				cur.WriteByte(line[i])
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(line[i])
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}
