package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/ipsec"
)

// apply runs set/delete command lines on a copy of the lab configuration;
// the error is the first refused command's, or the validation's.
func applyToLab(t *testing.T, lines []string) error {
	t.Helper()
	tr := mustLoadFile(t, "testdata/lab.yaml")
	if err := parseCommands(tr, tr.root, strings.Join(lines, "\n")); err != nil {
		return err
	}
	_, err := tr.Config()
	return err
}

const (
	key16 = "0x000102030405060708090a0b0c0d0e0f"
	key20 = "0x000102030405060708090a0b0c0d0e0f10111213"
	key32 = "0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
)

func TestValidationReportsPath(t *testing.T) {
	cases := []struct {
		name  string
		cmds  []string
		path  string
		want  string
		extra int // other problems the change causes as well
	}{
		{"AEAD key without salt", []string{"set ipsec sa in-client1 enc-key " + key16},
			"ipsec sa in-client1 enc-key", "want 20 bytes (16-byte key + 4-byte salt) for aes128gcm16, got 16", 0},
		{"AES-256-GCM key length", []string{"set ipsec sa in-client1 proposal aes256gcm16"},
			"ipsec sa in-client1 enc-key", "want 36 bytes (32-byte key + 4-byte salt) for aes256gcm16, got 20", 0},
		{"ruleset typo", []string{"set firewall interface eth0 local WAN_LCAL"},
			"firewall interface eth0 local", "no ruleset named WAN_LCAL", 0},
		{"tunnel SA typo", []string{"set l2tp static tunnel 1 sa in-clinet1"},
			"l2tp static tunnel 1 sa", "no inbound SA named in-clinet1", 0},
		{"tunnel bound to outbound SA", []string{"set l2tp static tunnel 1 sa out-client1"},
			"l2tp static tunnel 1 sa", "out-client1 is an outbound SA", 0},
		{"pair is inbound", []string{"set ipsec sa in-client1 pair in-client1"},
			"ipsec sa in-client1 pair", "in-client1 is not an outbound SA", 0},
		{"pair unknown", []string{"set ipsec sa in-client1 pair out-clinet1"},
			"ipsec sa in-client1 pair", "no SA named out-clinet1", 0},
		{"pair on outbound", []string{"set ipsec sa out-client1 pair in-client1"},
			"ipsec sa out-client1 pair", "only inbound SAs have a pair", 0},
		{"SPI 0", []string{"set ipsec sa in-client1 spi 0"},
			"ipsec sa in-client1 spi", "0 is reserved (RFC 4303 section 2.1; 1-255 are reserved too)", 0},
		{"SPI 255", []string{"set ipsec sa in-client1 spi 0xff"},
			"ipsec sa in-client1 spi", "255 is reserved", 0},
		{"SPI too wide", []string{"set ipsec sa in-client1 spi 0x100000000"},
			"ipsec sa in-client1 spi", "not a 32-bit hex number", 0},
		{"duplicate SPI and destination", []string{
			"set ipsec sa in-client2 spi 49153", "set ipsec sa in-client2 direction in",
			"set ipsec sa in-client2 source 10.99.0.3", "set ipsec sa in-client2 destination 10.99.0.1",
			"set ipsec sa in-client2 proposal aes128gcm16", "set ipsec sa in-client2 enc-key " + key20},
			"ipsec sa in-client2 spi", "0x0000c001 to 10.99.0.1 is already used by inbound SA in-client1", 0},
		{"auth-key with AEAD", []string{"set ipsec sa in-client1 auth-key " + key20},
			"ipsec sa in-client1 auth-key", "aes128gcm16 is an AEAD proposal: it takes no auth-key", 0},
		{"CBC without auth-key", []string{"set ipsec sa in-client1 proposal aes128-sha1", "set ipsec sa in-client1 enc-key " + key16},
			"ipsec sa in-client1 auth-key", "required by aes128-sha1", 0},
		{"CBC auth-key length", []string{"set ipsec sa in-client1 proposal aes128-sha256", "set ipsec sa in-client1 enc-key " + key16,
			"set ipsec sa in-client1 auth-key " + key20},
			"ipsec sa in-client1 auth-key", "want 32 bytes for aes128-sha256, got 20", 0},
		{"CBC key length", []string{"set ipsec sa in-client1 proposal aes256-sha1", "set ipsec sa in-client1 enc-key " + key16,
			"set ipsec sa in-client1 auth-key " + key20},
			"ipsec sa in-client1 enc-key", "want 32 bytes for aes256-sha1, got 16", 0},
		{"ports without UDP encapsulation", []string{"set ipsec sa in-client1 destination-port 4500"},
			"ipsec sa in-client1 destination-port", "only with encapsulation udp", 0},
		{"unknown proposal", []string{"set ipsec sa in-client1 proposal aes128ccm8"},
			"ipsec sa in-client1 proposal", `unknown value "aes128ccm8"`, 0},
		{"address families", []string{"set ipsec sa out-client1 destination 2001:db8::2"},
			"ipsec sa out-client1 destination", "2001:db8::2 and source 10.99.0.1 are not of one address family", 0},
		{"inbound SA to a foreign address", []string{"set ipsec sa in-client1 destination 10.99.0.9"},
			"ipsec sa in-client1 destination", "10.99.0.9 is not an address of any interface", 0},
		{"replay window range", []string{"set ipsec sa in-client1 replay-window 100000"},
			"ipsec sa in-client1 replay-window", "out of range 0-4096", 0},
		{"soft lifetime above hard", []string{"set ipsec sa in-client1 life rekey-time 1h", "set ipsec sa in-client1 life life-time 30m"},
			"ipsec sa in-client1 life rekey-time", "1h must be less than life-time 30m", 0},
		{"byte size suffix", []string{"set ipsec sa in-client1 life life-bytes 10X"},
			"ipsec sa in-client1 life life-bytes", "not a byte size", 0},
		{"missing SPI", []string{"delete ipsec sa out-client1 spi"},
			"ipsec sa out-client1 spi", "required", 0},
		{"missing enc-key", []string{"delete ipsec sa out-client1 enc-key"},
			"ipsec sa out-client1 enc-key", "required", 0},
		{"tunnel id 0", []string{"set l2tp static tunnel 0 peer-tunnel 1"},
			"l2tp static tunnel", "0 is out of range 1-65535", 0},
		{"session id 0", []string{"set l2tp static tunnel 1 session 0 peer-session 1"},
			"l2tp static tunnel 1 session", "0 is out of range 1-65535", 0},
		{"peer tunnel 0", []string{"set l2tp static tunnel 1 peer-tunnel 0"},
			"l2tp static tunnel 1 peer-tunnel", "0 is out of range 1-65535", 0},
		{"peer session missing", []string{"set l2tp static tunnel 1 session 7"},
			"l2tp static tunnel 1 session 7 peer-session", "required", 0},
		{"rule number 0", []string{"set firewall name WAN_LOCAL rule 0 action accept"},
			"firewall name WAN_LOCAL rule", "0 is out of range 1-999999", 0},
		{"rule number too big", []string{"set firewall name WAN_LOCAL rule 1000000 action accept"},
			"firewall name WAN_LOCAL rule", "1000000 is out of range 1-999999", 0},
		{"rule without action", []string{"delete firewall name WAN_LOCAL rule 10 action"},
			"firewall name WAN_LOCAL rule 10 action", "required", 0},
		{"port needs tcp or udp", []string{"set firewall name WAN_LOCAL rule 10 protocol esp"},
			"firewall name WAN_LOCAL rule 10 destination port", "needs protocol tcp or udp (protocol is 50)", 0},
		{"port with protocol all", []string{"delete firewall name WAN_LOCAL rule 10 protocol"},
			"firewall name WAN_LOCAL rule 10 destination port", "needs protocol tcp or udp (protocol is all)", 0},
		{"port range backwards", []string{"set firewall name WAN_LOCAL rule 10 destination port 2000-1000"},
			"firewall name WAN_LOCAL rule 10 destination port", "out of range 1-65535", 0},
		{"port 0", []string{"set firewall name WAN_LOCAL rule 10 destination port 0"},
			"firewall name WAN_LOCAL rule 10 destination port", "out of range", 0},
		{"mixed negation", []string{"set firewall name WAN_LOCAL rule 10 source address !10.0.0.0/8",
			"set firewall name WAN_LOCAL rule 10 source address 192.0.2.0/24"},
			"firewall name WAN_LOCAL rule 10 source address", "mixes negated (!) and plain addresses", 0},
		{"prefix with host bits", []string{"set firewall name WAN_LOCAL rule 10 source address 10.1.2.3/8"},
			"firewall name WAN_LOCAL rule 10 source address", "has host bits set (did you mean 10.0.0.0/8?)", 0},
		{"protocol number range", []string{"set firewall name WAN_LOCAL rule 10 protocol 256"},
			"firewall name WAN_LOCAL rule 10 protocol", "is not a protocol", 0},
		{"unknown driver", []string{"set interfaces eth0 driver dpdk"},
			"interfaces eth0 driver", `unknown value "dpdk" (want afxdp, pcap, mem)`, 0},
		{"xdp-mode without afxdp", []string{"set interfaces eth0 xdp-mode native"},
			"interfaces eth0 xdp-mode", "only for driver afxdp (driver is mem)", 0},
		{"interface name too long", []string{"set interfaces averyveryverylongname driver mem"},
			"interfaces", "longer than 15 bytes", 0},
		{"address on two interfaces", []string{"set interfaces eth1 address 10.99.0.1"},
			"interfaces eth1 address", "10.99.0.1 is also an address of interface eth0", 0},
		{"firewall on an unknown interface", []string{"set firewall interface eth9 local WAN_LOCAL"},
			"firewall interface eth9", "no interface named eth9 under interfaces (have: eth0)", 0},
		{"queue listed twice", []string{"set interfaces eth0 queues 0-3,2"},
			"interfaces eth0 queues", "2 is listed twice", 0},
		{"fewer CPUs than workers", []string{"set dataplane workers 4", "set dataplane cpus 0-1"},
			"dataplane cpus", "2 CPUs listed for 4 workers", 0},
		{"workers keyword", []string{"set dataplane workers lots"},
			"dataplane workers", `"lots" is not a number`, 0},
		{"socket path relative", []string{"set api socket run/sluice.sock"},
			"api socket", "not an absolute path", 0},
		{"metrics listen", []string{"set metrics listen localhost"},
			"metrics listen", "is not host:port", 0},
		{"log level", []string{"set log level verbose"},
			"log level", `unknown value "verbose"`, 0},
		{"retransmit cap below RFC 2661", []string{"set l2tp lns retransmit-cap 4s"},
			"l2tp lns retransmit-cap", "4s is less than 8s (RFC 2661 section 5.8", 0},
		{"retransmit timeout above cap", []string{"set l2tp lns retransmit-timeout 10s"},
			"l2tp lns retransmit-timeout", "10s is more than retransmit-cap 8s", 0},
		{"empty hostname", []string{"set l2tp lns hostname ''"},
			"l2tp lns hostname", "must not be empty", 0},
		{"hello interval", []string{"set l2tp lns hello-interval soon"},
			"l2tp lns hello-interval", "is not a duration", 0},
		{"sccrq rate zero", []string{"set l2tp lns sccrq-rate 0"},
			"l2tp lns sccrq-rate", "must be more than 0", 0},
		{"max tunnels per peer", []string{"set l2tp lns max-tunnels 8"},
			"l2tp lns max-tunnels-per-peer", "16 is more than max-tunnels 8", 0},
		{"unknown node", []string{"set firewall name WAN_LOCAL rule 10 state established"},
			"firewall name WAN_LOCAL rule 10", `unknown node "state"`, 0},
		{"description control character", []string{"set firewall name WAN_LOCAL description \"a\tb\""},
			"firewall name WAN_LOCAL description", "control characters", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := applyToLab(t, c.cmds)
			pes := PathErrors(err)
			if len(pes) != 1+c.extra {
				t.Fatalf("got %d problems, want %d: %v", len(pes), 1+c.extra, err)
			}
			pe := pes[0]
			if got := strings.Join(pe.Path, " "); got != c.path {
				t.Errorf("path = %q, want %q (%v)", got, c.path, pe)
			}
			if !strings.Contains(pe.Err.Error(), c.want) {
				t.Errorf("reason = %q, want it to contain %q", pe.Err, c.want)
			}
			if !strings.HasPrefix(pe.Error(), c.path+": ") && pe.Line == 0 {
				t.Errorf("Error() = %q does not start with the path", pe.Error())
			}
		})
	}
}

