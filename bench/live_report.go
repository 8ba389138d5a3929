package bench

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/sluicenet/sluice/bench/gen"
	"github.com/sluicenet/sluice/dataplane"
)

// Print writes the lab's outcome for people: what the generator sent by
// kind, and every counter the daemon reported next to what the sent frames
// require.
func (r *LiveResult) Print(w io.Writer) {
	fmt.Fprintf(w, "\nscenario: %s\n\nsent by the generator (client namespace):\n", r.Scenario)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\tframes\tbytes\texpected outcome\t")
	for k := gen.Kind(0); k < gen.NumKinds; k++ {
		if r.Sent.Frames[k] == 0 {
			continue
		}
		o := k.Outcome()
		out := "drop: " + o.Drop.String()
		switch {
		case o.Deliver:
			out = "delivered to its session"
		case o.Punt:
			out = "punted to the control plane"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t\n", k, r.Sent.Frames[k], r.Sent.Bytes[k], out)
	}
	tw.Flush()

	s, e := &r.Stats, &r.Expect
	var rx uint64
	for _, is := range s.Interfaces {
		rx += is.RxPackets
	}
	var delivered uint64
	for _, t := range s.L2TP.Tunnels {
		for _, ss := range t.Sessions {
			delivered += ss.Packets
		}
	}
	fmt.Fprintf(w, "\ncounted by sluiced (server namespace, API /v1/stats):\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "counter\tcounted\texpected\t\t")
	row := func(name string, got, want uint64) {
		mark := "ok"
		if got != want {
			mark = "MISMATCH"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t\n", name, got, want, mark)
	}
	row("rx-packets", rx, e.RxPackets)
	row("delivered (L2TP data)", delivered, e.Delivered)
	row("punted.l2tp-control", s.Punted.L2TPControl, e.Punted)
	for d := dataplane.DropReason(0); d < dataplane.NumDropReasons; d++ {
		if s.Drops[d] != 0 || e.Drops[d] != 0 {
			row("drop "+d.String(), s.Drops[d], e.Drops[d])
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "passed-to-kernel by the XDP program: %d (ARP, the TCP connection, IPv6 neighbour discovery...)\n", s.PassedToKernel)
	names := make([]string, 0, len(s.SA))
	for n := range s.SA {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "sa %s: %d packets, %d bytes\n", n, s.SA[n].Packets, s.SA[n].Bytes)
	}
	fmt.Fprintf(w, "tcp: %s\n", r.TCPEcho)
}

// OK reports whether every counter matched and the TCP check and the
// daemon's shutdown succeeded.
func (r *LiveResult) OK() bool {
	s, e := &r.Stats, &r.Expect
	var rx, delivered uint64
	for _, is := range s.Interfaces {
		rx += is.RxPackets
	}
	for _, t := range s.L2TP.Tunnels {
		for _, ss := range t.Sessions {
			delivered += ss.Packets
		}
	}
	if rx != e.RxPackets || delivered != e.Delivered || s.Punted.L2TPControl != e.Punted || r.TCPEcho == "" || r.Exit != nil {
		return false
	}
	for d := dataplane.DropReason(0); d < dataplane.NumDropReasons; d++ {
		if s.Drops[d] != e.Drops[d] {
			return false
		}
	}
	return true
}
