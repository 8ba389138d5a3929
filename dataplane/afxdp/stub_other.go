//go:build !linux

package afxdp

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sluicenet/sluice/dataplane"
)

// AF_XDP and XDP exist only on Linux. Elsewhere the package builds, so
// that `go build ./...` and `go test ./...` pass on any OS, and every
// constructor fails with ErrNotSupported.

// DefaultMaxQueues is the default number of XSKMAP entries.
const DefaultMaxQueues = 256

// ProgramOptions configure LoadProgram.
type ProgramOptions struct {
	Bare      bool
	MaxQueues int
	Logger    *slog.Logger
}

// ProgramCounters are the steering program's verdict counts.
type ProgramCounters struct {
	Redirected uint64
	Passed     uint64
}

// Program is the XDP program of one interface (Linux only).
type Program struct{}

// LoadProgram fails: no XDP on this OS.
func LoadProgram(ProgramOptions) (*Program, error) { return nil, ErrNotSupported }

// Name returns "".
func (p *Program) Name() string { return "" }

// Mode returns ModeAuto.
func (p *Program) Mode() Mode { return ModeAuto }

// Attach fails: no XDP on this OS.
func (p *Program) Attach(string, Mode) error { return ErrNotSupported }

// Detach does nothing.
func (p *Program) Detach() error { return nil }

// Register fails: no XDP on this OS.
func (p *Program) Register(int, int) error { return ErrNotSupported }

// Unregister does nothing.
func (p *Program) Unregister(int) error { return nil }

// Counters returns zeros.
func (p *Program) Counters() (ProgramCounters, error) { return ProgramCounters{}, nil }

// Close does nothing.
func (p *Program) Close() error { return nil }

// PortCounters are counters of the port beyond dataplane.PortStats.
type PortCounters struct {
	KickErrors uint64
	BadFrames  uint64
}

// Errors of Flood; here every call fails with ErrNotSupported.
var (
	// ErrNotTxOnly is returned by Flood on a port that receives.
	ErrNotTxOnly = ErrNotSupported
	// ErrNoTemplates is returned by Flood without frames to send.
	ErrNoTemplates = ErrNotSupported
)

// Port is an AF_XDP port (Linux only); no value of it is ever returned here.
type Port struct{}

var _ dataplane.Port = (*Port)(nil)

// Open fails: no AF_XDP on this OS.
func Open(Options) (*Port, error) { return nil, ErrNotSupported }

// CheckSupport fails: no AF_XDP on this OS.
func CheckSupport(string) error { return ErrNotSupported }

// QueueCount fails: no ethtool channels on this OS.
func QueueCount(string) (int, error) { return 0, ErrNotSupported }

// PinCPU fails: no sched_setaffinity on this OS.
func PinCPU(int) error { return ErrNotSupported }

// CPUs fails: no sched_getaffinity on this OS.
func CPUs() ([]int, error) { return nil, ErrNotSupported }

// ConfineThreads fails: no sched_setaffinity on this OS.
func ConfineThreads([]int) error { return ErrNotSupported }

// Name returns "".
func (p *Port) Name() string { return "" }

// Queue returns 0.
func (p *Port) Queue() int { return 0 }

// Steered reports true.
func (p *Port) Steered() bool { return true }

// FD returns -1.
func (p *Port) FD() int { return -1 }

// ZeroCopy reports false.
func (p *Port) ZeroCopy() bool { return false }

// Program returns nil.
func (p *Port) Program() *Program { return nil }

// Recv returns 0.
func (p *Port) Recv([]dataplane.Frame) int { return 0 }

// Send returns 0.
func (p *Port) Send([]dataplane.Frame) int { return 0 }

// Release does nothing.
func (p *Port) Release([]dataplane.Frame) {}

// Alloc returns 0.
func (p *Port) Alloc([]dataplane.Frame) int { return 0 }

// Wait returns at once.
func (p *Port) Wait(time.Duration) {}

// Stats returns zeros.
func (p *Port) Stats() dataplane.PortStats { return dataplane.PortStats{} }

// Counters returns zeros.
func (p *Port) Counters() PortCounters { return PortCounters{} }

// Drop returns 0.
func (p *Port) Drop() int { return 0 }

// DropLoop returns 0 at once.
func (p *Port) DropLoop(*atomic.Bool, *atomic.Uint64) uint64 { return 0 }

// Flood fails: no AF_XDP on this OS.
func (p *Port) Flood([][]byte, *atomic.Bool, *atomic.Uint64) (uint64, error) {
	return 0, ErrNotSupported
}

// Close does nothing.
func (p *Port) Close() error { return nil }
