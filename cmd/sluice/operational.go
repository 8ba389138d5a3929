package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicenet/sluice/control/api/types"
)

// opHelp is the operational mode's command list, for `?` and `help`.
var opHelp = [][2]string{
	{"show interfaces", "interfaces with packet, byte and drop counters and port statistics"},
	{"show ipsec sa", "security associations: SPI, peers, proposal, counters, lifetime state"},
	{"show l2tp tunnel", "L2TP tunnels"},
	{"show l2tp session", "L2TP sessions with delivered data counters"},
	{"show firewall [name NAME] [statistics]", "rulesets; statistics adds per-rule counters"},
	{"show dataplane workers", "per-worker counters and punt queue depth"},
	{"show drops", "drops by reason"},
	{"show system commit", "committed revisions: who, when, comment"},
	{"show configuration [commands|yaml|json]", "the running configuration (keys redacted)"},
	{"show status", "version, uptime, running revision, pending commit-confirm"},
	{"monitor drops|interfaces", "refresh every second until Ctrl-C"},
	{"clear counters", "zero every counter `show` prints (metrics keep counting)"},
	{"clear interfaces counters [IF]", ""},
	{"clear ipsec sa counters [NAME]", ""},
	{"clear firewall [name NAME] counters", ""},
	{"clear l2tp session counters", ""},
	{"clear dataplane workers counters [ID]", ""},
	{"clear drops counters", ""},
	{"configure", "enter configuration mode"},
	{"confirm", "keep a pending commit-confirm"},
	{"exit", "leave the shell"},
}

func printHelp(w io.Writer, lines [][2]string) {
	rows := make([][]string, len(lines))
	for i, l := range lines {
		rows[i] = []string{l[0], l[1]}
	}
	table(w, []string{"command", "what it does"}, rows)
}

