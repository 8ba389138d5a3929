package l2tp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

// readHex reads a testdata file of hex, skipping '#' comment lines and
// whitespace.
func readHex(t testing.TB, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		sb.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(sb.String())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseXl2tpdSCCRQ decodes an SCCRQ that xl2tpd itself sent. The
// expected values were read off the hex by hand against RFC 2661 4.4.
func TestParseXl2tpdSCCRQ(t *testing.T) {
	b := readHex(t, "testdata/xl2tpd/sccrq.hex")
	m, err := ParseControl(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"type", m.Type, MsgSCCRQ},
		{"tunnel", m.TunnelID, uint16(0)},
		{"ns", m.Ns, uint16(0)},
		{"nr", m.Nr, uint16(0)},
		{"version", [2]uint8{m.ProtocolVersion, m.ProtocolRevision}, [2]uint8{1, 0}},
		{"framing", m.FramingCapabilities, uint32(3)},
		{"bearer", m.BearerCapabilities, uint32(0)},
		{"firmware", m.FirmwareRevision, uint16(0x0690)},
		{"host", string(m.HostName), "lac1"},
		{"vendor", string(m.VendorName), "xelerance.com"},
		{"assigned tunnel", m.AssignedTunnelID, uint16(0x545e)},
		{"rws", m.ReceiveWindowSize, uint16(4)},
		{"unknown", len(m.Unknown), 0},
		{"mandatory type", m.TypeMandatory, true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	for _, a := range []AVPType{AVPProtocolVersion, AVPFramingCapabilities, AVPBearerCapabilities, AVPFirmwareRevision,
		AVPHostName, AVPVendorName, AVPAssignedTunnelID, AVPReceiveWindowSize} {
		if !m.Has(a) {
			t.Errorf("missing %s", a)
		}
	}
	if m.Has(AVPChallenge) || m.Has(AVPTieBreaker) {
		t.Error("absent AVPs reported present")
	}
}

// fullMessage sets every attribute the codec knows, with values chosen to
// be distinct.
func fullMessage() *Message {
	m := &Message{TunnelID: 0x1111, SessionID: 0x2222, Ns: 3, Nr: 4, Type: MsgICCN,
		Result:              ResultCode{Result: 2, Error: 6, HasError: true, Message: []byte("vendor says no")},
		ProtocolVersion:     1,
		FramingCapabilities: 3, BearerCapabilities: 1,
		TieBreaker:       [8]byte{1, 2, 3, 4, 5, 6, 7, 8},
		FirmwareRevision: 0x0102, HostName: []byte("lac.example"), VendorName: []byte("sluice tests"),
		AssignedTunnelID: 0xabcd, ReceiveWindowSize: 9, Challenge: []byte("challenge!"),
		Q931:              Q931Cause{Cause: 16, Msg: 0x45, Advisory: []byte("normal")},
		ChallengeResponse: [16]byte{0xde, 0xad, 0xbe, 0xef}, AssignedSessionID: 0x7777,
		CallSerialNumber: 0xcafe, MinimumBPS: 9600, MaximumBPS: 100000000, BearerType: 2, FramingType: 1,
		CalledNumber: []byte("1701"), CallingNumber: []byte("+15551234"), SubAddress: []byte("sub"),
		TxConnectSpeed: 10000000, PhysicalChannelID: 42,
		InitialReceivedLCPConfReq: []byte{1, 4, 5, 0xdc}, LastSentLCPConfReq: []byte{5, 6, 1, 2, 3, 4},
		LastReceivedLCPConfReq: []byte{3, 4, 0xc0, 0x23}, ProxyAuthenType: 2, ProxyAuthenName: []byte("user"),
		ProxyAuthenChallenge: []byte("pchal"), ProxyAuthenID: 0x17, ProxyAuthenResponse: []byte("presp"),
		CallErrors:     CallErrors{1, 2, 3, 4, 5, 6},
		ACCM:           ACCM{Send: 0xffffffff, Receive: 0x000a0000},
		RandomVector:   []byte("0123456789abcdef"),
		PrivateGroupID: []byte("group"), RxConnectSpeed: 20000000,
		Unknown: []AVP{{Mandatory: false, Vendor: 9, Type: 1, Value: []byte("cisco")}},
	}
	for a := AVPResultCode; a < avpTypeCount; a++ {
		if a.known() {
			m.Add(a)
		}
	}
	return m
}

// TestRoundTrip encodes every attribute and decodes it back.
func TestRoundTrip(t *testing.T) {
	secret := []byte("s3cret")
	for _, tc := range []struct {
		name string
		hide []AVPType
	}{
		{"clear", nil},
		{"hidden", []AVPType{AVPAssignedSessionID, AVPCallingNumber, AVPProxyAuthenResponse, AVPCallErrors, AVPSequencingRequired}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := fullMessage()
			m.Hide(tc.hide...)
			b, err := m.Append(nil, secret, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseControl(b, secret)
			if err != nil {
				t.Fatal(err)
			}
			want := fullMessage()
			want.Hide(tc.hide...)
			want.TypeMandatory = true
			want.present.add(AVPMessageType)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip differs:\ngot  %+v\nwant %+v", got, want)
			}
			again, err := got.Append(nil, secret, nil)
			if err != nil || !bytes.Equal(again, b) {
				t.Errorf("re-encoding differs (err %v)", err)
			}
		})
	}
}

// TestParseErrors walks the length and structure checks.
func TestParseErrors(t *testing.T) {
	hdr := func(body string) []byte {
		b := mustHex(t, "c802000000010000"+"00000000"+body)
		b[2], b[3] = byte(len(b)>>8), byte(len(b))
		return b
	}
	const hello = "800800000000" + "0006"
	for _, tc := range []struct {
		name      string
		in        []byte
		want      error
		mandatory bool
	}{
		{"short", []byte{0xc8, 0x02, 0, 12}, ErrShort, false},
		{"data message", mustHex(t, "0002000100010203"), ErrNotControl, false},
		{"no L bit", mustHex(t, "8802000100000000000000"), ErrControlBits, false},
		{"length past datagram", mustHex(t, "c80200ff00010000000000000000"), ErrLength, false},
		{"first AVP not message type", hdr("800800000009" + "0001"), ErrFirstAVP, true},
		{"message type wrong length", hdr("80090000000000060a"), ErrAVPLength, true},
		{"avp length below header", hdr(hello + "800400000007"), ErrAVPHeader, true},
		{"avp runs past message", hdr(hello + "80ff00000007616263"), ErrAVPTruncated, true},
		{"hidden message type", hdr("c00800000000" + "0006"), ErrHiddenMsgType, true},
		{"mandatory bad length", hdr(hello + "80070000000900"), ErrAVPLength, true},
		{"mandatory duplicate", hdr(hello + "8008000000090001" + "8008000000090002"), ErrDuplicateAVP, true},
		{"hidden without random vector", hdr(hello + "c008000000090001"), ErrHiddenNoRV, true},
		{"hidden without secret", hdr(hello + "8007000000240a" + "c008000000090001"), ErrHiddenNoKey, true},
		{"result code 3 bytes", hdr("800800000000" + "0004" + "80090000000100010a"), ErrAVPLength, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseControl(tc.in, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			var ae *AVPError
			if errors.As(err, &ae) && ae.Mandatory != tc.mandatory {
				t.Errorf("mandatory: got %v, want %v", ae.Mandatory, tc.mandatory)
			}
		})
	}
}

// TestParseLenient covers what a receiver must tolerate: optional AVPs
// that are malformed or unknown, and reserved bits.
func TestParseLenient(t *testing.T) {
	hdr := func(body string) []byte {
		b := mustHex(t, "c802000000010000"+"00000000"+body)
		b[2], b[3] = byte(len(b)>>8), byte(len(b))
		return b
	}
	const hello = "800800000000" + "0006"
	for _, tc := range []struct {
		name        string
		in          []byte
		ignored     int
		unknown     int
		unknownMand bool
	}{
		{"zlb", hdr(""), 0, 0, false},
		{"optional bad length ignored", hdr(hello + "000600000007" + "00070000000901"), 2, 0, false},
		{"optional duplicate ignored", hdr(hello + "0008000000060001" + "0008000000060002"), 1, 0, false},
		{"optional hidden without secret ignored", hdr(hello + "8007000000240a" + "4008000000060001"), 1, 0, false},
		{"vendor AVP optional", hdr(hello + "000a00090001" + "01020304"), 0, 1, false},
		{"vendor AVP mandatory", hdr(hello + "800a00090001" + "01020304"), 0, 1, true},
		{"unassigned type 20", hdr(hello + "800600000014"), 0, 1, true},
		{"type past 39", hdr(hello + "000600000050"), 0, 1, false},
		{"reserved bits make it unknown", hdr(hello + "8408000000090001"), 0, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseControl(tc.in, nil)
			if err != nil {
				t.Fatal(err)
			}
			if m.Ignored != tc.ignored || len(m.Unknown) != tc.unknown {
				t.Errorf("ignored %d unknown %d, want %d %d", m.Ignored, len(m.Unknown), tc.ignored, tc.unknown)
			}
			if _, got := m.UnknownMandatory(); got != tc.unknownMand {
				t.Errorf("unknown mandatory: got %v, want %v", got, tc.unknownMand)
			}
			if tc.name == "zlb" && !m.IsZLB() {
				t.Error("not a ZLB")
			}
		})
	}
}

