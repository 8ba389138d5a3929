//go:build !linux

package api

import (
	"net"
	"os/user"
	"strconv"
)

// peerCred is not available here: every client is "unknown".
func peerCred(net.Conn) (uid int, ok bool) { return 0, false }

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}
