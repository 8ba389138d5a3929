package bench

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/dataplane/dptest"
)

// Lab is sluice-bench's namespace lab: a "server" and a "client" network
// namespace joined by a veth pair, without addresses (the traffic is raw
// Ethernet frames from the generator, received by AF_XDP). It is
// dptest.NewVethLab for a command instead of a test: built on the same
// dptest namespace helpers, torn down by Close.
//
//	[server ns] Server.If  ── veth ──  Client.If [client ns]
type Lab struct {
	Server, Client LabEnd
}

// LabEnd is one side of a Lab.
type LabEnd struct {
	NS  *dptest.Netns
	If  string
	MAC net.HardwareAddr
}

// NewLab creates a lab whose veth ends have the given MTU (default 1500)
// and one queue each. Needs root. On failure it removes what it made.
func NewLab(mtu int) (_ *Lab, err error) {
	if mtu <= 0 {
		mtu = 1500
	}
	sfx := dptest.RandomSuffix(6)
	l := &Lab{Server: LabEnd{If: "sbsv" + sfx}, Client: LabEnd{If: "sbcl" + sfx}}
	defer func() {
		if err != nil {
			_ = l.Close()
		}
	}()
	if l.Server.NS, err = dptest.NewNetns("sluice-bench-srv-" + sfx); err != nil {
		return nil, err
	}
	if l.Client.NS, err = dptest.NewNetns("sluice-bench-cli-" + sfx); err != nil {
		return nil, err
	}
	veth := &netlink.Veth{
		LinkAttrs:       netlink.LinkAttrs{Name: l.Server.If, MTU: mtu, NumTxQueues: 1, NumRxQueues: 1, Namespace: netlink.NsFd(l.Server.NS.Handle())},
		PeerName:        l.Client.If,
		PeerNamespace:   netlink.NsFd(l.Client.NS.Handle()),
		PeerNumTxQueues: 1, PeerNumRxQueues: 1, PeerMTU: uint32(mtu),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("lab: add veth: %w", err)
	}
	for _, e := range []*LabEnd{&l.Server, &l.Client} {
		h, err := netlink.NewHandleAt(e.NS.Handle(), unix.NETLINK_ROUTE)
		if err != nil {
			return nil, fmt.Errorf("lab: netlink in %s: %w", e.NS.Name, err)
		}
		link, err := h.LinkByName(e.If)
		if err == nil {
			err = h.LinkSetUp(link)
		}
		if err == nil {
			link, err = h.LinkByName(e.If)
		}
		h.Close()
		if err != nil {
			return nil, fmt.Errorf("lab: %s in %s: %w", e.If, e.NS.Name, err)
		}
		e.MAC = link.Attrs().HardwareAddr
	}
	return l, nil
}

// Close deletes the veth pair and both namespaces. Ports and programs
// opened in the lab must be closed first.
func (l *Lab) Close() error {
	var errs []error
	if l.Server.NS != nil {
		if h, err := netlink.NewHandleAt(l.Server.NS.Handle(), unix.NETLINK_ROUTE); err == nil {
			if link, err := h.LinkByName(l.Server.If); err == nil {
				if err := h.LinkDel(link); err != nil {
					errs = append(errs, fmt.Errorf("lab: delete %s: %w", l.Server.If, err))
				}
			}
			h.Close()
		}
	}
	for _, e := range []*LabEnd{&l.Server, &l.Client} {
		if e.NS != nil {
			errs = append(errs, e.NS.Delete())
			e.NS = nil
		}
	}
	return errors.Join(errs...)
}
