package ipsec

import (
	"errors"
	"fmt"

	"github.com/sluicenet/sluice/ipsec/replay"
)

// MaxReplayWindow is the largest replay-window an SA may configure.
const MaxReplayWindow = replay.MaxSize

// Validate reports every problem of the spec at once, joined with
// errors.Join. Each problem starts with the config path suffix of the field
// it concerns (under ipsec.sa.NAME), e.g.
// "enc-key: want 20 bytes for aes128gcm16, got 16". Key bytes never appear.
func (s *SASpec) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	// RFC 4303 2.1: SPI 0 is reserved for local use, 1-255 by IANA.
	if s.SPI < 256 {
		add("spi", "want at least 256 (0-255 are reserved, RFC 4303 2.1), got %d", s.SPI)
	}
	if s.Direction != In && s.Direction != Out {
		add("direction", "want in or out, got %d", s.Direction)
	}
	if s.Mode != Transport && s.Mode != Tunnel {
		add("mode", "want transport or tunnel, got %d", s.Mode)
	}
	if s.Encapsulation != EncapNone && s.Encapsulation != EncapUDP {
		add("encapsulation", "want none or udp, got %d", s.Encapsulation)
	}
	if s.Encapsulation == EncapNone {
		if s.SourcePort != 0 {
			add("source-port", "only with encapsulation udp")
		}
		if s.DestinationPort != 0 {
			add("destination-port", "only with encapsulation udp")
		}
	}
	enc, auth := s.Proposal.KeyLens()
	if enc == 0 {
		add("proposal", "want one of %v, got %v", Proposals(), s.Proposal)
	} else {
		if len(s.EncKey) != enc {
			add("enc-key", "want %d bytes for %v, got %d", enc, s.Proposal, len(s.EncKey))
		}
		if len(s.AuthKey) != auth {
			if auth == 0 {
				add("auth-key", "%v is an AEAD suite and takes no auth-key, got %d bytes", s.Proposal, len(s.AuthKey))
			} else {
				add("auth-key", "want %d bytes for %v, got %d", auth, s.Proposal, len(s.AuthKey))
			}
		}
	}
	if s.ReplayWindow > MaxReplayWindow {
		add("replay-window", "want at most %d, got %d", MaxReplayWindow, s.ReplayWindow)
	}
	if s.Source.IsValid() && s.Destination.IsValid() && s.Source.Unmap().Is4() != s.Destination.Unmap().Is4() {
		add("destination", "address family differs from source")
	}
	if s.Mode == Tunnel && s.Direction == Out {
		// Encap builds the outer header from these.
		if !s.Source.IsValid() {
			add("source", "required for an outbound tunnel mode SA")
		}
		if !s.Destination.IsValid() {
			add("destination", "required for an outbound tunnel mode SA")
		}
	}
	l := s.Life
	if l.RekeyTime < 0 {
		add("life.rekey-time", "must not be negative")
	}
	if l.LifeTime < 0 {
		add("life.life-time", "must not be negative")
	}
	if l.RekeyTime > 0 && l.LifeTime > 0 && l.RekeyTime >= l.LifeTime {
		add("life.rekey-time", "want less than life-time (%v), got %v", l.LifeTime, l.RekeyTime)
	}
	if l.RekeyBytes > 0 && l.LifeBytes > 0 && l.RekeyBytes >= l.LifeBytes {
		add("life.rekey-bytes", "want less than life-bytes (%d), got %d", l.LifeBytes, l.RekeyBytes)
	}
	if l.RekeyPackets > 0 && l.LifePackets > 0 && l.RekeyPackets >= l.LifePackets {
		add("life.rekey-packets", "want less than life-packets (%d), got %d", l.LifePackets, l.RekeyPackets)
	}
	return errors.Join(errs...)
}
