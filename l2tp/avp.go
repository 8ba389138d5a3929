package l2tp

// Control plane code: allocates, never on the dataplane's hot path.

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// AVPType is an IETF (vendor 0) attribute type, RFC 2661 section 4.4.
type AVPType uint16

// The attribute types of RFC 2661 section 4.4. Type 20 is unassigned in
// RFC 2661 and is treated like any unknown attribute.
const (
	AVPMessageType               AVPType = 0  // 4.4.1
	AVPResultCode                AVPType = 1  // 4.4.2
	AVPProtocolVersion           AVPType = 2  // 4.4.3
	AVPFramingCapabilities       AVPType = 3  // 4.4.3
	AVPBearerCapabilities        AVPType = 4  // 4.4.3
	AVPTieBreaker                AVPType = 5  // 4.4.3
	AVPFirmwareRevision          AVPType = 6  // 4.4.3
	AVPHostName                  AVPType = 7  // 4.4.3
	AVPVendorName                AVPType = 8  // 4.4.3
	AVPAssignedTunnelID          AVPType = 9  // 4.4.3
	AVPReceiveWindowSize         AVPType = 10 // 4.4.3
	AVPChallenge                 AVPType = 11 // 4.4.3
	AVPQ931CauseCode             AVPType = 12 // 4.4.2
	AVPChallengeResponse         AVPType = 13 // 4.4.3
	AVPAssignedSessionID         AVPType = 14 // 4.4.4
	AVPCallSerialNumber          AVPType = 15 // 4.4.4
	AVPMinimumBPS                AVPType = 16 // 4.4.4
	AVPMaximumBPS                AVPType = 17 // 4.4.4
	AVPBearerType                AVPType = 18 // 4.4.4
	AVPFramingType               AVPType = 19 // 4.4.4
	AVPCalledNumber              AVPType = 21 // 4.4.4
	AVPCallingNumber             AVPType = 22 // 4.4.4
	AVPSubAddress                AVPType = 23 // 4.4.4
	AVPTxConnectSpeed            AVPType = 24 // 4.4.4
	AVPPhysicalChannelID         AVPType = 25 // 4.4.4
	AVPInitialReceivedLCPConfReq AVPType = 26 // 4.4.5
	AVPLastSentLCPConfReq        AVPType = 27 // 4.4.5
	AVPLastReceivedLCPConfReq    AVPType = 28 // 4.4.5
	AVPProxyAuthenType           AVPType = 29 // 4.4.5
	AVPProxyAuthenName           AVPType = 30 // 4.4.5
	AVPProxyAuthenChallenge      AVPType = 31 // 4.4.5
	AVPProxyAuthenID             AVPType = 32 // 4.4.5
	AVPProxyAuthenResponse       AVPType = 33 // 4.4.5
	AVPCallErrors                AVPType = 34 // 4.4.6
	AVPACCM                      AVPType = 35 // 4.4.6
	AVPRandomVector              AVPType = 36 // 4.4.3
	AVPPrivateGroupID            AVPType = 37 // 4.4.4
	AVPRxConnectSpeed            AVPType = 38 // 4.4.4
	AVPSequencingRequired        AVPType = 39 // 4.4.4
	avpTypeCount                         = 40
)

var avpNames = [avpTypeCount]string{
	"Message Type", "Result Code", "Protocol Version", "Framing Capabilities",
	"Bearer Capabilities", "Tie Breaker", "Firmware Revision", "Host Name",
	"Vendor Name", "Assigned Tunnel ID", "Receive Window Size", "Challenge",
	"Q.931 Cause Code", "Challenge Response", "Assigned Session ID",
	"Call Serial Number", "Minimum BPS", "Maximum BPS", "Bearer Type",
	"Framing Type", "", "Called Number", "Calling Number", "Sub-Address",
	"Tx Connect Speed", "Physical Channel ID", "Initial Received LCP CONFREQ",
	"Last Sent LCP CONFREQ", "Last Received LCP CONFREQ", "Proxy Authen Type",
	"Proxy Authen Name", "Proxy Authen Challenge", "Proxy Authen ID",
	"Proxy Authen Response", "Call Errors", "ACCM", "Random Vector",
	"Private Group ID", "Rx Connect Speed", "Sequencing Required",
}

