// Package dptest holds helpers for dataplane tests that need the kernel:
// root and capability checks, network namespaces entered from a locked OS
// thread, a two-namespace veth lab, raw AF_PACKET sockets to inject and
// capture frames on a lab interface (Recv for what arrives, RecvAny for the
// wire both ways), and TUN devices (OpenTun) through which a test plays
// the network stack for a namespace's routed traffic.
//
// A privileged test calls RequireRoot first, then NewVethLab, which creates
// a server and a client namespace joined by a veth pair and removes all of
// it in t.Cleanup, failing the test if anything (a namespace, a link, an
// attached XDP program) would be left behind. Code that must run inside a
// namespace (opening sockets, attaching programs) runs in Netns.Do; sockets
// created there stay in that namespace for their whole life and may be used
// from any goroutine afterwards.
//
// Packet builders and checkers live beside these helpers as they are
// written (TODO(#3): shared builders for ESP/L2TP frames).
package dptest
