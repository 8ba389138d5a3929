package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sluicenet/sluice/control/api/client"
	"github.com/sluicenet/sluice/control/api/types"
	"github.com/sluicenet/sluice/control/config"
)

// confHelp is the configuration mode's command list, for `?` and `help`.
var confHelp = [][2]string{
	{"set PATH VALUE", "set a value in the candidate (tab completes from the schema)"},
	{"delete PATH", "remove a node or value from the candidate"},
	{"show [PATH] [| commands|yaml|json]", "the candidate (keys redacted)"},
	{"compare", "what a commit would change in the running configuration"},
	{"commit [comment TEXT]", "validate the whole candidate and apply it"},
	{"commit-confirm MINUTES [comment TEXT]", "commit; roll back unless `confirm`ed in time"},
	{"confirm", "keep a pending commit-confirm"},
	{"discard", "throw the candidate's changes away"},
	{"rebase", "replay your changes on a running configuration someone else changed"},
	{"save [FILE]", "write the running configuration to the daemon's file (or FILE beside it)"},
	{"load FILE [PATH]", "replace the candidate (or the node at PATH) with FILE (YAML, curly or set commands)"},
	{"merge FILE [PATH]", "merge FILE into the candidate (at PATH: a pasted `rule 10 { ... }` under firewall name X)"},
	{"rollback N", "commit revision N again (see `run show system commit`)"},
	{"run COMMAND", "run an operational command"},
	{"exit [discard]", "leave configuration mode"},
}

// configure opens a configuration session.
func (sh *shell) configure(ctx context.Context) error {
	s, err := sh.cli.Open(ctx)
	if err != nil {
		return err
	}
	sh.sess = s
	sh.refreshShadow(ctx)
	if ss, err := sh.cli.Sessions(ctx); err == nil && len(ss) > 1 {
		fmt.Fprintf(sh.out, "note: %d other configuration session(s) open; a commit is refused if the running configuration changes under yours\n", len(ss)-1)
	}
	fmt.Fprintln(sh.out, "[edit]")
	return nil
}

// refreshShadow rebuilds the local copy of the candidate completion uses:
// its set commands without the (redacted) key lines.
func (sh *shell) refreshShadow(ctx context.Context) {
	c, err := sh.sess.Show(ctx, "commands", nil)
	if err != nil {
		return
	}
	var keep []string
	for _, l := range strings.Split(c.Text, "\n") {
		if !strings.Contains(l, "<redacted>") {
			keep = append(keep, l)
		}
	}
	if t, err := config.Parse([]byte(strings.Join(keep, "\n")), config.FormatCommands); err == nil {
		sh.shadow = t
	}
}

// comment returns the text after a `comment` keyword.
func comment(w []string) (string, error) {
	if len(w) == 0 {
		return "", nil
	}
	if w[0] != "comment" || len(w) < 2 {
		return "", fmt.Errorf("expected `comment TEXT`")
	}
	return strings.Join(w[1:], " "), nil
}

func (sh *shell) printCommit(res types.CommitResult) {
	if !res.Changed {
		fmt.Fprintln(sh.out, res.Message)
		return
	}
	for _, l := range res.Diff {
		fmt.Fprintln(sh.out, l)
	}
	fmt.Fprintln(sh.out, res.Message)
	if p := res.Pending; p != nil {
		fmt.Fprintf(sh.out, "commit-confirm: revision %d rolls back to %d at %s unless you `confirm`\n",
			p.Revision, p.RollbackTo, p.Deadline.Local().Format("15:04:05"))
	}
}

