package dataplane

// Hot path: no allocation, no locks, no logging.

// Steering decisions. The XDP steering program (dataplane/afxdp) and Steer
// below implement the same function: a test runs both over the same frames
// (BPF_PROG_TEST_RUN) and requires equal answers.
//
// The dataplane owns ESP (IP protocol 50) and UDP to ports 4500 (NAT-T) and
// 1701 (L2TP, so that cleartext L2TP is seen, counted and dropped by us).
// Everything else (ARP, ICMP, SSH, IKE on UDP/500, non-first IPv4 fragments,
// frames too short to classify) goes to the kernel, so the box stays
// reachable. The program reads only what it needs to decide and validates
// nothing else: a frame it redirects may still be malformed, and the worker
// counts it as such.
const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
	etherTypeVLAN = 0x8100
	etherTypeQinQ = 0x88a8

	protoESP  = 50
	protoUDP  = 17
	portNATT  = 4500
	portL2TP  = 1701
	ethHdrLen = 14
	vlanLen   = 4
)

// Steer reports whether a frame belongs to the dataplane (true: the XDP
// program redirects it to the AF_XDP socket) or to the kernel (false: XDP_PASS).
// Safe for any input.
func Steer(b []byte) bool {
	if len(b) < ethHdrLen {
		return false
	}
	l3 := ethHdrLen
	et := uint16(b[12])<<8 | uint16(b[13])
	if et == etherTypeVLAN || et == etherTypeQinQ {
		if len(b) < ethHdrLen+vlanLen {
			return false
		}
		et = uint16(b[16])<<8 | uint16(b[17])
		l3 += vlanLen
	}
	switch et {
	case etherTypeIPv4:
		if len(b) < l3+20 {
			return false
		}
		proto := b[l3+9]
		if proto == protoESP {
			return true
		}
		if proto != protoUDP {
			return false
		}
		if (uint16(b[l3+6])<<8|uint16(b[l3+7]))&0x1fff != 0 {
			return false // not the first fragment: no UDP header here
		}
		ihl := int(b[l3]&0x0f) * 4
		if ihl < 20 || len(b) < l3+ihl+8 {
			return false
		}
		return steerPort(uint16(b[l3+ihl+2])<<8 | uint16(b[l3+ihl+3]))
	case etherTypeIPv6:
		if len(b) < l3+40 {
			return false
		}
		switch b[l3+6] {
		case protoESP:
			return true
		case protoUDP:
			if len(b) < l3+48 {
				return false
			}
			return steerPort(uint16(b[l3+42])<<8 | uint16(b[l3+43]))
		}
	}
	return false
}

func steerPort(dport uint16) bool { return dport == portNATT || dport == portL2TP }
