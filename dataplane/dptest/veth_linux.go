package dptest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// VethOptions shape a lab. The zero value gives one queue per direction,
// MTU 1500 and the addresses below.
type VethOptions struct {
	Queues int // RX and TX queues on each veth end (default 1)
	MTU    int // default 1500
}

// Lab addresses. Every lab lives in its own pair of namespaces, so parallel
// labs may share them.
var (
	ServerAddr4 = netip.MustParsePrefix("10.99.0.1/24")
	ClientAddr4 = netip.MustParsePrefix("10.99.0.2/24")
	ServerAddr6 = netip.MustParsePrefix("fd00:99::1/64")
	ClientAddr6 = netip.MustParsePrefix("fd00:99::2/64")
)

// End is one side of the lab: a namespace and the veth end inside it.
type End struct {
	NS    *Netns
	If    string // interface name inside NS
	Index int    // ifindex inside NS
	MAC   net.HardwareAddr
	Addr4 netip.Prefix
	Addr6 netip.Prefix
}

// VethLab is two namespaces, "server" and "client", joined by a veth pair
// with IPv4 and IPv6 addresses on both ends:
//
//	[server ns] Server.If 10.99.0.1/24 fd00:99::1/64
//	     |  veth
//	[client ns] Client.If 10.99.0.2/24 fd00:99::2/64
type VethLab struct {
	Server End
	Client End
}

// NewVethLab builds a lab with unique names and removes it in t.Cleanup.
// Cleanup fails the test if an XDP program is still attached to either end
// (whoever attached it should have detached it), then deletes the link and
// both namespaces and checks that neither names nor links are left.
// It needs root (call RequireRoot first).
func NewVethLab(tb testing.TB, opts *VethOptions) *VethLab {
	tb.Helper()
	var o VethOptions
	if opts != nil {
		o = *opts
	}
	if o.Queues <= 0 {
		o.Queues = 1
	}
	if o.MTU <= 0 {
		o.MTU = 1500
	}
	sfx := RandomSuffix(6)
	lab := &VethLab{
		Server: End{If: "slsv" + sfx, Addr4: ServerAddr4, Addr6: ServerAddr6},
		Client: End{If: "slcl" + sfx, Addr4: ClientAddr4, Addr6: ClientAddr6},
	}
	var err error
	if lab.Server.NS, err = NewNetns("sluice-srv-" + sfx); err != nil {
		tb.Fatalf("lab: %v", err)
	}
	if lab.Client.NS, err = NewNetns("sluice-cli-" + sfx); err != nil {
		_ = lab.Server.NS.Delete()
		tb.Fatalf("lab: %v", err)
	}
	tb.Cleanup(func() { lab.teardown(tb) })

	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{
			Name:        lab.Server.If,
			MTU:         o.MTU,
			NumTxQueues: o.Queues,
			NumRxQueues: o.Queues,
			Namespace:   netlink.NsFd(lab.Server.NS.Handle()),
		},
		PeerName:        lab.Client.If,
		PeerNamespace:   netlink.NsFd(lab.Client.NS.Handle()),
		PeerNumTxQueues: uint32(o.Queues),
		PeerNumRxQueues: uint32(o.Queues),
		PeerMTU:         uint32(o.MTU),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		tb.Fatalf("lab: add veth %s/%s: %v", lab.Server.If, lab.Client.If, err)
	}
	for _, e := range []*End{&lab.Server, &lab.Client} {
		if err := e.configure(); err != nil {
			tb.Fatalf("lab: %v", err)
		}
	}
	return lab
}

