package control

import (
	"runtime"
	"syscall"
)

// withNice runs fn on an OS thread of its own at niceness nice
// (setpriority(2) on the thread id, which Linux applies to that thread
// only) and waits for it. The thread is never unlocked: when the goroutine
// returns locked, the runtime ends the thread, so no other goroutine ever
// runs at the lowered priority and nothing needs restoring (raising a
// priority back would need CAP_SYS_NICE).
func withNice(nice int, fn func()) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
		fn()
		errc <- err
	}()
	return <-errc
}
