// Package l2tptest holds helpers for tests that put a real L2TP peer in
// front of sluice's LNS: Debian's xl2tpd as the LAC, one instance per
// test, in a network namespace the test made.
//
// StartLAC writes xl2tpd.conf, l2tp-secrets and the pppd options into a
// temporary directory, then runs xl2tpd under `ip netns exec` inside a
// private mount namespace (`unshare --mount`), where a stand-in pppd is
// bind-mounted over /usr/sbin/pppd: this kernel has no /dev/ppp, so the real
// pppd would exit at once and xl2tpd would hang up every call. The stand-in
// (fake-pppd, embedded in the test binary and written beside the
// configuration) speaks LCP over RFC 1662 async HDLC framing, sends an
// Echo-Request every 0.3 s, answers echoes and logs one JSON line per event
// to pppd-events.jsonl, which PPPDEvents reads back.
//
// The test drives the LAC through xl2tpd's control FIFO (Connect,
// Disconnect, Command), reads its log (Log), and may Stop it early; t.Cleanup
// stops it in any case, signalling only the process group it started, and
// prints the log and the pppd events when the test failed.
//
// It is imported by tests only (l2tp's and control's), needs root and the
// tools xl2tpd, unshare, ip and /usr/bin/python3. RequireTool, which l2tp's
// other oracle tests (tshark, ip) use too, skips a test whose tool is
// missing on a developer machine and fails it in CI (CI=true). The package
// stays a leaf of l2tp: it imports nothing of sluice.
package l2tptest
