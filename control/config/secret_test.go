package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// The key material of testdata/lab.yaml and a distinctive one set below,
// as hex: none of it may appear in any rendering meant for people.
var secretHex = []string{
	"feffe9928665731c6d6a8f9467308308",
	"4c80cdefbb5d10da906ac73c3613a634",
	"5ec7e75ec7e75ec7e75ec7e75ec7e75e",
}

func assertNoKeys(t *testing.T, what, s string) {
	t.Helper()
	l := strings.ToLower(s)
	for _, k := range secretHex {
		if strings.Contains(l, k) || strings.Contains(l, k[:12]) {
			t.Errorf("%s shows key material %s...:\n%s", what, k[:12], s)
		}
	}
}

func TestKeysAreNeverPrinted(t *testing.T) {
	tr := mustLoadFile(t, "testdata/lab.yaml")
	if err := tr.Set(cmd("l2tp lns secret 0x" + secretHex[2])); err != nil {
		t.Fatal(err)
	}
	cfg, err := tr.Config()
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(tr)
	cfgJSON, _ := json.Marshal(cfg)
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "sa", cfg.SAs["in-client1"], "lns", cfg.L2TP.LNS)
	before := tr.Clone()
	_ = tr.Set(cmd("ipsec sa in-client1 enc-key 0x000102030405060708090a0b0c0d0e0f10111213"))
	var diff []string
	for _, d := range Diff(before, tr) {
		diff = append(diff, d.String(), fmt.Sprint(d.Path))
	}
	for what, s := range map[string]string{
		"Curly(Redacted)":    string(before.Curly(Redacted)),
		"YAML(Redacted)":     string(before.YAML(Redacted)),
		"Commands(Redacted)": strings.Join(before.Commands(Redacted), "\n"),
		"String":             before.String(),
		"%v":                 fmt.Sprintf("%v", before),
		"%+v":                fmt.Sprintf("%+v", before),
		"%#v":                fmt.Sprintf("%#v", before),
		"JSON":               string(js),
		"Config %+v":         fmt.Sprintf("%+v", cfg),
		"Config %#v":         fmt.Sprintf("%#v", cfg),
		"Config JSON":        string(cfgJSON),
		"slog":               logs.String(),
		"Diff":               strings.Join(diff, "\n"),
	} {
		assertNoKeys(t, what, s)
	}
	// Only the explicit request shows them (save writes the file with it).
	if !strings.Contains(string(before.YAML(Revealed)), secretHex[0]) {
		t.Error("Revealed YAML lacks the key: save would lose it")
	}
	if !strings.Contains(string(before.Curly(Revealed)), secretHex[2]) {
		t.Error("Revealed curly lacks the LNS secret")
	}
}

func TestKeysAreNeverInErrors(t *testing.T) {
	cases := []string{
		"ipsec:\n  sa:\n    a:\n      enc-key: 0x" + secretHex[2] + "zz\n",                            // not hex
		"ipsec:\n  sa:\n    a:\n      enc-key: " + secretHex[2] + "\n",                                // no 0x
		"ipsec:\n  sa:\n    a:\n      enc-key: 0x" + secretHex[2] + "\n      proposal: aes256gcm16\n", // wrong length
		"ipsec:\n  sa:\n    a:\n      enc-key: [0x" + secretHex[2] + "]\n",                            // a list
		"ipsec:\n  sa:\n    a:\n      enc-key: {0x" + secretHex[2] + ": 1}\n",                         // a mapping
		"l2tp { lns { secret 0x" + secretHex[2] + "-\n } }",
		"l2tp { lns { secret 0x" + secretHex[2] + " 0x" + secretHex[2] + "\n } }",
	}
	for i, text := range cases {
		tr, err := Parse([]byte(text), FormatAuto)
		if err == nil {
			_, err = tr.Config()
		}
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		assertNoKeys(t, fmt.Sprintf("case %d error", i), err.Error())
	}
}