// TestAppendErrors checks that we refuse to emit what RFC 2661 forbids.
func TestAppendErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		m      Message
		secret []byte
		want   error
	}{
		{"empty host name", func() Message { m := Message{Type: MsgSCCRQ}; m.Add(AVPHostName); return m }(), nil, ErrAVPLength},
		{"value too long", func() Message {
			m := Message{Type: MsgSCCRQ, VendorName: make([]byte, 1018)}
			m.Add(AVPVendorName)
			return m
		}(), nil, ErrValueTooLong},
		{"hide without secret", func() Message {
			m := Message{Type: MsgICRQ, AssignedSessionID: 1}
			m.Add(AVPAssignedSessionID)
			m.Hide(AVPAssignedSessionID)
			return m
		}(), nil, ErrHiddenNoKey},
		{"hide without random source", func() Message {
			m := Message{Type: MsgICRQ, AssignedSessionID: 1}
			m.Add(AVPAssignedSessionID)
			m.Hide(AVPAssignedSessionID)
			return m
		}(), []byte("k"), ErrNoRandom},
		{"attributes without type", func() Message { m := Message{}; m.Add(AVPAssignedSessionID); return m }(), nil, ErrNoType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.m.Append([]byte{0xaa}, tc.secret, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !bytes.Equal(b, []byte{0xaa}) {
				t.Errorf("dst not restored on error: %x", b)
			}
		})
	}
}

// TestZLBEncoding checks the twelve-byte header-only acknowledgement
// against RFC 2661 section 3.1's layout, written out by hand.
func TestZLBEncoding(t *testing.T) {
	m := Message{TunnelID: 0x0102, Ns: 5, Nr: 9}
	b, err := m.Append(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := mustHex(t, "c802000c0102000000050009")
	if !bytes.Equal(b, want) {
		t.Errorf("got %x, want %x", b, want)
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{MsgSCCRQ.String(), "SCCRQ"}, {MsgStopCCN.String(), "StopCCN"}, {MessageType(5).String(), "message(5)"},
		{AVPChallengeResponse.String(), "Challenge Response"}, {AVPType(20).String(), "AVP(20)"},
		{TunnelWaitCtlConn.String(), "wait-ctl-conn"}, {SessionEstablished.String(), "established"},
		{ReasonUnknownAVP.String(), "unknown-mandatory-avp"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if !MsgCDN.SessionScoped() || MsgHELLO.SessionScoped() || MessageType(5).Known() {
		t.Error("message classification wrong")
	}
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

func mustRead(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
