package main

import (
	"log/slog"
	"os"
	"runtime"
	"slices"

	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/dataplane/afxdp"
)

// reserveCPUs leaves the CPUs of pinned workers (dataplane.cpus; workerCPUs
// holds one per worker) to the workers: every other thread of the daemon
// (control plane, API, L2TP server, garbage collector) is confined to the
// CPUs left, and GOMAXPROCS is sized by dataplane.Procs so that the Go
// scheduler never needs a worker's P for them. Without it a 100,000-SA
// commit on 2 CPUs stopped a worker for 8-32ms at a time: GC mark workers
// and the committing goroutine ran on its P and, at the OS level, on its
// CPU. Call it before the workers start (it would move their threads too).
// Unpinned workers leave the runtime's defaults; so does a GOMAXPROCS set
// in the environment.
func reserveCPUs(log *slog.Logger, workerCPUs []int) {
	if len(workerCPUs) == 0 {
		return
	}
	all, err := afxdp.CPUs()
	if err != nil {
		log.Warn("worker CPUs not reserved", "err", err)
		return
	}
	var rest []int
	for _, c := range all {
		if !slices.Contains(workerCPUs, c) {
			rest = append(rest, c)
		}
	}
	if len(rest) == 0 {
		log.Warn("worker CPUs not reserved: workers are pinned to every CPU, the control plane and the garbage collector share them", "cpus", all)
		return
	}
	if err := afxdp.ConfineThreads(rest); err != nil {
		log.Warn("worker CPUs not reserved", "err", err)
		return
	}
	procs := runtime.GOMAXPROCS(0)
	if os.Getenv("GOMAXPROCS") == "" {
		// Explicit either way: the runtime would otherwise resize it from
		// the affinity of its (now confined) monitor thread.
		procs = dataplane.Procs(len(workerCPUs), len(rest))
		runtime.GOMAXPROCS(procs)
	}
	log.Info("worker CPUs reserved", "worker_cpus", workerCPUs, "control_cpus", rest, "gomaxprocs", procs)
	if len(rest) < minHousekeepingCPUs {
		log.Warn("one CPU left for the control plane and the Go runtime: while it is busy (a big commit, a garbage collection) workers wait milliseconds for the runtime to give them back their processor; leave at least two (README: Workers during a big commit)",
			"control_cpus", rest)
	}
}

// minHousekeepingCPUs is how many CPUs the control plane and the Go runtime
// should keep when workers are pinned: with one, a 100,000-SA commit paused
// a pinned worker for 5-25ms (BenchmarkCommit100kSAs, control/), because
// the thread that hands a preempted worker its processor back waits for
// that one busy CPU.
const minHousekeepingCPUs = 2
