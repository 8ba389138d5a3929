package l2tp

// Control plane code: allocates, never on the dataplane's hot path.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MessageType is the value of the Message Type AVP (RFC 2661 section 3.2).
type MessageType uint16

// Control message types (RFC 2661 section 3.2). Zero is reserved; this
// package uses it for the zero-length body (ZLB) acknowledgement, which
// carries no Message Type at all (section 5.8).
const (
	MsgZLB     MessageType = 0
	MsgSCCRQ   MessageType = 1  // Start-Control-Connection-Request
	MsgSCCRP   MessageType = 2  // Start-Control-Connection-Reply
	MsgSCCCN   MessageType = 3  // Start-Control-Connection-Connected
	MsgStopCCN MessageType = 4  // Stop-Control-Connection-Notification
	MsgHELLO   MessageType = 6  // Hello
	MsgOCRQ    MessageType = 7  // Outgoing-Call-Request
	MsgOCRP    MessageType = 8  // Outgoing-Call-Reply
	MsgOCCN    MessageType = 9  // Outgoing-Call-Connected
	MsgICRQ    MessageType = 10 // Incoming-Call-Request
	MsgICRP    MessageType = 11 // Incoming-Call-Reply
	MsgICCN    MessageType = 12 // Incoming-Call-Connected
	MsgCDN     MessageType = 14 // Call-Disconnect-Notify
	MsgWEN     MessageType = 15 // WAN-Error-Notify
	MsgSLI     MessageType = 16 // Set-Link-Info
)

var msgNames = [...]string{
	MsgZLB: "ZLB", MsgSCCRQ: "SCCRQ", MsgSCCRP: "SCCRP", MsgSCCCN: "SCCCN",
	MsgStopCCN: "StopCCN", MsgHELLO: "HELLO", MsgOCRQ: "OCRQ", MsgOCRP: "OCRP",
	MsgOCCN: "OCCN", MsgICRQ: "ICRQ", MsgICRP: "ICRP", MsgICCN: "ICCN",
	MsgCDN: "CDN", MsgWEN: "WEN", MsgSLI: "SLI",
}

// String returns the RFC 2661 abbreviation.
func (t MessageType) String() string {
	if int(t) < len(msgNames) && msgNames[t] != "" {
		return msgNames[t]
	}
	return fmt.Sprintf("message(%d)", uint16(t))
}

// Known reports whether t is a message type RFC 2661 defines.
func (t MessageType) Known() bool {
	return t != MsgZLB && int(t) < len(msgNames) && msgNames[t] != ""
}

// SessionScoped reports whether t belongs to a call (section 3.2: call
// management and session management messages) rather than to the control
// connection. RFC 2661 section 4.1 tears down the session, not the tunnel,
// when such a message carries an unknown mandatory AVP.
func (t MessageType) SessionScoped() bool {
	switch t {
	case MsgOCRQ, MsgOCRP, MsgOCCN, MsgICRQ, MsgICRP, MsgICCN, MsgCDN, MsgWEN, MsgSLI:
		return true
	}
	return false
}

// ResultCode is the Result Code AVP (RFC 2661 section 4.4.2).
type ResultCode struct {
	Result   uint16
	Error    uint16 // valid when HasError
	HasError bool
	Message  []byte // optional human-readable text
}

// Result codes for StopCCN (RFC 2661 section 4.4.2).
const (
	StopClear          = 1 // general request to clear control connection
	StopGeneralError   = 2 // see the Error Code
	StopAlreadyExists  = 3 // control channel already exists
	StopNotAuthorized  = 4 // requester is not authorized
	StopBadVersion     = 5 // protocol version not supported (Error Code: highest supported)
	StopShuttingDown   = 6 // requester is being shut down
	StopFSMError       = 7 // finite state machine error
	stopResultCodeLast = StopFSMError
)

// Result codes for CDN (RFC 2661 section 4.4.2).
const (
	CDNLostCarrier   = 1  // lost carrier
	CDNGeneralError  = 2  // see the Error Code
	CDNAdmin         = 3  // administrative reasons
	CDNTempResources = 4  // temporary lack of facilities
	CDNPermResources = 5  // permanent lack of facilities
	CDNBadDest       = 6  // invalid destination
	CDNNoCarrier     = 7  // no carrier
	CDNBusy          = 8  // busy
	CDNNoDialTone    = 9  // no dial tone
	CDNTimeout       = 10 // call not established within the time allotted
	CDNNoFraming     = 11 // no appropriate framing detected
)

