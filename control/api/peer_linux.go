package api

import (
	"net"
	"os/user"
	"strconv"
	"syscall"
)

// peerCred returns the uid of the process at the other end of a unix
// socket connection (SO_PEERCRED), as the kernel recorded it at connect
// time: clients cannot claim to be someone else.
func peerCred(c net.Conn) (uid int, ok bool) {
	uc, isUnix := c.(*net.UnixConn)
	if !isUnix {
		return 0, false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var cred *syscall.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || serr != nil {
		return 0, false
	}
	return int(cred.Uid), true
}

// userName names uid for the commit history: the login name, or "uid N".
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}
