//go:build !linux

package bench

import (
	"context"
	"errors"
)

// RunLive needs Linux (network namespaces, AF_XDP).
func RunLive(context.Context, LiveOptions) (*LiveResult, error) {
	return nil, errors.New("the live lab needs Linux")
}
