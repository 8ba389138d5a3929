// Package afxdp is sluice's AF_XDP port: the production implementation of
// dataplane.Port, and the XDP steering program that decides what reaches
// it. It is the only package of the repository that makes the ring
// syscalls (x/sys/unix) and uses unsafe.
//
// # Data flow
//
// A NIC queue runs the steering program (steerprog.go, eBPF written with
// cilium/ebpf/asm): ESP, UDP/4500 and UDP/1701 frames are redirected to the
// queue's AF_XDP socket through an XSKMAP (bpf_redirect_map keyed by
// rx_queue_index, XDP_PASS when the queue has no socket); everything else
// (ARP, ICMP, SSH, IKE on UDP/500, ...) goes on to the kernel, so the box
// stays reachable. The program makes exactly dataplane.Steer's decision;
// a BPF_PROG_TEST_RUN test holds them equal. It counts its verdicts per
// CPU (Program.Counters: passed-to-kernel).
//
// The kernel copies (copy mode) or DMAs (zero-copy) redirected frames into
// UMEM chunks it took from the fill ring and posts them on the RX ring.
// One worker drives one Port:
//
//	fill ring ──kernel──► RX ring ──Recv──► worker ──Send──► TX ring ──kernel──► completion ring
//	    ▲                                      │ Release                               │
//	    └──── refill (Recv, Wait) ◄── free-frame stack ◄──────────── reap (Recv, Send, Alloc)
//
// Frames are recycled through a stack of chunk addresses, so nothing is
// allocated per packet; ring indices are read and published once per
// burst; the kernel is woken with sendto(2) only when the TX ring asks for
// it (need-wakeup), and Wait sleeps in poll(2) for the idle=poll strategy.
//
// # Frame layout
//
//	chunk           chunk+Off               chunk+Off+Len         chunk+FrameSize
//	|   headroom    |      packet bytes      |       tailroom       |
//	 ◄─ 256 bytes ─►
//
// Received frames start XDP_PACKET_HEADROOM (256) bytes into their chunk,
// frames from Alloc at Options.Headroom: room for ESP encapsulation to
// prepend headers in place. Frame.Handle is the chunk's UMEM address.
//
// # asavie/xdp
//
// The socket, UMEM and rings are created by github.com/asavie/xdp v0.3.3
// (NewSocket), and the program plugs into its xdp.Program{Program, Queues,
// Sockets}. Its per-packet methods are not used: Transmit makes a syscall
// per call and panics on unexpected errors, GetDescs scans every frame,
// ring indices are accessed without atomics, and there is no need-wakeup.
// The port drives the rings asavie mapped itself (read through reflection,
// checked against the kernel's XDP_MMAP_OFFSETS), unmaps them on Close
// (asavie does not, which keeps the socket and its queue busy), and
// attaches programs with netlink (asavie's Attach/Detach loop forever on
// generic-mode programs). asavie registers the UMEM without headroom, so
// received frames get the kernel's 256 bytes and no more.
//
// # Privileges
//
// CAP_NET_RAW (AF_XDP socket), CAP_BPF and CAP_NET_ADMIN (load and attach
// the program), and CAP_IPC_LOCK or a RLIMIT_MEMLOCK above the UMEM size.
// CheckSupport tells the daemon, in one line, which is missing.
package afxdp
