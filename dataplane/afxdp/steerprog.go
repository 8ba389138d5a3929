package afxdp

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf/asm"
)

// The steering program, in eBPF assembly (cilium/ebpf/asm, no clang). It
// makes exactly dataplane.Steer's decision; TestSteerEquivalence runs it
// with BPF_PROG_TEST_RUN over the same frames as Steer and requires equal
// verdicts. In C it would read:
//
//	int sluice_steer(struct xdp_md *ctx) {
//	    void *p = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
//	    void *l3 = p + 14;
//	    if (l3 > end) return count(XDP_PASS);
//	    u16 et = *(u16 *)(p + 12);
//	    if (et == htons(0x8100) || et == htons(0x88a8)) {  // one 802.1Q/802.1ad tag
//	        l3 = p + 18;
//	        if (l3 > end) return count(XDP_PASS);
//	        et = *(u16 *)(p + 16);
//	    }
//	    if (et == htons(0x0800)) {
//	        if (l3 + 20 > end) return count(XDP_PASS);
//	        u8 proto = *(u8 *)(l3 + 9);
//	        if (proto == 50) goto redirect;                   // ESP, RFC 4303
//	        if (proto != 17) return count(XDP_PASS);
//	        if (*(u16 *)(l3 + 6) & htons(0x1fff)) return count(XDP_PASS);  // later fragment
//	        u32 ihl = (*(u8 *)l3 & 0xf) << 2;
//	        if (ihl < 20 || l3 + ihl + 8 > end) return count(XDP_PASS);
//	        dport = *(u16 *)(l3 + ihl + 2);      // unrolled per IHL, see udpPortByIHL
//	    } else if (et == htons(0x86dd)) {
//	        if (l3 + 40 > end) return count(XDP_PASS);
//	        u8 nh = *(u8 *)(l3 + 6);                          // no extension headers walked
//	        if (nh == 50) goto redirect;
//	        if (nh != 17 || l3 + 48 > end) return count(XDP_PASS);
//	        dport = *(u16 *)(l3 + 42);
//	    } else return count(XDP_PASS);
//	    if (dport != htons(4500) && dport != htons(1701)) return count(XDP_PASS);
//	redirect:  // XDP_PASS when the queue has no socket (flags' low bits, kernel 5.3)
//	    return count(bpf_redirect_map(&sluice_xsks, ctx->rx_queue_index, XDP_PASS));
//	}
//
// count() adds one to a per-CPU counter: index 0 for frames redirected to
// the socket, 1 for frames passed to the kernel (ARCHITECTURE.md's
// passed-to-kernel).

// XDP verdicts (enum xdp_action, include/uapi/linux/bpf.h).
const (
	xdpPass     = 2
	xdpRedirect = 4
)

// struct xdp_md field offsets (include/uapi/linux/bpf.h).
const (
	xdpMDData       = 0
	xdpMDDataEnd    = 4
	xdpMDRxQueueIdx = 16
)

// Map symbols the instructions reference; loadProgram associates them.
const (
	xsksMapSym     = "sluice_xsks"
	countersMapSym = "sluice_cnt"
)

// Counter indices in the per-CPU counters map.
const (
	counterRedirected = 0
	counterPassed     = 1
	numCounters       = 2
)

// Steering constants, as in dataplane/steer.go.
const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
	etherTypeVLAN = 0x8100
	etherTypeQinQ = 0x88a8
	protoESP      = 50
	protoUDP      = 17
	portNATT      = 4500
	portL2TP      = 1701
)

// be16 returns the value a 16-bit load of the big-endian bytes of v yields
// on this host, so the program compares loaded header fields with constants
// without a byte-swap instruction.
func be16(v uint16) int32 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return int32(binary.NativeEndian.Uint16(b[:]))
}

