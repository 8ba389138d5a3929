package afxdp

import "errors"

// Sentinel errors for the conditions the daemon branches on. It refuses to
// start with a one-line reason for each (ARCHITECTURE.md, Operator surface),
// so every error Open, LoadProgram and CheckSupport return for them wraps
// one of these: test with errors.Is.
var (
	// ErrNoInterface: the named interface does not exist (in the caller's
	// network namespace).
	ErrNoInterface = errors.New("no such interface")
	// ErrNotSupported: the kernel or platform lacks AF_XDP or XDP support,
	// or the driver refused a required mode (native XDP, zero-copy).
	ErrNotSupported = errors.New("AF_XDP not supported")
	// ErrPermission: the process lacks a capability it needs
	// (CAP_NET_RAW for the socket, CAP_BPF and CAP_NET_ADMIN for the
	// program, CAP_IPC_LOCK or a large enough RLIMIT_MEMLOCK for the UMEM).
	ErrPermission = errors.New("permission denied")
	// ErrClosed: the port or program was closed.
	ErrClosed = errors.New("closed")
)