// configure brings lo and the veth end up and adds the addresses. IPv6
// addresses skip duplicate address detection so they are usable at once.
func (e *End) configure() error {
	h, err := netlink.NewHandleAt(e.NS.Handle(), unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", e.NS.Name, err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("%s: lo: %w", e.NS.Name, err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("%s: lo up: %w", e.NS.Name, err)
	}
	l, err := h.LinkByName(e.If)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", e.NS.Name, e.If, err)
	}
	for _, p := range []netip.Prefix{e.Addr4, e.Addr6} {
		a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
		if p.Addr().Is6() {
			a.Flags = unix.IFA_F_NODAD
		}
		if err := h.AddrAdd(l, a); err != nil {
			return fmt.Errorf("%s: add %s to %s: %w", e.NS.Name, p, e.If, err)
		}
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("%s: %s up: %w", e.NS.Name, e.If, err)
	}
	if l, err = h.LinkByName(e.If); err != nil {
		return fmt.Errorf("%s: %s: %w", e.NS.Name, e.If, err)
	}
	e.Index = l.Attrs().Index
	e.MAC = l.Attrs().HardwareAddr
	return nil
}

// Link returns the end's current link attributes (XDP state included),
// read through netlink inside its namespace.
func (e *End) Link() (*netlink.LinkAttrs, error) {
	h, err := netlink.NewHandleAt(e.NS.Handle(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", e.NS.Name, err)
	}
	defer h.Close()
	l, err := h.LinkByName(e.If)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", e.NS.Name, e.If, err)
	}
	return l.Attrs(), nil
}

// XDPProgID returns the id of the XDP program attached to the end (0: none)
// and its attach mode (netlink's XDP_ATTACHED_*).
func (e *End) XDPProgID() (id uint32, mode uint32, err error) {
	a, err := e.Link()
	if err != nil {
		return 0, 0, err
	}
	if a.Xdp == nil || !a.Xdp.Attached {
		return 0, 0, nil
	}
	return a.Xdp.ProgId, a.Xdp.AttachMode, nil
}

// detachAll removes any XDP program from the end, in every mode.
// vishvananda/netlink's XDP call has no Handle form, so it runs inside the
// namespace.
func (e *End) detachAll() error {
	return e.NS.Do(func() error {
		l, err := netlink.LinkByName(e.If)
		if err != nil {
			return err
		}
		var errs []error
		for _, flags := range []int{unix.XDP_FLAGS_SKB_MODE, unix.XDP_FLAGS_DRV_MODE} {
			if err := netlink.LinkSetXdpFdWithFlags(l, -1, flags); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
}

// teardown runs in t.Cleanup, after the test's own cleanups (LIFO), so
// ports and programs the test opened are closed by then.
func (lab *VethLab) teardown(tb testing.TB) {
	tb.Helper()
	for _, e := range []*End{&lab.Server, &lab.Client} {
		id, _, err := e.XDPProgID()
		if err != nil {
			continue // link gone already (namespace creation failed half way)
		}
		if id != 0 {
			tb.Errorf("lab: XDP program %d still attached to %s in %s", id, e.If, e.NS.Name)
			if err := e.detachAll(); err != nil {
				tb.Logf("lab: detach from %s: %v", e.If, err)
			}
		}
	}
	// Deleting one end deletes the pair, synchronously, unlike namespace
	// teardown, which the kernel finishes asynchronously.
	if h, err := netlink.NewHandleAt(lab.Server.NS.Handle(), unix.NETLINK_ROUTE); err == nil {
		if l, err := h.LinkByName(lab.Server.If); err == nil {
			if err := h.LinkDel(l); err != nil {
				tb.Errorf("lab: delete %s: %v", lab.Server.If, err)
			}
		}
		h.Close()
	}
	for _, e := range []*End{&lab.Server, &lab.Client} {
		if err := e.NS.Delete(); err != nil {
			tb.Errorf("lab: %v", err)
		}
		if e.NS.Exists() {
			tb.Errorf("lab: namespace %s left behind", e.NS.Name)
		}
		// The link must not have leaked into the test's own namespace.
		if _, err := netlink.LinkByName(e.If); err == nil {
			tb.Errorf("lab: link %s left behind in the test's namespace", e.If)
		}
	}
}