func TestValidationReportsEveryProblem(t *testing.T) {
	text := `ipsec:
  sa:
    in-a:
      spi: 0x0000c001
      direction: in
      source: 192.0.2.1
      destination: 203.0.113.1
      proposal: aes128gcm16
      enc-key: 0x00112233445566778899aabbccddeeff
      pair: out-b
firewall:
  name:
    WAN_LOCAL:
      rule:
        10:
          protocol: udp
          destination: {port: 1701}
  interface:
    eth0: {local: WAN_LCAL}
l2tp:
  static:
    tunnel:
      1: {peer-tunnel: 1, sa: in-clinet1}
`
	tr := mustParse(t, text, FormatYAML)
	_, err := tr.Config()
	pes := PathErrors(err)
	type problem struct {
		path string
		line int
	}
	var got []problem
	for _, pe := range pes {
		got = append(got, problem{strings.Join(pe.Path, " "), pe.Line})
	}
	want := []problem{
		{"firewall name WAN_LOCAL rule 10 action", 15}, // required: reported at the rule
		{"ipsec sa in-a enc-key", 9},                   // 16 bytes for a 20-byte suite
		{"ipsec sa in-a pair", 10},                     // no such SA
		{"firewall interface eth0 local", 19},          // no such rule set
		{"l2tp static tunnel 1 sa", 23},                // no such SA
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%v\nwant:\n%v\nerror:\n%v", got, want, err)
	}
	if !strings.Contains(err.Error(), "9:7: ipsec sa in-a enc-key: want 20 bytes") {
		t.Errorf("error text lacks line:col and path:\n%v", err)
	}
}

