//go:build !linux

package control

// withNice runs fn; thread priorities are a Linux feature here.
func withNice(nice int, fn func()) error {
	fn()
	return nil
}