// steerInstructions returns the steering program described above.
// Registers: r6 ctx, r2 data, r3 data_end, r7 L3 (then L4) pointer, r4 a
// bounds probe, r5 the field under test, r8 the IPv4 header length, r9
// the verdict.
func steerInstructions() asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, xdpMDData, asm.Word),
		asm.LoadMem(asm.R3, asm.R6, xdpMDDataEnd, asm.Word),
		asm.Mov.Reg(asm.R7, asm.R2),
		asm.Add.Imm(asm.R7, 14),
		asm.JGT.Reg(asm.R7, asm.R3, "pass"), // no whole Ethernet header
		asm.LoadMem(asm.R5, asm.R2, 12, asm.Half),
		asm.JEq.Imm(asm.R5, be16(etherTypeVLAN), "vlan"),
		asm.JNE.Imm(asm.R5, be16(etherTypeQinQ), "l3"),
		asm.Mov.Reg(asm.R7, asm.R2).WithSymbol("vlan"),
		asm.Add.Imm(asm.R7, 18),
		asm.JGT.Reg(asm.R7, asm.R3, "pass"), // cut tag
		asm.LoadMem(asm.R5, asm.R2, 16, asm.Half),
		asm.JEq.Imm(asm.R5, be16(etherTypeIPv4), "ipv4").WithSymbol("l3"),
		asm.JEq.Imm(asm.R5, be16(etherTypeIPv6), "ipv6"),
		asm.Ja.Label("pass"),

		// IPv4 (RFC 791).
		asm.Mov.Reg(asm.R4, asm.R7).WithSymbol("ipv4"),
		asm.Add.Imm(asm.R4, 20),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R7, 9, asm.Byte),
		asm.JEq.Imm(asm.R5, protoESP, "redirect"),
		asm.JNE.Imm(asm.R5, protoUDP, "pass"),
		asm.LoadMem(asm.R5, asm.R7, 6, asm.Half),
		asm.And.Imm(asm.R5, be16(0x1fff)),
		asm.JNE.Imm(asm.R5, 0, "pass"), // not the first fragment: no UDP header
		asm.LoadMem(asm.R8, asm.R7, 0, asm.Byte),
		asm.And.Imm(asm.R8, 0x0f),
		asm.LSh.Imm(asm.R8, 2),
		asm.JLT.Imm(asm.R8, 20, "pass"), // IHL < 5
	}
	insns = append(insns, udpPortByIHL()...)
	insns = append(insns,
		// IPv6 (RFC 8200): the next header field only; extension headers are
		// not walked, so ESP or UDP behind them goes to the kernel.
		// IPv6 (RFC 8200): the next header field only; extension headers are
		// not walked, so ESP or UDP behind them goes to the kernel.
		asm.Mov.Reg(asm.R4, asm.R7).WithSymbol("ipv6"),
		asm.Add.Imm(asm.R4, 40),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R7, 6, asm.Byte),
		asm.JEq.Imm(asm.R5, protoESP, "redirect"),
		asm.JNE.Imm(asm.R5, protoUDP, "pass"),
		asm.Add.Imm(asm.R4, 8),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R7, 42, asm.Half),

		// UDP destination port (RFC 768): NAT-T (RFC 3948) or L2TP (RFC 2661).
		asm.JEq.Imm(asm.R5, be16(portNATT), "redirect").WithSymbol("ports"),
		asm.JEq.Imm(asm.R5, be16(portL2TP), "redirect"),

		asm.Mov.Imm(asm.R9, xdpPass).WithSymbol("pass"),
		asm.Ja.Label("count"),

		asm.LoadMem(asm.R2, asm.R6, xdpMDRxQueueIdx, asm.Word).WithSymbol("redirect"),
		asm.LoadMapPtr(asm.R1, 0).WithReference(xsksMapSym),
		asm.Mov.Imm(asm.R3, xdpPass), // verdict when the queue has no socket
		asm.FnRedirectMap.Call(),
		asm.Mov.Reg(asm.R9, asm.R0),

		// Count the verdict in the per-CPU counters (no atomics needed).
		asm.Mov.Imm(asm.R1, counterRedirected).WithSymbol("count"),
		asm.JEq.Imm(asm.R9, xdpRedirect, "countkey"),
		asm.Mov.Imm(asm.R1, counterPassed),
		asm.StoreMem(asm.RFP, -4, asm.R1, asm.Word).WithSymbol("countkey"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, 0).WithReference(countersMapSym),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "exit"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Reg(asm.R0, asm.R9).WithSymbol("exit"),
		asm.Return(),
	)
	return insns
}

// udpPortByIHL loads the UDP destination port into r5 for each possible
// IPv4 header length (20, 24, ... 60 bytes) with constant offsets from r7,
// one unrolled case per length. Adding the variable IHL to the packet
// pointer would be shorter, but the verifier allows variable pointer
// arithmetic on packet pointers only with CAP_PERFMON (its Spectre v1
// sanitation, sanitize_ptr_alu in kernel/bpf/verifier.c, knows no limit
// for packet pointers); unrolled, the program loads with just CAP_BPF and
// CAP_NET_ADMIN.
func udpPortByIHL() asm.Instructions {
	var insns asm.Instructions
	for ihl := int32(20); ihl <= 60; ihl += 4 {
		next := fmt.Sprintf("ihl%d", ihl+4)
		insns = append(insns,
			asm.JNE.Imm(asm.R8, ihl, next).WithSymbol(fmt.Sprintf("ihl%d", ihl)),
			asm.Mov.Reg(asm.R4, asm.R7),
			asm.Add.Imm(asm.R4, ihl+8),
			asm.JGT.Reg(asm.R4, asm.R3, "pass"), // no whole UDP header
			asm.LoadMem(asm.R5, asm.R7, int16(ihl+2), asm.Half),
			asm.Ja.Label("ports"),
		)
	}
	// r8 is a multiple of 4 in [20, 60]: every value has its case above.
	return append(insns, asm.Ja.Label("pass").WithSymbol("ihl64"))
}

// bareInstructions returns the baseline program: every frame of the queue
// goes to its socket, nothing is parsed or counted (asavie/xdp's default
// program without its queue map).
func bareInstructions() asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, xdpMDRxQueueIdx, asm.Word),
		asm.LoadMapPtr(asm.R1, 0).WithReference(xsksMapSym),
		asm.Mov.Imm(asm.R3, xdpPass),
		asm.FnRedirectMap.Call(),
		asm.Return(),
	}
}
