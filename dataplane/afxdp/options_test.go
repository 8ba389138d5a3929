package afxdp

import (
	"strings"
	"testing"
)

func TestDefaultOptions(t *testing.T) {
	o := DefaultOptions("eth0")
	if err := o.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if o != (Options{Ifname: "eth0"}).withDefaults() {
		t.Errorf("withDefaults of the zero value differs from DefaultOptions")
	}
	// The UMEM must fit the default RLIMIT_MEMLOCK of 8 MiB.
	if size := o.NumFrames * o.FrameSize; size > 8<<20 {
		t.Errorf("default UMEM %d bytes exceeds 8 MiB", size)
	}
	if o.Headroom != 256 || o.FrameSize != 2048 {
		t.Errorf("headroom %d, frame size %d; want 256, 2048", o.Headroom, o.FrameSize)
	}
}

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"no-ifname", func(o *Options) { o.Ifname = "" }, "interface name"},
		{"negative-queue", func(o *Options) { o.Queue = -1 }, "negative"},
		{"frame-3000", func(o *Options) { o.FrameSize = 3000 }, "frame size"},
		{"frame-1024", func(o *Options) { o.FrameSize = 1024 }, "frame size"},
		{"ring-not-pow2", func(o *Options) { o.RxRingSize = 1000 }, "rx ring"},
		{"fill-ring-negative", func(o *Options) { o.FillRingSize = -2 }, "fill ring"},
		{"too-few-frames", func(o *Options) { o.NumFrames = 2048 }, "frames"},
		{"headroom-512", func(o *Options) { o.Headroom = 512 }, "headroom"},
		{"headroom-negative", func(o *Options) { o.Headroom = -1 }, "headroom"},
		{"zerocopy-unknown", func(o *Options) { o.ZeroCopy = 7 }, "zero-copy"},
		{"mode-unknown", func(o *Options) { o.XDPMode = 9 }, "xdp mode"},
		{"txonly-bare", func(o *Options) { o.TxOnly, o.Bare = true, true }, "tx-only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions("eth0")
			tc.mod(&o)
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error about %q", err, tc.want)
			}
		})
	}
	// All problems at once.
	o := DefaultOptions("")
	o.FrameSize, o.Headroom = 100, 999
	if err := o.Validate(); err == nil || strings.Count(err.Error(), "\n") < 2 {
		t.Errorf("want every problem reported, got %v", err)
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range []Mode{ModeAuto, ModeNative, ModeGeneric} {
		got, err := ParseMode(strings.ToUpper(m.String()))
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseMode("offload"); err == nil {
		t.Error("ParseMode(offload) accepted")
	}
	if s := Mode(42).String(); s != "mode(42)" {
		t.Errorf("Mode(42) = %q", s)
	}
}