// General error codes carried with result code 2 (RFC 2661 section 4.4.2).
const (
	ErrCodeNone          = 0 // no general error
	ErrCodeNoControl     = 1 // no control connection exists yet for this LAC-LNS pair
	ErrCodeLength        = 2 // length is wrong
	ErrCodeRange         = 3 // a field value was out of range or a reserved field was non-zero
	ErrCodeResources     = 4 // insufficient resources to handle this operation now
	ErrCodeSessionID     = 5 // the session ID is invalid in this context
	ErrCodeVendor        = 6 // a generic vendor-specific error occurred
	ErrCodeTryAnother    = 7 // try another
	ErrCodeUnknownMandat = 8 // shut down for an unknown AVP with the M bit set
)

// Q931Cause is the Q.931 Cause Code AVP (RFC 2661 section 4.4.2).
type Q931Cause struct {
	Cause    uint16
	Msg      uint8
	Advisory []byte
}

// CallErrors is the Call Errors AVP of a WEN (RFC 2661 section 4.4.6).
type CallErrors struct {
	CRC, Framing, HardwareOverruns, BufferOverruns, Timeout, Alignment uint32
}

// ACCM is the ACCM AVP of an SLI (RFC 2661 section 4.4.6).
type ACCM struct{ Send, Receive uint32 }

// Framing and bearer bits (RFC 2661 sections 4.4.3 and 4.4.4).
const (
	FramingSync   = 1 // S
	FramingAsync  = 2 // A
	BearerDigital = 1 // D
	BearerAnalog  = 2 // A
)

// Message is one L2TPv2 control message: the header fields reliable
// delivery needs and every RFC 2661 attribute, decoded. Has reports which
// attributes are present; Add marks attributes to encode. Byte slices alias
// the parsed buffer (or a hidden attribute's plaintext): copy what outlives it.
//
// A Message with Type MsgZLB and no attributes is a ZLB acknowledgement.
type Message struct {
	TunnelID  uint16 // header: the receiver's tunnel id
	SessionID uint16 // header: the receiver's session id, 0 for tunnel messages
	Ns, Nr    uint16

	Type MessageType
	// TypeMandatory is the Message Type AVP's M bit: RFC 2661 section 4.4.1
	// clears the tunnel for an unknown type with M set and ignores it otherwise.
	TypeMandatory bool

	present avpSet
	hide    avpSet // parse: attributes that arrived hidden; append: to hide

	Result                    ResultCode
	ProtocolVersion           uint8 // 1 for L2TPv2
	ProtocolRevision          uint8
	FramingCapabilities       uint32
	BearerCapabilities        uint32
	TieBreaker                [8]byte
	FirmwareRevision          uint16
	HostName                  []byte
	VendorName                []byte
	AssignedTunnelID          uint16
	ReceiveWindowSize         uint16
	Challenge                 []byte
	Q931                      Q931Cause
	ChallengeResponse         [16]byte
	AssignedSessionID         uint16
	CallSerialNumber          uint32
	MinimumBPS                uint32
	MaximumBPS                uint32
	BearerType                uint32
	FramingType               uint32
	CalledNumber              []byte
	CallingNumber             []byte
	SubAddress                []byte
	TxConnectSpeed            uint32
	PhysicalChannelID         uint32
	InitialReceivedLCPConfReq []byte
	LastSentLCPConfReq        []byte
	LastReceivedLCPConfReq    []byte
	ProxyAuthenType           uint16
	ProxyAuthenName           []byte
	ProxyAuthenChallenge      []byte
	ProxyAuthenID             uint8
	ProxyAuthenResponse       []byte
	CallErrors                CallErrors
	ACCM                      ACCM
	RandomVector              []byte
	PrivateGroupID            []byte
	RxConnectSpeed            uint32
	// SequencingRequired has no value: its presence is the flag.

	// Unknown holds, in order, the attributes this codec does not decode:
	// other vendors', unassigned types and ones with reserved bits set.
	Unknown []AVP
	// Ignored counts optional (M=0) attributes dropped because they were
	// malformed, duplicated or hidden without the means to unhide them.
	Ignored int
}

// Has reports whether attribute t is present.
func (m *Message) Has(t AVPType) bool { return m.present.has(t) }

// Add marks attributes as present, to be encoded by Append.
func (m *Message) Add(ts ...AVPType) {
	for _, t := range ts {
		m.present.add(t)
	}
}

// Hide marks attributes to be sent hidden (RFC 2661 section 4.3); they
// must also be present. Message Type and Random Vector cannot be hidden.
func (m *Message) Hide(ts ...AVPType) {
	for _, t := range ts {
		m.hide.add(t)
	}
}

// Hidden reports whether attribute t arrived hidden (or is to be hidden).
func (m *Message) Hidden(t AVPType) bool { return m.hide.has(t) }