// configCommand runs a configuration-mode command.
func (sh *shell) configCommand(ctx context.Context, w []string) error {
	s := sh.sess
	switch w[0] {
	case "set", "delete":
		if len(w) < 2 {
			return fmt.Errorf("%s what? (tab completes)", w[0])
		}
		op := s.Set
		if w[0] == "delete" {
			op = s.Delete
		}
		if _, err := op(ctx, w[1:]); err != nil {
			return err
		}
		sh.refreshShadow(ctx)
		return nil
	case "show":
		format, path := "curly", w[1:]
		for i, x := range path {
			if x == "|" && i+1 < len(path) {
				format, path = path[i+1], path[:i]
				break
			}
		}
		c, err := s.Show(ctx, format, path)
		if err != nil {
			return err
		}
		printConfig(sh.out, c)
		return nil
	case "compare":
		c, err := s.Compare(ctx)
		if err != nil {
			return err
		}
		if c.Stale {
			fmt.Fprintf(sh.out, "note: the running configuration changed since your candidate was made (from revision %d); "+
				"the lines below would also undo those changes: `rebase` first\n", c.Base)
		}
		if len(c.Lines) == 0 {
			fmt.Fprintln(sh.out, "no changes")
		}
		for _, l := range c.Lines {
			fmt.Fprintln(sh.out, l)
		}
		return nil
	case "commit":
		text, err := comment(w[1:])
		if err != nil {
			return err
		}
		res, err := s.Commit(ctx, text)
		if err != nil {
			return err
		}
		sh.printCommit(res)
		sh.refreshShadow(ctx)
		return nil
	case "commit-confirm":
		if len(w) < 2 {
			return fmt.Errorf("commit-confirm MINUTES [comment TEXT]")
		}
		m, err := strconv.Atoi(w[1])
		if err != nil || m <= 0 {
			return fmt.Errorf("commit-confirm: %q is not a number of minutes", w[1])
		}
		text, err := comment(w[2:])
		if err != nil {
			return err
		}
		res, err := s.CommitConfirm(ctx, text, time.Duration(m)*time.Minute)
		if err != nil {
			return err
		}
		sh.printCommit(res)
		return nil
	case "confirm":
		return sh.opCommand(ctx, w)
	case "discard":
		if err := s.Discard(ctx); err != nil {
			return err
		}
		sh.refreshShadow(ctx)
		fmt.Fprintln(sh.out, "changes discarded")
		return nil
	case "rebase":
		c, err := s.Rebase(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(sh.out, "your changes, replayed on revision %d:\n", c.Base)
		for _, l := range c.Lines {
			fmt.Fprintln(sh.out, l)
		}
		sh.refreshShadow(ctx)
		return nil
	case "save":
		file := ""
		if len(w) > 1 {
			file = w[1]
		}
		res, err := sh.cli.Save(ctx, file)
		if err != nil {
			return err
		}
		fmt.Fprintf(sh.out, "saved revision %d to %s (%d bytes)\n", res.Revision, res.Path, res.Bytes)
		return nil
	case "load", "merge":
		if len(w) < 2 {
			return fmt.Errorf("%s FILE [PATH]", w[0])
		}
		// The shell reads the file, as the operator: the daemon never
		// opens files on an API client's behalf.
		text, err := os.ReadFile(w[1])
		if err != nil {
			return err
		}
		op := s.Load
		if w[0] == "merge" {
			op = s.Merge
		}
		if _, err := op(ctx, w[2:], string(text), ""); err != nil {
			return err
		}
		sh.refreshShadow(ctx)
		fmt.Fprintf(sh.out, "%s: %s; `compare` to review, `commit` to apply\n", w[0], w[1])
		return nil
	case "rollback":
		if len(w) != 2 {
			return fmt.Errorf("rollback N")
		}
		n, err := strconv.Atoi(w[1])
		if err != nil {
			return fmt.Errorf("rollback: %q is not a revision number", w[1])
		}
		res, err := s.Rollback(ctx, n)
		if err != nil {
			return err
		}
		sh.printCommit(res)
		sh.refreshShadow(ctx)
		return nil
	case "run":
		if len(w) < 2 {
			return fmt.Errorf("run COMMAND")
		}
		return sh.opCommand(ctx, w[1:])
	case "exit", "quit", "end":
		return sh.exitConfig(ctx, len(w) > 1 && w[1] == "discard")
	case "help", "?":
		printHelp(sh.out, confHelp)
		return nil
	}
	return fmt.Errorf("unknown command %q in configuration mode (`help` lists them)", w[0])
}

// exitConfig leaves configuration mode, refusing while the candidate has
// uncommitted changes unless discard is set (VyOS's `exit discard`).
func (sh *shell) exitConfig(ctx context.Context, discard bool) error {
	info, err := sh.sess.Info(ctx)
	if err != nil && !client.IsStatus(err, 404) {
		return err
	}
	if err == nil && info.Changed && !discard {
		return fmt.Errorf("the candidate has uncommitted changes: `commit` them, or `exit discard` to throw them away")
	}
	if err := sh.sess.Close(ctx); err != nil && !client.IsStatus(err, 404) {
		return err
	}
	sh.sess, sh.shadow = nil, nil
	if discard && info.Changed {
		fmt.Fprintln(sh.out, "changes discarded")
	}
	return nil
}

func mustIndent(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return []byte(fmt.Sprint(v))
	}
	return b
}
