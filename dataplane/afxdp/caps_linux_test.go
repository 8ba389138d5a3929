package afxdp

import "golang.org/x/sys/unix"

// Capability numbers, named for the tests.
const (
	capNetAdmin = unix.CAP_NET_ADMIN
	capNetRaw   = unix.CAP_NET_RAW
	capBPF      = unix.CAP_BPF
	capIPCLock  = unix.CAP_IPC_LOCK
	capSysAdmin = unix.CAP_SYS_ADMIN
)
