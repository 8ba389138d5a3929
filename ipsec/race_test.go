//go:build race

package ipsec

// raceEnabled shrinks slow tests under the race detector.
const raceEnabled = true
