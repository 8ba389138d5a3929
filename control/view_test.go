package control

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sluicenet/sluice/control/api/types"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/mem"
)

func TestWorkerStatNamesCoverStats(t *testing.T) {
	seen := map[string]bool{}
	for i, n := range WorkerStatNames {
		if n == "" || seen[n] {
			t.Errorf("stat %d has name %q", i, n)
		}
		seen[n] = true
	}
}

// viewRig is a controller over one running worker on a mem port, with
// client 1's SA and session configured.
type viewRig struct {
	c    *Controller
	dp   *dataplane.Dataplane
	port *mem.Port
}

func newViewRig(t *testing.T) *viewRig {
	dp, ports := rigWorkers(1)
	c := NewController(dp, Options{})
	if _, err := c.Commit(mustTree(t, labYAML(1)), "alice", ""); err != nil {
		t.Fatal(err)
	}
	dp.Start()
	t.Cleanup(dp.Stop)
	return &viewRig{c: c, dp: dp, port: ports[0]}
}

// send injects frames and waits until the worker received them all.
func (r *viewRig) send(t *testing.T, frames ...[]byte) {
	t.Helper()
	want := r.dp.Counts()[dataplane.StatRxPackets] + uint64(len(frames))
	for _, f := range frames {
		inject(r.port, f)
	}
	waitFor(t, "the worker", func() bool { return r.dp.Counts()[dataplane.StatRxPackets] == want })
}

func findSA(sas []types.SA, name string) types.SA {
	for _, s := range sas {
		if s.Name == name {
			return s
		}
	}
	return types.SA{}
}

func TestViewsCountTraffic(t *testing.T) {
	r := newViewRig(t)
	cli := clientSA(t, 1)
	var frames [][]byte
	for i := 0; i < 10; i++ {
		frames = append(frames, l2tpOverESP(t, cli, 1, 60))
	}
	for i := 0; i < 3; i++ {
		frames = append(frames, cleartextL2TP(t, 1))
	}
	bad := cleartextL2TP(t, 1)
	bad[14+10] ^= 0xff                            // IPv4 header checksum: malformed
	frames = append(frames, []byte{1, 2, 3}, bad) // a runt goes to the kernel; the bad checksum is ours to drop
	r.send(t, frames...)

	ifs := r.c.Interfaces(Shown)
	if len(ifs) != 1 || ifs[0].Name != "eth0" || ifs[0].RxPackets != 15 || ifs[0].Drops != 4 || ifs[0].Port.Mode != "mem" {
		t.Fatalf("interfaces = %+v", ifs)
	}
	d := r.c.Drops(Shown)
	got := map[string]uint64{}
	for _, dc := range d.Reasons {
		got[dc.Reason] = dc.Packets
	}
	if len(d.Reasons) != int(dataplane.NumDropReasons) || got["l2tp-cleartext"] != 3 || got["malformed"] != 1 || d.Total != 4 {
		t.Fatalf("drops = %+v", d)
	}
	sa := findSA(r.c.SAs(Shown), "in-c1")
	if sa.Packets != 10 || sa.SPI != "0x0000c001" || sa.Direction != "in" || sa.Proposal != "aes128gcm16" || sa.Lifetime.State != "ok" {
		t.Fatalf("sa = %+v", sa)
	}
	rs := r.c.RuleSets(Shown)
	if len(rs) != 1 || rs[0].Name != "WAN_LOCAL" || len(rs[0].Rules) != 1 || rs[0].Rules[0].Packets != 10 ||
		rs[0].DefaultPackets != 3 || rs[0].Rules[0].IPsec != "match-ipsec" || rs[0].Rules[0].Destination != "port 1701" ||
		strings.Join(rs[0].Interfaces, ",") != "eth0" {
		t.Fatalf("rulesets = %+v", rs)
	}
	ss := r.c.L2TPSessions(Shown)
	if len(ss) != 1 || ss[0].Packets != 10 || ss[0].SA != "in-c1" {
		t.Fatalf("sessions = %+v", ss)
	}
	if ts := r.c.L2TPTunnels(); len(ts) != 1 || ts[0].LocalID != 1 || ts[0].Sessions != 1 || ts[0].Source != "static" {
		t.Fatalf("tunnels = %+v", ts)
	}
	ws := r.c.Workers(Shown)
	if len(ws) != 1 || ws[0].Counters["rx-packets"] != 15 || ws[0].Counters["delivered"] != 10 || ws[0].Drops["malformed"] != 1 || ws[0].Counters["passed-to-kernel"] != 1 || ws[0].PuntCap == 0 {
		t.Fatalf("workers = %+v", ws)
	}
	// The views agree with the lead's stats document, read another way.
	st := r.c.Stats()
	if st.SA["in-c1"].Packets != sa.Packets || st.Rules["WAN_LOCAL"]["10"].Packets != rs[0].Rules[0].Packets ||
		st.L2TP.Tunnels["1"].Sessions["1"].Packets != ss[0].Packets || st.Interfaces["eth0"].RxPackets != ifs[0].RxPackets {
		t.Fatalf("views disagree with Stats: %+v", st)
	}
	js, _ := json.Marshal([]any{r.c.SAs(Shown), r.c.SAs(Raw), r.c.RuleSets(Raw)})
	if strings.Contains(string(js), keyHex(1)[2:]) {
		t.Fatal("an SA view carries a key")
	}
}

