package l2tp

// Control plane code: allocates, never on the dataplane's hot path.

import "encoding/binary"

// The value layouts of RFC 2661 section 4.4, one case per attribute, both
// ways. Lengths are checked against avpSpecs before setValue decodes.

// setValue decodes the value of IETF attribute t into m, reporting whether
// its length was valid.
func (m *Message) setValue(t AVPType, v []byte) bool {
	if !t.checkLen(len(v)) {
		return false
	}
	u16 := func(i int) uint16 { return binary.BigEndian.Uint16(v[i:]) }
	u32 := func(i int) uint32 { return binary.BigEndian.Uint32(v[i:]) }
	switch t {
	case AVPResultCode:
		if len(v) == 3 {
			return false // a partial Error Code
		}
		m.Result = ResultCode{Result: u16(0)}
		if len(v) >= 4 {
			m.Result.Error, m.Result.HasError = u16(2), true
			m.Result.Message = v[4:]
		}
	case AVPProtocolVersion:
		m.ProtocolVersion, m.ProtocolRevision = v[0], v[1]
	case AVPFramingCapabilities:
		m.FramingCapabilities = u32(0)
	case AVPBearerCapabilities:
		m.BearerCapabilities = u32(0)
	case AVPTieBreaker:
		copy(m.TieBreaker[:], v)
	case AVPFirmwareRevision:
		m.FirmwareRevision = u16(0)
	case AVPHostName:
		m.HostName = v
	case AVPVendorName:
		m.VendorName = v
	case AVPAssignedTunnelID:
		m.AssignedTunnelID = u16(0)
	case AVPReceiveWindowSize:
		m.ReceiveWindowSize = u16(0)
	case AVPChallenge:
		m.Challenge = v
	case AVPQ931CauseCode:
		m.Q931 = Q931Cause{Cause: u16(0), Msg: v[2], Advisory: v[3:]}
	case AVPChallengeResponse:
		copy(m.ChallengeResponse[:], v)
	case AVPAssignedSessionID:
		m.AssignedSessionID = u16(0)
	case AVPCallSerialNumber:
		m.CallSerialNumber = u32(0)
	case AVPMinimumBPS:
		m.MinimumBPS = u32(0)
	case AVPMaximumBPS:
		m.MaximumBPS = u32(0)
	case AVPBearerType:
		m.BearerType = u32(0)
	case AVPFramingType:
		m.FramingType = u32(0)
	case AVPCalledNumber:
		m.CalledNumber = v
	case AVPCallingNumber:
		m.CallingNumber = v
	case AVPSubAddress:
		m.SubAddress = v
	case AVPTxConnectSpeed:
		m.TxConnectSpeed = u32(0)
	case AVPPhysicalChannelID:
		m.PhysicalChannelID = u32(0)
	case AVPInitialReceivedLCPConfReq:
		m.InitialReceivedLCPConfReq = v
	case AVPLastSentLCPConfReq:
		m.LastSentLCPConfReq = v
	case AVPLastReceivedLCPConfReq:
		m.LastReceivedLCPConfReq = v
	case AVPProxyAuthenType:
		m.ProxyAuthenType = u16(0)
	case AVPProxyAuthenName:
		m.ProxyAuthenName = v
	case AVPProxyAuthenChallenge:
		m.ProxyAuthenChallenge = v
	case AVPProxyAuthenID:
		m.ProxyAuthenID = v[1]
	case AVPProxyAuthenResponse:
		m.ProxyAuthenResponse = v
	case AVPCallErrors:
		m.CallErrors = CallErrors{u32(2), u32(6), u32(10), u32(14), u32(18), u32(22)}
	case AVPACCM:
		m.ACCM = ACCM{Send: u32(2), Receive: u32(6)}
	case AVPRandomVector:
		m.RandomVector = v
	case AVPPrivateGroupID:
		m.PrivateGroupID = v
	case AVPRxConnectSpeed:
		m.RxConnectSpeed = u32(0)
	case AVPSequencingRequired:
	default:
		return false
	}
	return true
}

