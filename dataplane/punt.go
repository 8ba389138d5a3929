package dataplane

import (
	"net/netip"

	"github.com/sluicenet/sluice/dataplane/ring"
	"github.com/sluicenet/sluice/ipsec"
)

// MaxPacket is the largest packet the punt and inject queues carry; it
// matches the default frame size of every port.
const MaxPacket = 2048

// PuntKind says why a packet went to the control plane.
type PuntKind uint8

// Punt kinds.
const (
	PuntL2TPControl PuntKind = iota // an L2TP control message (T=1) the rules accepted
	PuntIKE                         // UDP/4500 starting with the non-ESP marker (RFC 3948 2.2)
)

func (k PuntKind) String() string {
	if k == PuntIKE {
		return "ike"
	}
	return "l2tp-control"
}

// Punt is one packet handed from a worker to the control plane, with what the
// control plane needs to answer it: the SA it arrived in (nil: cleartext),
// the outer addresses and NAT-T ports, and the Ethernet addresses to reply to.
//
// Packet holds the IP packet as --punt writes it: for ESP, the decrypted inner
// packet (transport mode: the outer header fixed up, NAT-T header removed);
// for cleartext and IKE, the IP packet as received.
type Punt struct {
	Kind     PuntKind
	Worker   int
	Iface    string
	SA       *ipsec.InboundSA
	OuterSrc netip.AddrPort // outer source address; port set when ESP came in UDP
	OuterDst netip.AddrPort
	SrcMAC   [6]byte
	DstMAC   [6]byte
	VLAN     uint16 // the tag's control information, 0 when untagged
	VLANType uint16 // the tag's EtherType (TPID): 0x8100 (802.1Q) or 0x88a8 (802.1ad); 0 when untagged
	Tagged   bool
	Len      int
	Buf      [MaxPacket]byte
}

// Packet returns the punted IP packet.
func (p *Punt) Packet() []byte { return p.Buf[:p.Len] }

// PuntQueue is a worker's bounded queue to the control plane. The worker is
// the only producer; one control-plane goroutine is the only consumer.
type PuntQueue = ring.Ring[Punt]

// Inject is one ready-to-send Ethernet frame from the control plane (an L2TP
// reply, already ESP-encrypted), transmitted by the worker that owns the port.
type Inject struct {
	Len int
	Buf [MaxPacket]byte
}

// InjectQueue is a worker's bounded queue of frames from the control plane.
// One control-plane goroutine at a time may produce (serialise with a mutex
// on the control side); the worker is the only consumer.
type InjectQueue = ring.Ring[Inject]

// NewPuntQueue returns a punt queue with room for depth packets.
func NewPuntQueue(depth int) *PuntQueue { return ring.New[Punt](depth) }

// NewInjectQueue returns an inject queue with room for depth frames.
func NewInjectQueue(depth int) *InjectQueue { return ring.New[Inject](depth) }
