package dataplane

// DropReason names why the dataplane refused a packet. The names are the fixed
// vocabulary of ARCHITECTURE.md, used alike by counters, stats JSON, the shell
// and metric labels; this file is the one table that holds them.
type DropReason uint8

// Drop reasons, in ARCHITECTURE.md's order.
const (
	DropMalformed          DropReason = iota // runt, bad IP/UDP header or checksum, cut VLAN tag
	DropNotForUs                             // destination is not one of the interface's addresses
	DropESPUnknownSPI                        // no inbound SA for (SPI, destination)
	DropESPAuthFailed                        // ICV does not verify
	DropESPReplay                            // sequence number seen or left of the window
	DropESPMalformed                         // ESP too short, misaligned, or impossible trailer
	DropESPSAExpired                         // SA past a hard lifetime
	DropL2TPCleartext                        // UDP/1701 outside IPsec refused by the rule table
	DropFirewall                             // any other packet a rule or default action dropped
	DropL2TPMalformed                        // L2TP header does not fit the datagram
	DropL2TPUnknownSession                   // no session for (tunnel id, session id)
	DropL2TPWrongSA                          // data for a session bound to another SA
	DropPuntQueueFull                        // the bounded punt queue was full
	DropTxRingFull                           // the TX ring was full
	NumDropReasons                           // number of drop reasons; not a reason
)

var dropNames = [NumDropReasons]string{
	DropMalformed:          "malformed",
	DropNotForUs:           "not-for-us",
	DropESPUnknownSPI:      "esp-unknown-spi",
	DropESPAuthFailed:      "esp-auth-failed",
	DropESPReplay:          "esp-replay",
	DropESPMalformed:       "esp-malformed",
	DropESPSAExpired:       "esp-sa-expired",
	DropL2TPCleartext:      "l2tp-cleartext",
	DropFirewall:           "firewall",
	DropL2TPMalformed:      "l2tp-malformed",
	DropL2TPUnknownSession: "l2tp-unknown-session",
	DropL2TPWrongSA:        "l2tp-wrong-sa",
	DropPuntQueueFull:      "punt-queue-full",
	DropTxRingFull:         "tx-ring-full",
}

// String returns the reason's name from ARCHITECTURE.md (e.g. "esp-replay").
func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropNames[r]
	}
	return "unknown"
}

// DropReasons returns every reason in order; callers may range over it to
// print all of them, zeros included.
func DropReasons() []DropReason {
	out := make([]DropReason, NumDropReasons)
	for i := range out {
		out[i] = DropReason(i)
	}
	return out
}

// ParseDropReason maps a name back to its reason.
func ParseDropReason(s string) (DropReason, bool) {
	for i, n := range dropNames {
		if n == s {
			return DropReason(i), true
		}
	}
	return 0, false
}