// String returns the RFC 2661 name of the attribute.
func (t AVPType) String() string {
	if t < avpTypeCount && avpNames[t] != "" {
		return avpNames[t]
	}
	return fmt.Sprintf("AVP(%d)", uint16(t))
}

// AVP header bits (RFC 2661 section 4.1).
const (
	avpMandatory = 0x8000 // M
	avpHidden    = 0x4000 // H
	avpReserved  = 0x3c00 // MUST be 0; set bits make the AVP unrecognized
	avpLenMask   = 0x03ff
	avpHeaderLen = 6
	// MaxAVPValue is the longest value an AVP can carry: the 10-bit length
	// covers the 6-byte header too.
	MaxAVPValue = avpLenMask - avpHeaderLen
)

// Codec errors. ParseControl wraps them in *AVPError when they concern one
// attribute, so callers can tell which attribute and whether it was mandatory.
var (
	ErrNotControl    = errors.New("l2tp: not a control message")
	ErrAVPLength     = errors.New("l2tp: AVP length is wrong")
	ErrAVPHeader     = errors.New("l2tp: AVP length field shorter than the AVP header")
	ErrAVPTruncated  = errors.New("l2tp: AVP runs past the message")
	ErrFirstAVP      = errors.New("l2tp: first AVP is not a Message Type")
	ErrDuplicateAVP  = errors.New("l2tp: AVP appears twice")
	ErrHiddenNoRV    = errors.New("l2tp: hidden AVP without a preceding Random Vector")
	ErrHiddenNoKey   = errors.New("l2tp: hidden AVP but no shared secret")
	ErrHiddenLength  = errors.New("l2tp: hidden AVP's original length does not fit")
	ErrValueTooLong  = errors.New("l2tp: AVP value longer than 1017 bytes")
	ErrHiddenMsgType = errors.New("l2tp: Message Type AVP must not be hidden")
)

// AVPError reports a malformed attribute: which one, where, and whether the
// sender marked it mandatory (RFC 2661 section 4.1 decides what follows).
type AVPError struct {
	Vendor    uint16
	Type      AVPType
	Mandatory bool
	Offset    int // of the AVP header in the message
	Err       error
}

// Error describes the attribute and the problem.
func (e *AVPError) Error() string {
	return fmt.Sprintf("l2tp: AVP %s (vendor %d) at offset %d: %v", e.Type, e.Vendor, e.Offset, e.Err)
}

// Unwrap returns the sentinel (ErrAVPLength, ErrHiddenNoRV, ...).
func (e *AVPError) Unwrap() error { return e.Err }

// AVP is one attribute as it appeared on the wire, after unhiding. It is
// used for attributes the codec does not decode (other vendors, unassigned
// types); Value aliases the parsed buffer or a hidden AVP's plaintext.
type AVP struct {
	Mandatory bool
	Hidden    bool
	Reserved  uint8 // the four reserved header bits; non-zero makes any AVP unrecognized
	Vendor    uint16
	Type      AVPType
	Value     []byte
}

// avpHeader is one AVP's header as read from the wire.
type avpHeader struct {
	flags  uint16 // M, H and reserved bits
	length int    // total, header included
	vendor uint16
	typ    AVPType
}

// readAVPHeader reads the AVP header at b[off:end]. It checks that the
// length covers the header and stays inside the message.
func readAVPHeader(b []byte, off, end int) (avpHeader, error) {
	var h avpHeader
	if end-off < avpHeaderLen {
		return h, ErrAVPTruncated
	}
	w := binary.BigEndian.Uint16(b[off:])
	h.flags = w &^ avpLenMask
	h.length = int(w & avpLenMask)
	h.vendor = binary.BigEndian.Uint16(b[off+2:])
	h.typ = AVPType(binary.BigEndian.Uint16(b[off+4:]))
	if h.length < avpHeaderLen {
		return h, ErrAVPHeader
	}
	if off+h.length > end {
		return h, ErrAVPTruncated
	}
	return h, nil
}

