//go:build race

package bench

// raceEnabled: the race detector instruments and drops sync.Pool items on
// purpose, so allocation counts mean nothing under it.
const raceEnabled = true
