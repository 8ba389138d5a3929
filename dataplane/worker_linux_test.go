package dataplane

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestPinnedWorkerThreadEnds checks what becomes of a worker's OS thread
// when Run returns: a pinned one ends with the goroutine (the runtime would
// otherwise run other goroutines on it, on the worker's CPU), one whose pin
// failed goes back to the runtime like any thread.
func TestPinnedWorkerThreadEnds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pinErr   error
		wantGone bool
	}{
		{name: "pinned", wantGone: true},
		{name: "pin failed", pinErr: errors.New("no such CPU"), wantGone: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The process's main thread cannot end: the runtime parks a
			// locked one for good instead. Run until the worker gets
			// another thread.
			tid := os.Getpid()
			for try := 0; tid == os.Getpid(); try++ {
				if try == 5 {
					t.Skip("the worker ran on the main thread every time")
				}
				tid = runWorkerOnce(t, tc.pinErr)
			}
			task := fmt.Sprintf("/proc/self/task/%d", tid)
			deadline := time.Now().Add(5 * time.Second)
			for {
				_, err := os.Stat(task)
				gone := errors.Is(err, fs.ErrNotExist)
				if gone == tc.wantGone {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("worker thread gone after Run: got %v, want %v", gone, tc.wantGone)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}

// runWorkerOnce runs a busy worker whose Pin hook returns pinErr, stops it
// and returns the id of the thread it ran on once Run has returned.
func runWorkerOnce(t *testing.T, pinErr error) int {
	t.Helper()
	tid := make(chan int, 1)
	w := NewWorker(WorkerOptions{Port: newTestPort(), Tables: new(atomic.Pointer[Tables]), Idle: IdleBusy, CPU: 0,
		Pin: func(int) error { tid <- syscall.Gettid(); return pinErr }})
	done := make(chan struct{})
	go func() { w.Run(); close(done) }()
	id := <-tid
	w.Stop()
	<-done
	return id
}
