package afxdp

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// classify maps a kernel error to the sentinel a caller branches on, or nil.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return ErrPermission
	case errors.Is(err, unix.EAFNOSUPPORT), errors.Is(err, unix.EPROTONOSUPPORT),
		errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS), errors.Is(err, ebpf.ErrNotSupported):
		return ErrNotSupported
	case errors.Is(err, unix.ENODEV):
		return ErrNoInterface
	}
	return nil
}

// wrapKernel wraps err with context and, when it is one of the conditions
// callers branch on, with its sentinel.
func wrapKernel(what string, err error) error {
	if s := classify(err); s != nil {
		return fmt.Errorf("%s: %w: %w", what, s, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// errnoOf returns the errno inside err, or err itself, for one-line
// messages without a library's advice appended.
func errnoOf(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// hasCap reports whether the calling thread has capability c in its
// effective set.
func hasCap(c int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[c/32].Effective&(1<<(uint(c)%32)) != 0
}

// CheckSupport tells whether this process can run an AF_XDP port on
// ifname, as the daemon checks before it starts anything. The error is one
// line and wraps ErrNoInterface (no such interface in the caller's
// namespace), ErrNotSupported (no AF_XDP socket family or no XDP programs
// in this kernel) or ErrPermission (missing CAP_NET_RAW, CAP_BPF or
// CAP_NET_ADMIN). Call it on the goroutine (thread) that will open ports:
// capabilities and network namespaces are per thread.
func CheckSupport(ifname string) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, err := net.InterfaceByName(ifname); err != nil {
		return fmt.Errorf("%s: %w", ifname, ErrNoInterface)
	}
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if s := classify(err); s == ErrPermission {
			return fmt.Errorf("%s: %w: AF_XDP socket needs CAP_NET_RAW (%v)", ifname, ErrPermission, err)
		}
		return fmt.Errorf("%s: %w: AF_XDP socket: %v", ifname, ErrNotSupported, err)
	}
	unix.Close(fd)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "sluice_probe", Type: ebpf.XDP, License: "Dual MIT/GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, xdpPass), asm.Return()},
	})
	if err != nil {
		if s := classify(err); s == ErrPermission {
			return fmt.Errorf("%s: %w: loading an XDP program needs CAP_BPF and CAP_NET_ADMIN (%v)", ifname, ErrPermission, errnoOf(err))
		}
		return fmt.Errorf("%s: %w: XDP program: %v", ifname, ErrNotSupported, errnoOf(err))
	}
	prog.Close()
	if !hasCap(unix.CAP_NET_ADMIN) {
		return fmt.Errorf("%s: %w: attaching an XDP program needs CAP_NET_ADMIN", ifname, ErrPermission)
	}
	return nil
}

// checkMemlock refuses a UMEM the kernel would refuse with a bare ENOBUFS:
// AF_XDP pins UMEM pages against RLIMIT_MEMLOCK unless the process has
// CAP_IPC_LOCK (net/xdp/xdp_umem.c, xdp_umem_account_pages). The limit is
// per user, so other locked memory counts too; this catches the common case.
func checkMemlock(ifname string, bytes uint64) error {
	if hasCap(unix.CAP_IPC_LOCK) {
		return nil
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl); err != nil {
		return nil // let the kernel decide
	}
	if rl.Cur != unix.RLIM_INFINITY && rl.Cur < bytes {
		return fmt.Errorf("%s: %w: UMEM of %d bytes exceeds RLIMIT_MEMLOCK (%d) without CAP_IPC_LOCK", ifname, ErrPermission, bytes, rl.Cur)
	}
	return nil
}

// ethtoolChannels is struct ethtool_channels (include/uapi/linux/ethtool.h).
type ethtoolChannels struct {
	Cmd           uint32
	MaxRx         uint32
	MaxTx         uint32
	MaxOther      uint32
	MaxCombined   uint32
	RxCount       uint32
	TxCount       uint32
	OtherCount    uint32
	CombinedCount uint32
}

// ifreqData is struct ifreq with ifr_data, as SIOCETHTOOL takes it.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte // the rest of the ifreq union
}

