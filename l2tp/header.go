// Package l2tp implements L2TPv2 (RFC 2661): the wire codec used by the
// dataplane to classify data and control messages, and the control protocol
// of the L2TP network server (LNS).
package l2tp

// Hot path: no allocation, no locks, no logging.

import "errors"

// Port is the UDP port L2TP listens on (RFC 2661 section 8.1).
const Port = 1701

// Header flag bits (RFC 2661 section 3.1).
const (
	FlagType     = 0x8000 // T: control message
	FlagLength   = 0x4000 // L: length field present
	FlagSequence = 0x0800 // S: Ns and Nr present
	FlagOffset   = 0x0200 // O: offset size present
	FlagPriority = 0x0100 // P: priority (data messages only)
	versionMask  = 0x000f
	// Version is the only L2TP version sluice speaks.
	Version = 2
)

// Errors returned by ParseHeader. They are package values so the hot path
// returns them without allocating.
var (
	ErrShort       = errors.New("l2tp: message shorter than its header")
	ErrVersion     = errors.New("l2tp: version is not 2")
	ErrLength      = errors.New("l2tp: length field does not fit the datagram")
	ErrOffset      = errors.New("l2tp: offset runs past the datagram")
	ErrControlBits = errors.New("l2tp: control message without L and S bits, or with O or P")
)

// Header is a parsed L2TPv2 header. Optional fields are zero when absent.
type Header struct {
	Flags      uint16 // the first 16 bits, version included
	Length     uint16 // total length when FlagLength is set
	TunnelID   uint16
	SessionID  uint16
	Ns, Nr     uint16 // when FlagSequence is set
	PayloadOff int    // offset of the payload (AVPs or PPP frame) in the message
	End        int    // end of the message: Length when present, else len(b)
}

// IsControl reports whether the T bit is set.
func (h *Header) IsControl() bool { return h.Flags&FlagType != 0 }

// HasSequence reports whether Ns and Nr are present.
func (h *Header) HasSequence() bool { return h.Flags&FlagSequence != 0 }

// ParseHeader parses the L2TPv2 header at the start of b (the UDP payload).
// It checks that every optional field and the length and offset fields fit b
// and that control messages carry the bits RFC 2661 section 3.1 requires.
// Safe for any input; allocates nothing.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < 6 {
		return h, ErrShort
	}
	h.Flags = uint16(b[0])<<8 | uint16(b[1])
	if h.Flags&versionMask != Version {
		return h, ErrVersion
	}
	if h.Flags&FlagType != 0 {
		// RFC 2661 3.1: control messages MUST set L and S, and O and P MUST be 0.
		if h.Flags&(FlagLength|FlagSequence) != FlagLength|FlagSequence || h.Flags&(FlagOffset|FlagPriority) != 0 {
			return h, ErrControlBits
		}
	}
	off := 2
	h.End = len(b)
	if h.Flags&FlagLength != 0 {
		h.Length = uint16(b[2])<<8 | uint16(b[3])
		off = 4
		if int(h.Length) > len(b) {
			return h, ErrLength
		}
		h.End = int(h.Length)
	}
	if off+4 > h.End {
		return h, ErrShort
	}
	h.TunnelID = uint16(b[off])<<8 | uint16(b[off+1])
	h.SessionID = uint16(b[off+2])<<8 | uint16(b[off+3])
	off += 4
	if h.Flags&FlagSequence != 0 {
		if off+4 > h.End {
			return h, ErrShort
		}
		h.Ns = uint16(b[off])<<8 | uint16(b[off+1])
		h.Nr = uint16(b[off+2])<<8 | uint16(b[off+3])
		off += 4
	}
	if h.Flags&FlagOffset != 0 {
		if off+2 > h.End {
			return h, ErrShort
		}
		pad := int(uint16(b[off])<<8 | uint16(b[off+1]))
		off += 2
		if off+pad > h.End {
			return h, ErrOffset
		}
		off += pad
	}
	h.PayloadOff = off
	return h, nil
}