// appendValue appends the wire value of IETF attribute t.
func (m *Message) appendValue(dst []byte, t AVPType) []byte {
	be := binary.BigEndian
	switch t {
	case AVPMessageType:
		return be.AppendUint16(dst, uint16(m.Type))
	case AVPResultCode:
		dst = be.AppendUint16(dst, m.Result.Result)
		if m.Result.HasError || len(m.Result.Message) > 0 {
			dst = be.AppendUint16(dst, m.Result.Error)
			dst = append(dst, m.Result.Message...)
		}
		return dst
	case AVPProtocolVersion:
		return append(dst, m.ProtocolVersion, m.ProtocolRevision)
	case AVPFramingCapabilities:
		return be.AppendUint32(dst, m.FramingCapabilities)
	case AVPBearerCapabilities:
		return be.AppendUint32(dst, m.BearerCapabilities)
	case AVPTieBreaker:
		return append(dst, m.TieBreaker[:]...)
	case AVPFirmwareRevision:
		return be.AppendUint16(dst, m.FirmwareRevision)
	case AVPHostName:
		return append(dst, m.HostName...)
	case AVPVendorName:
		return append(dst, m.VendorName...)
	case AVPAssignedTunnelID:
		return be.AppendUint16(dst, m.AssignedTunnelID)
	case AVPReceiveWindowSize:
		return be.AppendUint16(dst, m.ReceiveWindowSize)
	case AVPChallenge:
		return append(dst, m.Challenge...)
	case AVPQ931CauseCode:
		dst = be.AppendUint16(dst, m.Q931.Cause)
		return append(append(dst, m.Q931.Msg), m.Q931.Advisory...)
	case AVPChallengeResponse:
		return append(dst, m.ChallengeResponse[:]...)
	case AVPAssignedSessionID:
		return be.AppendUint16(dst, m.AssignedSessionID)
	case AVPCallSerialNumber:
		return be.AppendUint32(dst, m.CallSerialNumber)
	case AVPMinimumBPS:
		return be.AppendUint32(dst, m.MinimumBPS)
	case AVPMaximumBPS:
		return be.AppendUint32(dst, m.MaximumBPS)
	case AVPBearerType:
		return be.AppendUint32(dst, m.BearerType)
	case AVPFramingType:
		return be.AppendUint32(dst, m.FramingType)
	case AVPCalledNumber:
		return append(dst, m.CalledNumber...)
	case AVPCallingNumber:
		return append(dst, m.CallingNumber...)
	case AVPSubAddress:
		return append(dst, m.SubAddress...)
	case AVPTxConnectSpeed:
		return be.AppendUint32(dst, m.TxConnectSpeed)
	case AVPPhysicalChannelID:
		return be.AppendUint32(dst, m.PhysicalChannelID)
	case AVPInitialReceivedLCPConfReq:
		return append(dst, m.InitialReceivedLCPConfReq...)
	case AVPLastSentLCPConfReq:
		return append(dst, m.LastSentLCPConfReq...)
	case AVPLastReceivedLCPConfReq:
		return append(dst, m.LastReceivedLCPConfReq...)
	case AVPProxyAuthenType:
		return be.AppendUint16(dst, m.ProxyAuthenType)
	case AVPProxyAuthenName:
		return append(dst, m.ProxyAuthenName...)
	case AVPProxyAuthenChallenge:
		return append(dst, m.ProxyAuthenChallenge...)
	case AVPProxyAuthenID:
		return append(dst, 0, m.ProxyAuthenID)
	case AVPProxyAuthenResponse:
		return append(dst, m.ProxyAuthenResponse...)
	case AVPCallErrors:
		dst = append(dst, 0, 0)
		for _, c := range [...]uint32{m.CallErrors.CRC, m.CallErrors.Framing, m.CallErrors.HardwareOverruns,
			m.CallErrors.BufferOverruns, m.CallErrors.Timeout, m.CallErrors.Alignment} {
			dst = be.AppendUint32(dst, c)
		}
		return dst
	case AVPACCM:
		dst = append(dst, 0, 0)
		dst = be.AppendUint32(dst, m.ACCM.Send)
		return be.AppendUint32(dst, m.ACCM.Receive)
	case AVPRandomVector:
		return append(dst, m.RandomVector...)
	case AVPPrivateGroupID:
		return append(dst, m.PrivateGroupID...)
	case AVPRxConnectSpeed:
		return be.AppendUint32(dst, m.RxConnectSpeed)
	}
	return dst // AVPSequencingRequired and unassigned types carry no value
}
