package dataplane

// Procs returns the GOMAXPROCS for a process whose workers busy-poll on CPUs
// of their own while everything else (the control plane, the garbage
// collector) runs on the other, housekeeping, CPUs. Call it with the number
// of workers and of housekeeping CPUs; the result is at least their sum.
//
// A busy worker holds a P for good, so the rest needs Ps of its own, and
// the Go scheduler must never need a worker's P for them. Two rules of the
// runtime decide whether it does:
//
//   - sysmon preempts any goroutine that ran 10ms, a worker's too. A worker
//     is locked to its thread, so its P goes to another thread, whose
//     scheduler runs a GC mark worker first if the collector wants one
//     there, then the global run queue (a commit may be ahead of the
//     worker in it), and only then hands the P back.
//   - the collector's background marking is 25% of GOMAXPROCS: round(n/4)
//     dedicated mark workers, each keeping the P it starts on until the
//     mark phase ends, and, when that rounding is more than 30% off
//     (GOMAXPROCS <= 3 or 6), fractional mark workers that every P runs
//     when it next schedules, a worker's P included, until the P has
//     given 25-30% of the mark phase (gcControllerState.startCycle and
//     assignWaitingGCWorker in runtime/mgcpacer.go). At 2 Ps a 250ms
//     mark phase during a 100,000-SA commit took a worker's P for
//     8-32ms at a time.
//
// So Procs avoids the fractional counts and leaves, besides the workers'
// Ps and the dedicated mark workers', one P for a commit and one spare, on
// which a worker preempted at a bad moment is picked up at once.
func Procs(workers, housekeeping int) int {
	n := workers + max(housekeeping, 1)
	for fractionalMarking(n) || n-workers < (n+2)/4+2 {
		n++
	}
	return n
}

// fractionalMarking reports whether the runtime's GC pacer uses fractional
// mark workers at GOMAXPROCS n (runtime/mgcpacer.go, startCycle).
func fractionalMarking(n int) bool {
	goal := float64(n) * 0.25
	dedicated := int(goal + 0.5)
	err := float64(dedicated)/goal - 1
	return err > 0.3 || err < -0.3
}
