//go:build !linux

package bench

import "errors"

// ErrNotSupported is returned by the afxdp run off Linux.
var ErrNotSupported = errors.New("bench: afxdp runs need Linux")

// Lab is the namespace lab; Linux only.
type Lab struct{}

// NewLab returns ErrNotSupported off Linux.
func NewLab(mtu int) (*Lab, error) { return nil, ErrNotSupported }

// Close does nothing off Linux.
func (l *Lab) Close() error { return nil }

// AFXDP returns ErrNotSupported off Linux.
func AFXDP(o AFXDPOptions) (Row, error) { return Row{}, ErrNotSupported }
