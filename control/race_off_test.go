//go:build !race

package control

// raceEnabled shrinks the slow tests under the race detector, which costs
// ten times the CPU, so that CI stays under a minute.
const raceEnabled = false