// appendAVPHeader appends an AVP header for a value of n bytes.
func appendAVPHeader(dst []byte, mandatory, hidden bool, vendor uint16, t AVPType, n int) []byte {
	w := uint16(avpHeaderLen + n)
	if mandatory {
		w |= avpMandatory
	}
	if hidden {
		w |= avpHidden
	}
	dst = binary.BigEndian.AppendUint16(dst, w)
	dst = binary.BigEndian.AppendUint16(dst, vendor)
	return binary.BigEndian.AppendUint16(dst, uint16(t))
}

// avpSpec says how long an IETF attribute's value may be (RFC 2661 4.4):
// exactly min bytes when max == min, min bytes or more when max == -1.
type avpSpec struct {
	min, max int
}

var avpSpecs = [avpTypeCount]avpSpec{
	AVPMessageType:               {2, 2},
	AVPResultCode:                {2, -1}, // result, [error, [message]]
	AVPProtocolVersion:           {2, 2},
	AVPFramingCapabilities:       {4, 4},
	AVPBearerCapabilities:        {4, 4},
	AVPTieBreaker:                {8, 8},
	AVPFirmwareRevision:          {2, 2},
	AVPHostName:                  {1, -1},
	AVPVendorName:                {0, -1},
	AVPAssignedTunnelID:          {2, 2},
	AVPReceiveWindowSize:         {2, 2},
	AVPChallenge:                 {1, -1},
	AVPQ931CauseCode:             {3, -1}, // cause code, cause msg, [advisory]
	AVPChallengeResponse:         {16, 16},
	AVPAssignedSessionID:         {2, 2},
	AVPCallSerialNumber:          {4, 4},
	AVPMinimumBPS:                {4, 4},
	AVPMaximumBPS:                {4, 4},
	AVPBearerType:                {4, 4},
	AVPFramingType:               {4, 4},
	20:                           {-1, -1}, // unassigned
	AVPCalledNumber:              {0, -1},
	AVPCallingNumber:             {0, -1},
	AVPSubAddress:                {0, -1},
	AVPTxConnectSpeed:            {4, 4},
	AVPPhysicalChannelID:         {4, 4},
	AVPInitialReceivedLCPConfReq: {0, -1},
	AVPLastSentLCPConfReq:        {0, -1},
	AVPLastReceivedLCPConfReq:    {0, -1},
	AVPProxyAuthenType:           {2, 2},
	AVPProxyAuthenName:           {0, -1},
	AVPProxyAuthenChallenge:      {0, -1},
	AVPProxyAuthenID:             {2, 2}, // reserved byte, then the ID
	AVPProxyAuthenResponse:       {0, -1},
	AVPCallErrors:                {26, 26}, // reserved 2, six 32-bit counters
	AVPACCM:                      {10, 10}, // reserved 2, send, receive
	AVPRandomVector:              {1, -1},
	AVPPrivateGroupID:            {0, -1},
	AVPRxConnectSpeed:            {4, 4},
	AVPSequencingRequired:        {0, 0},
}

// known reports whether t is an attribute this codec decodes.
func (t AVPType) known() bool { return t < avpTypeCount && avpSpecs[t].min >= 0 }

// checkLen checks a value length against RFC 2661's rule for t.
func (t AVPType) checkLen(n int) bool {
	s := avpSpecs[t]
	return n >= s.min && (s.max < 0 || n <= s.max)
}

// avpSet is a set of IETF attribute types, one bit per type.
type avpSet uint64

func (s avpSet) has(t AVPType) bool { return t < avpTypeCount && s&(1<<t) != 0 }
func (s *avpSet) add(t AVPType)     { *s |= 1 << t }
