package bench

import "github.com/sluicenet/sluice/dataplane/afxdp"

// pinCPU pins the calling (locked) OS thread to cpu.
func pinCPU(cpu int) error { return afxdp.PinCPU(cpu) }
