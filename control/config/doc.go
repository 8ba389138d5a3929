// Package config holds sluice's one configuration tree and the schema that
// drives it.
//
// Data flow: text (YAML, Vyatta/VyOS curly syntax, or "set ..." command
// lines) is parsed against the schema into a Tree. The Tree is what the
// shell edits (Set, Delete), compares (Diff), completes (Complete, Help)
// and renders (YAML, Curly, Commands, JSON). (*Tree).Config validates the
// whole tree at once, reporting every problem with its path, and returns the
// typed Config the control plane compiles into the dataplane's Tables.
//
//	file/API/shell ──Load/Set──► Tree ──Config()──► *Config ──► control (compile, publish)
//	                               │
//	                               └─ YAML / Curly / Commands / Diff (keys redacted unless asked)
//
// Paths follow VyOS: the YAML key path equals the shell path, so
// "set firewall name WAN_LOCAL rule 10 ipsec match-ipsec" is the YAML path
// firewall.name.WAN_LOCAL.rule.10.ipsec = match-ipsec. The tree is decoded
// with gopkg.in/yaml.v3's Node API, never through viper, because viper
// lower-cases keys (WAN_LOCAL would become wan_local) and loses order and
// line numbers.
//
// Every node is declared once, in the table of nodes.go: its name, kind, value
// type, help text, default and validator. Defaults live only there; the tree
// holds what the operator wrote, and Config fills in the rest.
//
// Key material (enc-key, auth-key, l2tp lns secret) is stored in the tree as
// canonical 0x-hex, and every rendering redacts it unless the caller passes
// Revealed (only `save` should). Error messages never quote it.
//
// Nothing here is on the packet path: the package allocates freely and is
// safe for one goroutine at a time per Tree.
package config
