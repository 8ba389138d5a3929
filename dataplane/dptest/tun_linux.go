package dptest

import (
	"fmt"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// OpenTun creates the TUN device name in ns (IFF_TUN|IFF_NO_PI: each read
// and write is one bare IP packet), sets its link up and returns it. The
// fd is non-blocking and on the runtime's poller, so a Read parks only its
// goroutine and Close wakes it with os.ErrClosed. The device lives as long
// as the file: closing it removes the link. Routes through it are the
// caller's to add.
func OpenTun(ns *Netns, name string) (*os.File, error) {
	var f *os.File
	err := ns.Do(func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			unix.Close(fd)
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("TUNSETIFF %s: %w", name, err)
		}
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fd)
			return err
		}
		tun := os.NewFile(uintptr(fd), "/dev/net/tun:"+name)
		link, err := netlink.LinkByName(name)
		if err == nil {
			err = netlink.LinkSetUp(link)
		}
		if err != nil {
			tun.Close()
			return fmt.Errorf("set %s up: %w", name, err)
		}
		f = tun
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tun %s in %s: %w", name, ns.Name, err)
	}
	return f, nil
}
