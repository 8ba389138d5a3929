package afxdp

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run when the tests leave file descriptors or socket
// mappings behind (a port's socket, eventfd, ring mappings, a program or
// map fd), like cilium's testmain fd check. The kernel frees a closed
// socket asynchronously, so the check retries for a moment.
func TestMain(m *testing.M) {
	fds0, maps0 := openFDs(), socketMappings()
	code := m.Run()
	if code == 0 {
		var fds, maps int
		for i := 0; i < 50; i++ {
			if fds, maps = openFDs(), socketMappings(); fds <= fds0 && maps <= maps0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if fds > fds0 || maps > maps0 {
			fmt.Fprintf(os.Stderr, "leak: %d open fds (was %d), %d socket mappings (was %d)\n", fds, fds0, maps, maps0)
			code = 1
		}
	}
	os.Exit(code)
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}

// socketMappings counts memory mappings of sockets: AF_XDP rings and
// UMEM-less ring maps show up as "socket:[inode]".
func socketMappings() int {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "socket:[")
}
