//go:build !linux

package bench

// pinCPU is a no-op off Linux.
func pinCPU(cpu int) error { return nil }