// opCommand runs an operational-mode command.
func (sh *shell) opCommand(ctx context.Context, w []string) error {
	switch w[0] {
	case "show":
		return sh.show(ctx, sh.out, w[1:])
	case "monitor":
		return sh.monitor(w[1:])
	case "clear":
		return sh.clear(ctx, w[1:])
	case "configure":
		return sh.configure(ctx)
	case "confirm":
		res, err := sh.cli.Confirm(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(sh.out, "revision %d confirmed\n", res.Revision)
		return nil
	case "exit", "quit":
		return errExit
	case "help", "?":
		printHelp(sh.out, opHelp)
		return nil
	}
	return fmt.Errorf("unknown command %q in operational mode (`help` lists them)", w[0])
}

func (sh *shell) show(ctx context.Context, out io.Writer, w []string) error {
	what := strings.Join(w, " ")
	switch {
	case what == "interfaces":
		return sh.showInterfaces(ctx, out)
	case what == "ipsec sa":
		return sh.showSAs(ctx, out)
	case what == "l2tp tunnel" || what == "l2tp tunnels":
		return sh.showTunnels(ctx, out)
	case what == "l2tp session" || what == "l2tp sessions":
		return sh.showSessions(ctx, out)
	case len(w) >= 1 && w[0] == "firewall":
		return sh.showFirewall(ctx, out, w[1:])
	case what == "dataplane workers":
		return sh.showWorkers(ctx, out)
	case what == "drops":
		return sh.showDrops(ctx, out)
	case what == "system commit":
		return sh.showCommits(ctx, out)
	case len(w) >= 1 && w[0] == "configuration":
		format := "curly"
		if len(w) > 1 {
			format = w[1]
		}
		c, err := sh.cli.Running(ctx, format, nil)
		if err != nil {
			return err
		}
		printConfig(out, c)
		return nil
	case what == "status" || what == "version":
		return sh.showStatus(ctx, out)
	}
	return fmt.Errorf("unknown show command %q (`help` lists them)", what)
}

func printConfig(out io.Writer, c types.Config) {
	if c.Format == "json" {
		fmt.Fprintln(out, string(mustIndent(c.Tree)))
		return
	}
	fmt.Fprint(out, c.Text)
}

func (sh *shell) showStatus(ctx context.Context, out io.Writer) error {
	st, err := sh.cli.Status(ctx)
	if err != nil {
		return err
	}
	up := time.Duration(st.UptimeSeconds * float64(time.Second)).Round(time.Second)
	fmt.Fprintf(out, "version   %s\nuptime    %s (since %s)\nrevision  %d\nworkers   %d\nsessions  %d configuration session(s)\n",
		st.Version, up, st.Started.Format(time.RFC3339), st.Revision, st.Workers, st.Sessions)
	if st.Saved >= 0 {
		fmt.Fprintf(out, "saved     revision %d\n", st.Saved)
	}
	if p := st.Pending; p != nil {
		fmt.Fprintf(out, "pending   commit-confirm of revision %d by %s: rolls back to %d at %s unless confirmed\n",
			p.Revision, p.Who, p.RollbackTo, p.Deadline.Format(time.RFC3339))
	}
	return nil
}

func (sh *shell) showInterfaces(ctx context.Context, out io.Writer) error {
	ifs, err := sh.cli.Interfaces(ctx)
	if err != nil {
		return err
	}
	var rows [][]string
	for _, it := range ifs {
		qs := make([]string, len(it.Queues))
		for i, q := range it.Queues {
			qs[i] = strconv.Itoa(q)
		}
		mode := or(it.Port.Mode, "-")
		if it.Port.ZeroCopy {
			mode += " zc"
		}
		rows = append(rows, []string{it.Name, or(strings.Join(qs, ","), "-"), mode, u(it.RxPackets), u(it.RxBytes), u(it.TxPackets),
			u(it.TxBytes), u(it.Drops), u(it.Port.RxDropped)})
	}
	table(out, []string{"interface", "queues", "mode", ">rx-packets", ">rx-bytes", ">tx-packets", ">tx-bytes", ">drops", ">kernel-drops"}, rows)
	return nil
}

func (sh *shell) showSAs(ctx context.Context, out io.Writer) error {
	sas, err := sh.cli.SAs(ctx)
	if err != nil {
		return err
	}
	var rows [][]string
	for _, sa := range sas {
		peers := sa.Source + " > " + sa.Destination
		if sa.Encapsulation == "udp" {
			peers = fmt.Sprintf("%s:%d > %s:%d", sa.Source, sa.SourcePort, sa.Destination, sa.DestinationPort)
		}
		refused := "-"
		if sa.Direction == "in" {
			refused = fmt.Sprintf("%d/%d", sa.AuthFailures, sa.ReplayDrops)
		}
		rows = append(rows, []string{sa.Name, sa.SPI, sa.Direction, sa.Mode, sa.Proposal, peers, u(sa.Packets), u(sa.Bytes), refused, sa.Lifetime.State})
	}
	table(out, []string{"sa", "spi", "dir", "mode", "proposal", "peers", ">packets", ">bytes", ">auth/replay", "lifetime"}, rows)
	return nil
}

func (sh *shell) showTunnels(ctx context.Context, out io.Writer) error {
	ts, err := sh.cli.L2TPTunnels(ctx)
	if err != nil {
		return err
	}
	var rows [][]string
	for _, t := range ts {
		rows = append(rows, []string{strconv.Itoa(int(t.LocalID)), strconv.Itoa(int(t.PeerID)), t.Source, t.State, or(t.SA, "-"),
			or(t.Peer, "-"), or(t.HostName, "-"), strconv.Itoa(t.Sessions)})
	}
	table(out, []string{">tunnel", ">peer-tunnel", "source", "state", "sa", "peer", "hostname", ">sessions"}, rows)
	return nil
}

func (sh *shell) showSessions(ctx context.Context, out io.Writer) error {
	ss, err := sh.cli.L2TPSessions(ctx)
	if err != nil {
		return err
	}
	var rows [][]string
	for _, s := range ss {
		rows = append(rows, []string{strconv.Itoa(int(s.TunnelID)), strconv.Itoa(int(s.SessionID)), strconv.Itoa(int(s.PeerTunnelID)),
			strconv.Itoa(int(s.PeerSessionID)), s.Source, s.State, or(s.SA, "-"), u(s.Packets), u(s.Bytes)})
	}
	table(out, []string{">tunnel", ">session", ">peer-tunnel", ">peer-session", "source", "state", "sa", ">packets", ">bytes"}, rows)
	return nil
}

// showFirewall: `show firewall [name NAME] [statistics]`.
func (sh *shell) showFirewall(ctx context.Context, out io.Writer, w []string) error {
	name, stats := "", false
	for i := 0; i < len(w); i++ {
		switch {
		case w[i] == "name" && i+1 < len(w):
			name = w[i+1]
			i++
		case w[i] == "statistics":
			stats = true
		default:
			return fmt.Errorf("show firewall [name NAME] [statistics]: unexpected %q", w[i])
		}
	}
	sets, err := sh.cli.Firewall(ctx, name)
	if err != nil {
		return err
	}
	for i, rs := range sets {
		if i > 0 {
			fmt.Fprintln(out)
		}
		head := "ruleset " + rs.Name
		if rs.Builtin {
			head += " (built in)"
		}
		if len(rs.Interfaces) > 0 {
			head += ", local on " + strings.Join(rs.Interfaces, ", ")
		}
		if rs.Description != "" {
			head += ": " + rs.Description
		}
		fmt.Fprintln(out, head)
		var rows [][]string
		for _, r := range rs.Rules {
			action := r.Action
			if r.Disabled {
				action += " (disabled)"
			}
			row := []string{strconv.FormatUint(uint64(r.Number), 10), action, r.Protocol, or(r.Source, "any"), or(r.Destination, "any"), or(r.IPsec, "-")}
			if stats {
				row = append(row, u(r.Packets), u(r.Bytes))
			}
			rows = append(rows, row)
		}
		def := []string{"default", rs.DefaultAction, "all", "any", "any", "-"}
		if stats {
			def = append(def, u(rs.DefaultPackets), u(rs.DefaultBytes))
		}
		rows = append(rows, def)
		headers := []string{">rule", "action", "protocol", "source", "destination", "ipsec"}
		if stats {
			headers = append(headers, ">packets", ">bytes")
		}
		table(out, headers, rows)
	}
	return nil
}

func (sh *shell) showWorkers(ctx context.Context, out io.Writer) error {
	ws, err := sh.cli.Workers(ctx)
	if err != nil {
		return err
	}
	var rows [][]string
	for _, w := range ws {
		var drops uint64
		for _, n := range w.Drops {
			drops += n
		}
		c := w.Counters
		rows = append(rows, []string{strconv.Itoa(w.ID), w.Interface, strconv.Itoa(w.Queue), u(c["rx-packets"]), u(c["tx-packets"]),
			u(c["bursts"]), u(c["delivered"]), u(c["punted-l2tp-control"] + c["punted-ike"]), u(c["passed-to-kernel"]), u(drops),
			fmt.Sprintf("%d/%d", w.PuntDepth, w.PuntCap)})
	}
	table(out, []string{">worker", "interface", ">queue", ">rx-packets", ">tx-packets", ">bursts", ">delivered", ">punted",
		">to-kernel", ">drops", ">punt-queue"}, rows)
	return nil
}

func (sh *shell) showDrops(ctx context.Context, out io.Writer) error {
	d, err := sh.cli.Drops(ctx)
	if err != nil {
		return err
	}
	rows := make([][]string, 0, len(d.Reasons)+1)
	for _, r := range d.Reasons {
		rows = append(rows, []string{r.Reason, u(r.Packets)})
	}
	rows = append(rows, []string{"total", u(d.Total)})
	table(out, []string{"reason", ">packets"}, rows)
	return nil
}

func (sh *shell) showCommits(ctx context.Context, out io.Writer) error {
	hist, err := sh.cli.History(ctx)
	if err != nil {
		return err
	}
	sort.Slice(hist, func(i, j int) bool { return hist[i].N > hist[j].N }) // newest first, as VyOS shows it
	var rows [][]string
	for _, h := range hist {
		n := strconv.Itoa(h.N)
		if h.Running {
			n += " *"
		}
		rows = append(rows, []string{n, h.When.Local().Format("2006-01-02 15:04:05"), h.Who, h.Comment})
	}
	table(out, []string{">revision", "when", "who", "comment"}, rows)
	return nil
}

// clear: `clear [interfaces|ipsec sa|firewall [name N]|l2tp session|
// dataplane workers|drops] counters [NAME]`.
func (sh *shell) clear(ctx context.Context, w []string) error {
	i := -1
	for k, x := range w {
		if x == "counters" {
			i = k
			break
		}
	}
	if i < 0 {
		return fmt.Errorf("clear ... counters: which counters? (`help` lists them)")
	}
	what, rest := strings.Join(w[:i], " "), w[i+1:]
	name := ""
	if len(rest) == 1 {
		name = rest[0]
	} else if len(rest) > 1 {
		return fmt.Errorf("clear %s counters: one name at most", what)
	}
	scope := ""
	switch {
	case what == "":
		scope = types.ClearAll
	case what == "interfaces":
		scope = types.ClearInterfaces
	case what == "ipsec sa":
		scope = types.ClearSA
	case what == "firewall":
		scope = types.ClearFirewall
	case strings.HasPrefix(what, "firewall name ") && len(w[:i]) == 3:
		scope, name = types.ClearFirewall, w[2]
	case what == "l2tp session" || what == "l2tp":
		scope = types.ClearL2TP
	case what == "dataplane workers":
		scope = types.ClearWorkers
	case what == "drops":
		scope = types.ClearDrops
	default:
		return fmt.Errorf("clear %s counters: unknown counters", what)
	}
	if err := sh.cli.Clear(ctx, scope, name); err != nil {
		return err
	}
	fmt.Fprintln(sh.out, "counters cleared")
	return nil
}

// monitor redraws `show drops` or `show interfaces` every interval until
// interrupted.
func (sh *shell) monitor(w []string) error {
	what := strings.Join(w, " ")
	if what != "drops" && what != "interfaces" {
		return fmt.Errorf("monitor drops|interfaces")
	}
	ctx, cancel := interruptible()
	defer cancel()
	tick := time.NewTicker(sh.interval)
	defer tick.Stop()
	for n := 1; ; n++ {
		fmt.Fprint(sh.out, "\033[H\033[2J") // home, clear screen
		fmt.Fprintf(sh.out, "monitor %s, every %v; Ctrl-C to stop (%s)\n\n", what, sh.interval, time.Now().Format("15:04:05"))
		if err := sh.show(ctx, sh.out, w); err != nil {
			return err
		}
		if sh.frames > 0 && n >= sh.frames {
			return nil
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(sh.out)
			return nil
		case <-tick.C:
		}
	}
}
