package dptest

import (
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// PacketSocket is an AF_PACKET socket bound to one interface of a lab: it
// injects whole Ethernet frames and captures what arrives. It is a test
// tool (one syscall per frame), not a dataplane port.
type PacketSocket struct {
	fd      int
	ifindex int
}

// htons converts a 16-bit protocol number to network order for AF_PACKET.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// OpenPacketSocket opens an AF_PACKET raw socket on ifname inside ns,
// receiving every protocol (ETH_P_ALL).
func OpenPacketSocket(ns *Netns, ifname string) (*PacketSocket, error) {
	s := &PacketSocket{fd: -1}
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind AF_PACKET to %s: %w", ifname, err)
		}
		s.fd, s.ifindex = fd, ifi.Index
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("packet socket on %s in %s: %w", ifname, ns.Name, err)
	}
	return s, nil
}

// Send transmits one whole Ethernet frame.
func (s *PacketSocket) Send(frame []byte) error {
	return unix.Sendto(s.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: s.ifindex, Halen: 6})
}

// ErrTimeout is returned by Recv when nothing arrived in time.
var ErrTimeout = errors.New("dptest: receive timeout")

// Recv waits up to timeout for the next frame that arrived on the
// interface (frames the host itself sent are skipped) and copies it into
// buf, returning its length.
func (s *PacketSocket) Recv(buf []byte, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		n, outgoing, err := s.RecvAny(buf, time.Until(deadline))
		if err != nil || !outgoing {
			return n, err
		}
	}
}

// RecvAny waits up to timeout for the next frame crossing the interface in
// either direction and copies it into buf, returning its length and
// whether the host itself sent it (PACKET_OUTGOING): a capture of the
// wire, as tcpdump sees it.
func (s *PacketSocket) RecvAny(buf []byte, timeout time.Duration) (n int, outgoing bool, err error) {
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return 0, false, ErrTimeout
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return 0, false, err
		}
		n, from, err := unix.Recvfrom(s.fd, buf, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, false, err
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		return n, ok && ll.Pkttype == unix.PACKET_OUTGOING, nil
	}
}

// Close closes the socket.
func (s *PacketSocket) Close() error {
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}
