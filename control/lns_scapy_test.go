package control

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/dataplane"
)

// requireScapy returns the python with scapy, or skips (fails in CI).
func requireScapy(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import scapy.layers.ipsec, scapy.layers.l2tp").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-scapy missing (CI installs it): %v", err)
		}
		t.Skipf("python3-scapy missing: %v", err)
	}
	return py
}

// TestLNSScapyESP runs testdata/lns/scapy_peer.py, an independent LAC on
// python3-scapy, against the LNS on a mem-port worker, for what xl2tpd
// cannot be made to send: hidden AVPs, unknown mandatory and optional
// AVPs, an out-of-window Ns, a duplicate SCCRQ, an unsupported version, a
// wrong challenge response, and NAT-T from a mapped port. Scapy encrypts
// every message with its SecurityAssociation and decrypts every reply;
// the expected message types and result codes are the script's, from
// RFC 2661. The test only carries frames and moves the clock, then checks
// what the script's scenarios left behind in sluice.
func TestLNSScapyESP(t *testing.T) {
	py := requireScapy(t)
	lab := lnsLab{clients: []int{1, 2}, natt: map[int]bool{2: true},
		lns: ", secret: 0x" + hex.EncodeToString([]byte(lnsSecret)) + ", max-tunnels-per-peer: 100"}
	r := newLNSRig(t, lab, LNSOptions{})
	mac := func(i int) string { return (&testLAC{mac: [6]byte{0x02, 0, 0, 0, byte(i >> 8), byte(i)}}).macString() }
	client := func(i int, nat uint16) map[string]any {
		return map[string]any{"addr": clientAddr(i).String(), "mac": mac(i),
			"spi_out": 0xc000 + i, "key_out": keyHex(i)[2:], "spi_in": 0xd000 + i, "key_in": keyHex(500 + i)[2:], "nat_port": nat}
	}
	cfg, _ := json.Marshal(map[string]any{"box": boxAddr.String(), "box_mac": "02:00:00:00:00:01",
		"secret": hex.EncodeToString([]byte(lnsSecret)), "clients": []any{client(1, 0), client(2, 31337)}})

	cmd := exec.Command(py, "testdata/lns/scapy_peer.py", string(cfg))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("scapy stderr:\n%s", stderr.String())
		}
	}()

	results := map[string]string{}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	deadline := time.Now().Add(90 * time.Second)
	done := false
	for !done && sc.Scan() && time.Now().Before(deadline) {
		var req struct {
			Op, Frame, Name, Detail string
			Ms                      int
			OK                      bool
		}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			t.Fatalf("scapy said %q: %v", sc.Text(), err)
		}
		var out [][]byte
		switch req.Op {
		case "send":
			f, err := hex.DecodeString(req.Frame)
			if err != nil {
				t.Fatal(err)
			}
			out = r.exchange(f)
		case "advance":
			out = r.advance(time.Duration(req.Ms) * time.Millisecond)
		case "result":
			status := "ok"
			if !req.OK {
				status = "FAIL"
				t.Errorf("scapy scenario %s: %s", req.Name, req.Detail)
			}
			results[req.Name] = status
			t.Logf("%s %s: %s", status, req.Name, req.Detail)
			continue
		case "done":
			done = true
			continue
		default:
			t.Fatalf("scapy op %q", req.Op)
		}
		hexes := make([]string, len(out))
		for i, f := range out {
			hexes[i] = hex.EncodeToString(f)
		}
		b, _ := json.Marshal(map[string]any{"frames": hexes})
		if _, err := stdin.Write(append(b, '\n')); err != nil {
			t.Fatalf("to scapy: %v", err)
		}
	}
	if !done {
		t.Fatalf("scapy did not finish (%v)", sc.Err())
	}
	want := []string{"hidden-avps", "unknown-mandatory-avp-sccrq", "unknown-optional-avp-ignored", "unknown-mandatory-avp-icrq",
		"out-of-window-ns", "duplicate-sccrq", "unsupported-version", "bad-challenge-response", "nat-t-float"}
	for _, n := range want {
		if results[n] != "ok" {
			t.Errorf("scenario %s: %q", n, results[n])
		}
	}
	if len(results) != len(want) {
		t.Errorf("scenarios %v, want %v", results, want)
	}

	// What the scenarios left in sluice: the hidden ICRQ's session is
	// published, bound to in-c1, with the hidden Assigned Session ID and
	// Call Serial Number the LNS decoded.
	var found bool
	for _, s := range r.ctrl.L2TPSessions(Raw) {
		if s.PeerSessionID == 0x5151 {
			found = true
			if s.CallSerial != 4242 || s.SA != "in-c1" || s.State != "established" {
				t.Errorf("hidden-AVP session %+v", s)
			}
			if p := r.ctrl.Dataplane().Tables().Sessions[dataplane.SessionKey(s.TunnelID, s.SessionID)]; p == nil || p.SA.Name() != "in-c1" {
				t.Errorf("hidden-AVP session not published: %+v", p)
			}
		}
	}
	if !found {
		t.Error("no session with the hidden Assigned Session ID 0x5151")
	}
	// One tunnel for the duplicated SCCRQ (peer tunnel 306).
	n := 0
	for _, tt := range r.ctrl.L2TPTunnels() {
		if tt.PeerID == 306 {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d tunnels for the duplicated SCCRQ, want 1", n)
	}
	st := r.lns.Stats()
	if st.ReplyDrops != [NumReplyDrops]uint64{} {
		t.Errorf("reply drops %v", st.ReplyDrops)
	}
	if d := r.drops(); len(d) != 0 {
		t.Errorf("dataplane drops %v", d)
	}
	t.Logf("LNS: %d punts, %d replies; server refused %d SCCRQs", st.Punts, st.Replies, st.Server.Refused)
}

func (c *testLAC) macString() string {
	var b strings.Builder
	for i, x := range c.mac {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(hex.EncodeToString([]byte{x}))
	}
	return b.String()
}
