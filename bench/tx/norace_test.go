//go:build !race

package tx

// raceEnabled: allocation counts mean nothing under the race detector.
const raceEnabled = false