// IsZLB reports whether m is a zero-length body acknowledgement.
func (m *Message) IsZLB() bool {
	return m.Type == MsgZLB && m.present == 0 && len(m.Unknown) == 0
}

// UnknownMandatory returns the first unrecognized attribute with the M bit
// set, which obliges the receiver to tear down the session or the tunnel
// (RFC 2661 section 4.1).
func (m *Message) UnknownMandatory() (AVP, bool) {
	for _, a := range m.Unknown {
		if a.Mandatory {
			return a, true
		}
	}
	return AVP{}, false
}

// mandatoryBit is the M bit RFC 2661 section 4.4 prescribes for each
// attribute we send.
var mandatoryBit = func() avpSet {
	var s avpSet
	for t := AVPType(0); t < avpTypeCount; t++ {
		switch t {
		case AVPTieBreaker, AVPFirmwareRevision, AVPVendorName, AVPRxConnectSpeed,
			AVPPhysicalChannelID, AVPPrivateGroupID, AVPInitialReceivedLCPConfReq,
			AVPLastSentLCPConfReq, AVPLastReceivedLCPConfReq, AVPProxyAuthenType,
			AVPProxyAuthenName, AVPProxyAuthenChallenge, AVPProxyAuthenID,
			AVPProxyAuthenResponse, 20:
		default:
			s.add(t)
		}
	}
	return s
}()

// Header layout of a control message (RFC 2661 section 3.1): flags and
// version, length, tunnel id, session id, Ns, Nr.
const (
	ctrlFlags     = FlagType | FlagLength | FlagSequence | Version
	ctrlHeaderLen = 12
	offLength     = 2
	offNs         = 8
	offNr         = 10
)

// ParseControl decodes the control message at the start of b (the UDP
// payload). secret is the tunnel's shared secret, used to unhide hidden
// attributes; nil when none is configured.
//
// Errors: header errors (ErrShort, ErrVersion, ErrLength, ErrControlBits),
// ErrNotControl for a data message, and *AVPError for a broken attribute.
// When the error is an *AVPError whose framing was intact, the returned
// Message holds the header and everything parsed so far (the Message Type
// included), so the caller can answer it (RFC 2661 section 4.1). Safe for
// any input.
func ParseControl(b []byte, secret []byte) (*Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	if !h.IsControl() {
		return nil, ErrNotControl
	}
	m := &Message{TunnelID: h.TunnelID, SessionID: h.SessionID, Ns: h.Ns, Nr: h.Nr}
	off, end := h.PayloadOff, h.End
	var rv []byte
	first := true
	for off < end {
		ah, err := readAVPHeader(b, off, end)
		if err != nil {
			return m, &AVPError{Vendor: ah.vendor, Type: ah.typ, Mandatory: ah.flags&avpMandatory != 0, Offset: off, Err: err}
		}
		mand := ah.flags&avpMandatory != 0
		hidden := ah.flags&avpHidden != 0
		val := b[off+avpHeaderLen : off+ah.length]
		at := off
		fail := func(e error) (*Message, error) {
			return m, &AVPError{Vendor: ah.vendor, Type: ah.typ, Mandatory: mand, Offset: at, Err: e}
		}
		if first {
			// RFC 2661 section 4.4.1: the Message Type AVP comes first and is never hidden.
			if ah.vendor != 0 || ah.typ != AVPMessageType || ah.flags&avpReserved != 0 {
				return fail(ErrFirstAVP)
			}
			if hidden {
				return fail(ErrHiddenMsgType)
			}
			if len(val) != 2 {
				return fail(ErrAVPLength)
			}
			m.Type = MessageType(binary.BigEndian.Uint16(val))
			m.TypeMandatory = mand
			m.present.add(AVPMessageType)
			first = false
			off += ah.length
			continue
		}
		off += ah.length
		if ah.vendor != 0 || !ah.typ.known() || ah.flags&avpReserved != 0 {
			// Section 4.1: reserved bits set make the AVP unrecognized.
			m.Unknown = append(m.Unknown, AVP{Mandatory: mand, Hidden: hidden, Reserved: uint8(ah.flags & avpReserved >> 10),
				Vendor: ah.vendor, Type: ah.typ, Value: val})
			continue
		}
		if hidden {
			var e error
			switch {
			case ah.typ == AVPMessageType || ah.typ == AVPRandomVector:
				e = ErrHiddenMsgType
			case rv == nil:
				e = ErrHiddenNoRV
			case len(secret) == 0:
				e = ErrHiddenNoKey
			default:
				val, e = unhide(ah.typ, secret, rv, val)
			}
			if e != nil {
				if mand {
					return fail(e)
				}
				m.Ignored++
				continue
			}
			m.hide.add(ah.typ)
		}
		if ah.typ == AVPRandomVector && len(val) > 0 {
			// Each Random Vector applies to the hidden AVPs after it (section 4.3).
			rv = val
		}
		if m.present.has(ah.typ) && ah.typ != AVPRandomVector {
			if mand {
				return fail(ErrDuplicateAVP)
			}
			m.Ignored++
			continue
		}
		if !m.setValue(ah.typ, val) {
			if mand {
				return fail(ErrAVPLength)
			}
			m.Ignored++
			continue
		}
		m.present.add(ah.typ)
	}
	return m, nil
}