// QueueCount returns the number of RX queues of ifname: the ethtool channel
// counts (combined + rx-only, ETHTOOL_GCHANNELS through SIOCETHTOOL) or,
// for a driver without ethtool channels, the rx-* entries in
// /sys/class/net/IF/queues (which describe the namespace sysfs was mounted
// in, so prefer the ioctl inside namespaces).
func QueueCount(ifname string) (int, error) {
	if len(ifname) >= unix.IFNAMSIZ {
		return 0, fmt.Errorf("%s: %w", ifname, ErrNoInterface)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, wrapKernel("ethtool socket", err)
	}
	defer unix.Close(fd)
	ch := ethtoolChannels{Cmd: unix.ETHTOOL_GCHANNELS}
	var ifr ifreqData
	copy(ifr.name[:], ifname)
	ifr.data = unsafe.Pointer(&ch)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&ch)
	switch {
	case errno == 0 && ch.CombinedCount+ch.RxCount > 0:
		return int(ch.CombinedCount + ch.RxCount), nil
	case errno == unix.ENODEV:
		return 0, fmt.Errorf("%s: %w", ifname, ErrNoInterface)
	case errno == 0, errno == unix.EOPNOTSUPP:
		return queueCountSysfs("/sys/class/net", ifname)
	default:
		return 0, wrapKernel("ETHTOOL_GCHANNELS on "+ifname, errno)
	}
}

// queueCountSysfs counts rx-N directories under root/ifname/queues.
func queueCountSysfs(root, ifname string) (int, error) {
	ents, err := os.ReadDir(filepath.Join(root, ifname, "queues"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("%s: %w", ifname, ErrNoInterface)
		}
		return 0, fmt.Errorf("count queues of %s: %w", ifname, err)
	}
	n := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "rx-") {
			n++
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("%s: no rx queues in sysfs", ifname)
	}
	return n, nil
}

// PinCPU pins the calling OS thread to cpu (sched_setaffinity on thread
// id 0, the caller). Call it from a goroutine that has called
// runtime.LockOSThread, or the pin follows the thread and not the
// goroutine. It matches dataplane.WorkerOptions.Pin.
func PinCPU(cpu int) error {
	if cpu < 0 || cpu >= 1024 {
		return fmt.Errorf("cpu %d out of range", cpu)
	}
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to cpu %d: %w", cpu, err)
	}
	return nil
}

// CPUs returns the CPUs the calling thread may run on (sched_getaffinity),
// in increasing order. Called before any thread is pinned, that is the
// process's CPU set.
func CPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("cpu affinity: %w", err)
	}
	var cpus []int
	for c := 0; c < 1024; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// ConfineThreads sets the CPU affinity of every thread of the process to
// cpus (sched_setaffinity on each id under /proc/self/task). A thread the
// runtime starts later inherits the set of the thread that starts it; one
// started on behalf of a thread locked with runtime.LockOSThread is started
// by the runtime's template thread, itself confined, so a worker's pinned
// thread never passes its CPU on. Call it before starting pinned workers:
// it would move their threads too. The runtime may start threads during the
// walk, so it walks again until a walk finds no thread it has not set; a
// thread that ends meanwhile is skipped.
//
// The runtime sizes GOMAXPROCS from the affinity of its monitor thread,
// now confined too: set GOMAXPROCS explicitly after (dataplane.Procs).
func ConfineThreads(cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		if c < 0 || c >= 1024 {
			return fmt.Errorf("cpu %d out of range", c)
		}
		set.Set(c)
	}
	if set.Count() == 0 {
		return errors.New("confine threads: no CPU")
	}
	done := map[int]bool{}
	for {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("confine threads: %w", err)
		}
		fresh := 0
		for _, e := range ents {
			var tid int
			if _, err := fmt.Sscan(e.Name(), &tid); err != nil || done[tid] {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("confine thread %d to cpus %v: %w", tid, cpus, err)
			}
			done[tid] = true
			fresh++
		}
		if fresh == 0 {
			return nil
		}
	}
}
