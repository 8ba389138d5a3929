package l2tp

import (
	"bytes"
	"testing"
)

// The vectors below were computed independently, with nothing but Python's
// hashlib, by testdata/vectors/hidden.py (RFC 2661 sections 4.3 and 4.4.3).
var (
	vecSecret = []byte("sluice-test-secret")
	vecRV     = []byte{0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf}
)

const (
	vecHiddenSessionID = "bfde532a"
	vecCallingNumber   = "2b343420323020373934362030303030202f20736c756963652068696464656e2061767020746573"
	vecHiddenCalling   = "dab59c5c0d2ac3ac5f008d6f7c0849faf1f4952a8d0f668872b1834ae7cac870cb6f08c0cb3279d1c70eafce123efd"
	vecHiddenICRQ      = "c802007304d2000000000001800800000000000a801600000024a0a1a2a3a4a5a6a7a8a9aaabacadaeafc00a0000000ebfde532a800a0000000f00000007c03500000016dab59c5c0d2ac3ac5f008d6f7c0849faf1f4952a8d0f668872b1834ae7cac870cb6f08c0cb3279d1c70eafce123efd"
	vecChallenge       = "00112233445566778899aabbccddeeff"
	vecResponseSCCRP   = "d8411e3344f705f073dcc1b4aaff69c6"
	vecResponseSCCCN   = "5924026da3e2d210bfe7ebddf141a881"
)

func TestHideVector(t *testing.T) {
	for _, tc := range []struct {
		name  string
		typ   AVPType
		value []byte
		pad   []byte
		want  string
	}{
		{"one block", AVPAssignedSessionID, []byte{0x12, 0x34}, nil, vecHiddenSessionID},
		{"three blocks, padded, partial last", AVPCallingNumber, mustHex(t, vecCallingNumber), []byte{0, 1, 2, 3, 4}, vecHiddenCalling},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := hideValue(nil, tc.typ, vecSecret, vecRV, tc.value, tc.pad)
			if want := mustHex(t, tc.want); !bytes.Equal(got, want) {
				t.Fatalf("hide: got %x, want %x", got, want)
			}
			plain, err := unhide(tc.typ, vecSecret, vecRV, mustHex(t, tc.want))
			if err != nil || !bytes.Equal(plain, tc.value) {
				t.Fatalf("unhide: got %x, %v, want %x", plain, err, tc.value)
			}
		})
	}
}

// TestParseHiddenICRQ decodes a whole ICRQ built by the Python script, with
// two hidden AVPs and padding, and checks that the wrong secret fails.
func TestParseHiddenICRQ(t *testing.T) {
	b := mustHex(t, vecHiddenICRQ)
	m, err := ParseControl(b, vecSecret)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != MsgICRQ || m.AssignedSessionID != 0x1234 || m.CallSerialNumber != 7 ||
		!bytes.Equal(m.CallingNumber, mustHex(t, vecCallingNumber)) {
		t.Fatalf("got type %v sid %#x serial %d calling %q", m.Type, m.AssignedSessionID, m.CallSerialNumber, m.CallingNumber)
	}
	if !m.Hidden(AVPAssignedSessionID) || !m.Hidden(AVPCallingNumber) || m.Hidden(AVPCallSerialNumber) {
		t.Error("hidden flags wrong")
	}
	// With the wrong secret the original-length prefix decodes to garbage:
	// either a length error or a wrong value, never the right one.
	m2, err := ParseControl(b, []byte("wrong"))
	if err == nil && m2.AssignedSessionID == 0x1234 {
		t.Error("wrong secret unhid the value")
	}
}

func TestUnhideShort(t *testing.T) {
	if _, err := unhide(AVPHostName, vecSecret, vecRV, []byte{1}); err != ErrHiddenLength {
		t.Errorf("got %v, want ErrHiddenLength", err)
	}
	// Original length 0xffff cannot fit in 4 bytes.
	bad := hideValue(nil, AVPHostName, vecSecret, vecRV, nil, []byte{1, 2})
	bad[0] ^= 0xff
	bad[1] ^= 0xff
	if _, err := unhide(AVPHostName, vecSecret, vecRV, bad); err != ErrHiddenLength {
		t.Errorf("got %v, want ErrHiddenLength", err)
	}
}

func TestChallengeResponseVector(t *testing.T) {
	chal := mustHex(t, vecChallenge)
	for _, tc := range []struct {
		typ  MessageType
		want string
	}{{MsgSCCRP, vecResponseSCCRP}, {MsgSCCCN, vecResponseSCCCN}} {
		got := ChallengeResponse(tc.typ, vecSecret, chal)
		if want := mustHex(t, tc.want); !bytes.Equal(got[:], want) {
			t.Errorf("%v: got %x, want %x", tc.typ, got, want)
		}
	}
}

// TestSecretRedacted: the secret never prints.
func TestSecretRedacted(t *testing.T) {
	s := Secret("hunter2")
	cfg := DefaultServerConfig()
	cfg.Secret = s
	for _, out := range []string{
		s.String(), sprintf("%v", s), sprintf("%x", s), sprintf("%+v", cfg), sprintf("%#v", cfg), sprintf("%s", []any{s}),
	} {
		if bytes.Contains([]byte(out), []byte("hunter2")) || bytes.Contains([]byte(out), []byte("68756e74657232")) {
			t.Errorf("secret leaked: %s", out)
		}
	}
	j, _ := s.MarshalJSON()
	if bytes.Contains(j, []byte("hunter2")) {
		t.Errorf("secret leaked in JSON: %s", j)
	}
}