// Encoding errors.
var (
	ErrMessageTooLong = errors.New("l2tp: control message longer than 65535 bytes")
	ErrNoRandom       = errors.New("l2tp: hiding needs a random source")
	ErrNoType         = errors.New("l2tp: attributes without a Message Type")
)

// Append encodes m onto dst: the control header (T, L, S set; TunnelID,
// SessionID, Ns, Nr from m) and the present attributes, Message Type first,
// then the Random Vector, then the rest in type order, then m.Unknown as
// they are. Attributes marked with Hide are hidden with secret under m's
// Random Vector, which is drawn from rnd (16 bytes) when m has none.
func (m *Message) Append(dst []byte, secret []byte, rnd io.Reader) ([]byte, error) {
	start := len(dst)
	be := binary.BigEndian
	dst = be.AppendUint16(dst, ctrlFlags)
	dst = be.AppendUint16(dst, 0) // length, patched below
	dst = be.AppendUint16(dst, m.TunnelID)
	dst = be.AppendUint16(dst, m.SessionID)
	dst = be.AppendUint16(dst, m.Ns)
	dst = be.AppendUint16(dst, m.Nr)
	if m.IsZLB() {
		be.PutUint16(dst[start+offLength:], ctrlHeaderLen)
		return dst, nil
	}
	if m.Type == MsgZLB && !m.present.has(AVPMessageType) {
		return dst[:start], ErrNoType
	}
	hide := m.hide & m.present &^ (1<<AVPMessageType | 1<<AVPRandomVector)
	if hide != 0 {
		if len(secret) == 0 {
			return dst[:start], ErrHiddenNoKey
		}
		if len(m.RandomVector) == 0 {
			if rnd == nil {
				return dst[:start], ErrNoRandom
			}
			rv := make([]byte, 16)
			if _, err := io.ReadFull(rnd, rv); err != nil {
				return dst[:start], fmt.Errorf("random vector: %w", err)
			}
			m.RandomVector = rv
		}
		m.present.add(AVPRandomVector)
	}
	var scratch []byte
	emit := func(t AVPType) error {
		scratch = m.appendValue(scratch[:0], t)
		if !t.checkLen(len(scratch)) {
			return &AVPError{Type: t, Mandatory: mandatoryBit.has(t), Offset: len(dst) - start, Err: ErrAVPLength}
		}
		v := scratch
		if hide.has(t) {
			v = hideValue(nil, t, secret, m.RandomVector, scratch, nil)
		}
		if len(v) > MaxAVPValue {
			return &AVPError{Type: t, Offset: len(dst) - start, Err: ErrValueTooLong}
		}
		dst = appendAVPHeader(dst, mandatoryBit.has(t), hide.has(t), 0, t, len(v))
		dst = append(dst, v...)
		return nil
	}
	order := [avpTypeCount]AVPType{AVPMessageType, AVPRandomVector}
	n := 2
	for t := AVPResultCode; t < avpTypeCount; t++ {
		if t != AVPRandomVector {
			order[n] = t
			n++
		}
	}
	for _, t := range order[:n] {
		if t != AVPMessageType && !m.present.has(t) {
			continue
		}
		if err := emit(t); err != nil {
			return dst[:start], err
		}
	}
	for _, a := range m.Unknown {
		if len(a.Value) > MaxAVPValue {
			return dst[:start], &AVPError{Vendor: a.Vendor, Type: a.Type, Err: ErrValueTooLong}
		}
		dst = appendAVPHeader(dst, a.Mandatory, a.Hidden, a.Vendor, a.Type, len(a.Value))
		dst[len(dst)-avpHeaderLen] |= a.Reserved & 0xf << 2 // bits 2-5 of the first byte
		dst = append(dst, a.Value...)
	}
	if len(dst)-start > 0xffff {
		return dst[:start], ErrMessageTooLong
	}
	be.PutUint16(dst[start+offLength:], uint16(len(dst)-start))
	return dst, nil
}