func TestYAMLProblemsAreAllReported(t *testing.T) {
	text := "api:\n  sockett: /x\ndataplane:\n  idle: sometimes\n  workers: [1, 2]\nfirewall:\n  name:\n    X:\n      rule:\n        10: {action: accept}\n        010: {action: drop}\n"
	_, err := Parse([]byte(text), FormatYAML)
	var got []string
	for _, pe := range PathErrors(err) {
		got = append(got, fmt.Sprintf("%d:%s", pe.Line, strings.Join(pe.Path, " ")))
	}
	want := []string{"2:api", "4:dataplane idle", "5:dataplane workers", "11:firewall name X rule 10"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q (%v)", got, want, err)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := New().Config()
	if err != nil {
		t.Fatal(err)
	}
	// The values the assignment and ARCHITECTURE.md name as defaults.
	want := &Config{
		API:        APISpec{Socket: "/run/sluice/sluice.sock"},
		Metrics:    MetricsSpec{Listen: "127.0.0.1:9477"},
		Dataplane:  DataplaneSpec{Workers: 0, Idle: IdlePoll},
		Interfaces: map[string]InterfaceSpec{},
		SAs:        map[string]ipsec.SASpec{},
		Firewall:   FirewallSpec{Names: map[string]RuleSetSpec{}, Interfaces: map[string]string{}},
		L2TP: L2TPSpec{
			LNS: LNSSpec{
				Hostname: "sluice", HelloInterval: 60 * time.Second, ReceiveWindow: 4,
				MaxTunnels: 1024, MaxTunnelsPerPeer: 16, MaxSessionsPerTunnel: 16, MaxSessions: 4096,
				SCCRQRate: 100, RetransmitTimeout: time.Second, RetransmitCap: 8 * time.Second, MaxRetransmits: 5,
			},
			Static: map[uint16]TunnelSpec{},
		},
		Log: LogSpec{Format: "text", Level: "info"},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults:\n%+v\nwant:\n%+v", cfg, want)
	}
	// Per-instance defaults.
	tr := New()
	for _, c := range []string{"interfaces eth0", "ipsec sa a spi 0x1000", "ipsec sa a direction in", "ipsec sa a source 192.0.2.1",
		"ipsec sa a destination 192.0.2.2", "ipsec sa a proposal aes128gcm16", "ipsec sa a enc-key " + key20,
		"ipsec sa a encapsulation udp", "firewall name X rule 1 action accept"} {
		if err := tr.Set(cmd(c)); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err = tr.Config()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Interfaces["eth0"]; got.Driver != DriverAFXDP || got.XDPMode != XDPModeAuto || got.Queues != nil {
		t.Errorf("interface defaults = %+v, want afxdp, auto, all queues", got)
	}
	sa := cfg.SAs["a"]
	if sa.ReplayWindow != 1024 || sa.Mode != ipsec.Transport || sa.ESN || sa.SourcePort != 4500 || sa.DestinationPort != 4500 {
		t.Errorf("SA defaults = %+v, want replay-window 1024, transport, no ESN, RFC 3948 ports 4500", sa)
	}
	if rs := cfg.Firewall.Names["X"]; rs.DefaultAction != ActionDrop || !rs.Rules[0].AnyProtocol {
		t.Errorf("rule set defaults = %+v, want default-action drop and protocol all", rs)
	}
}

// Every schema default must be a value the node accepts, in its canonical
// spelling, so the default and a written-out default mean the same.
func TestSchemaTable(t *testing.T) {
	var walk func(s *Schema)
	walk = func(s *Schema) {
		for _, c := range s.Children {
			p := strings.Join(c.Path(), " ")
			if c.Help == "" {
				t.Errorf("%s has no help text", p)
			}
			if c.IsLeaf() && c.Type == TypeNone {
				t.Errorf("%s is a leaf without a type", p)
			}
			if c.Type == TypeEnum && len(c.Values) == 0 {
				t.Errorf("%s is an enum without values", p)
			}
			if c.Required && c.Default != "" {
				t.Errorf("%s is required and has a default", p)
			}
			if c.Default != "" {
				if got, err := c.Normalize(c.Default); err != nil || got != c.Default {
					t.Errorf("%s default %q normalizes to %q, %v", p, c.Default, got, err)
				}
			}
			walk(c)
		}
	}
	walk(Root())
}

func TestTypedValues(t *testing.T) {
	cfg, err := mustLoadFile(t, "testdata/sluice.yaml").Config()
	if err != nil {
		t.Fatal(err)
	}
	in := cfg.SAs["in-client1"]
	// Expected values read off the YAML by hand: spi 0x0000c001, 10G is
	// 10 * 2^30 (binary, as swanctl), hello-interval 60 is seconds.
	if in.SPI != 0xc001 || in.Direction != ipsec.In || in.Proposal != ipsec.AES128GCM16 ||
		in.Source != netip.MustParseAddr("198.51.100.7") || in.Destination != netip.MustParseAddr("203.0.113.1") ||
		len(in.EncKey) != 20 || in.EncKey[0] != 0xfe || in.EncKey[19] != 0xbe || in.Pair != "out-client1" {
		t.Errorf("in-client1 = %+v", in)
	}
	if in.Life != (ipsec.Lifetime{RekeyTime: 3300 * time.Second, LifeTime: time.Hour, LifeBytes: 10 << 30, LifePackets: 1000000000}) {
		t.Errorf("life = %+v", in.Life)
	}
	if cfg.L2TP.LNS.HelloInterval != time.Minute {
		t.Errorf("hello-interval = %v, want 1m", cfg.L2TP.LNS.HelloInterval)
	}
	tun := cfg.L2TP.Static[1]
	if tun.ID != 1 || tun.PeerTunnel != 1 || tun.SA != "in-client1" || tun.Sessions[1] != (SessionSpec{ID: 1, PeerSession: 1}) {
		t.Errorf("tunnel 1 = %+v", tun)
	}
	if got := cfg.Firewall.Interfaces["eth0"]; got != "WAN_LOCAL" {
		t.Errorf("eth0 local = %q", got)
	}
	if got := cfg.Interfaces["eth0"].Address; !slices.Equal(got, []netip.Addr{netip.MustParseAddr("203.0.113.1")}) {
		t.Errorf("eth0 address = %v", got)
	}
}
