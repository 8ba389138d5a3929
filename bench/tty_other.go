//go:build !linux

package bench

import "os"

// IsTerminal reports whether f is a character device (an approximation off
// Linux).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