func TestClearCounters(t *testing.T) {
	r := newViewRig(t)
	cli := clientSA(t, 1)
	r.send(t, l2tpOverESP(t, cli, 1, 60), l2tpOverESP(t, cli, 1, 60), cleartextL2TP(t, 1))
	if err := r.c.Clear(types.ClearAll, ""); err != nil {
		t.Fatal(err)
	}
	if ifs := r.c.Interfaces(Shown); ifs[0].RxPackets != 0 || ifs[0].Drops != 0 {
		t.Fatalf("after clear: %+v", ifs)
	}
	if sa := findSA(r.c.SAs(Shown), "in-c1"); sa.Packets != 0 || sa.Bytes != 0 {
		t.Fatalf("after clear: %+v", sa)
	}
	if rs := r.c.RuleSets(Shown); rs[0].Rules[0].Packets != 0 || rs[0].DefaultPackets != 0 {
		t.Fatalf("after clear: %+v", rs)
	}
	if ss := r.c.L2TPSessions(Shown); ss[0].Packets != 0 {
		t.Fatalf("after clear: %+v", ss)
	}
	// Raw counters (metrics) never go back.
	if sa := findSA(r.c.SAs(Raw), "in-c1"); sa.Packets != 2 {
		t.Fatalf("raw after clear: %+v", sa)
	}
	if r.c.Drops(Raw).Total != 1 {
		t.Fatal("raw drops changed")
	}
	r.send(t, l2tpOverESP(t, cli, 1, 60), cleartextL2TP(t, 1))
	if sa := findSA(r.c.SAs(Shown), "in-c1"); sa.Packets != 1 {
		t.Fatalf("counted since clear: %+v", sa)
	}
	if d := r.c.Drops(Shown); d.Total != 1 {
		t.Fatalf("drops since clear: %+v", d)
	}
	// Scoped clears touch their scope only.
	if err := r.c.Clear(types.ClearDrops, ""); err != nil {
		t.Fatal(err)
	}
	if r.c.Drops(Shown).Total != 0 || r.c.Interfaces(Shown)[0].RxPackets != 2 {
		t.Fatal("clear drops cleared the wrong counters")
	}
	if err := r.c.Clear(types.ClearInterfaces, "eth0"); err != nil {
		t.Fatal(err)
	}
	if r.c.Interfaces(Shown)[0].RxPackets != 0 || findSA(r.c.SAs(Shown), "in-c1").Packets != 1 {
		t.Fatal("clear interfaces cleared the wrong counters")
	}
	if err := r.c.Clear(types.ClearSA, "in-c1"); err != nil || findSA(r.c.SAs(Shown), "in-c1").Packets != 0 {
		t.Fatalf("clear sa: %v", err)
	}
	for _, tc := range []struct {
		scope, name string
		want        error
	}{
		{"bogus", "", ErrBadScope},
		{types.ClearSA, "nope", ErrUnknownName},
		{types.ClearInterfaces, "eth9", ErrUnknownName},
		{types.ClearFirewall, "NOPE", ErrUnknownName},
		{types.ClearWorkers, "7", ErrUnknownName},
	} {
		if err := r.c.Clear(tc.scope, tc.name); !errors.Is(err, tc.want) {
			t.Errorf("Clear(%q, %q) = %v, want %v", tc.scope, tc.name, err, tc.want)
		}
	}
	// A replaced SA starts from zero, and its stale baseline goes away.
	changed := mustTree(t, labYAML(1))
	if err := changed.Set(words("ipsec sa in-c1 replay-window 64")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Commit(changed, "alice", ""); err != nil {
		t.Fatal(err)
	}
	if err := r.c.Clear(types.ClearSA, ""); err != nil {
		t.Fatal(err)
	}
	r.c.vmu.Lock()
	n := len(r.c.base.sas)
	r.c.vmu.Unlock()
	if n != 1 {
		t.Fatalf("%d SA baselines kept, want 1", n)
	}
}

type fakeLNS struct{}

func (fakeLNS) L2TPTunnels() []types.L2TPTunnel {
	return []types.L2TPTunnel{{LocalID: 40, PeerID: 4, Source: types.SourceLNS, State: "established", Sessions: 1}}
}

func (fakeLNS) L2TPSessions() []types.L2TPSession {
	return []types.L2TPSession{{TunnelID: 40, SessionID: 2, Source: types.SourceLNS, State: "established", Packets: 7, Bytes: 700}}
}

func TestL2TPInfoProvider(t *testing.T) {
	r := newViewRig(t)
	r.c.SetL2TPInfo(fakeLNS{})
	ts, ss := r.c.L2TPTunnels(), r.c.L2TPSessions(Shown)
	if len(ts) != 2 || ts[1].LocalID != 40 || len(ss) != 2 || ss[1].Packets != 7 {
		t.Fatalf("tunnels %+v sessions %+v", ts, ss)
	}
	if err := r.c.Clear(types.ClearL2TP, ""); err != nil {
		t.Fatal(err)
	}
	if ss := r.c.L2TPSessions(Shown); ss[1].Packets != 0 {
		t.Fatalf("LNS session after clear: %+v", ss[1])
	}
	if ss := r.c.L2TPSessions(Raw); ss[1].Packets != 7 {
		t.Fatalf("raw LNS session after clear: %+v", ss[1])
	}
	r.c.SetL2TPInfo(nil)
	if len(r.c.L2TPTunnels()) != 1 {
		t.Fatal("provider not removed")
	}
}
