package gen

import (
	"testing"
)

// FuzzParseMix: no input panics; an accepted mix adds up to 100% and reads
// back the same from its String.
func FuzzParseMix(f *testing.F) {
	for _, s := range []string{"", "clear-data=5,bad-icv=2.5", "esp-data=100", "junk=0.01,unknown-spi=99.99", "x=1", "junk=1e3", "junk=.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMix(s)
		if err != nil {
			return
		}
		var sum uint32
		for _, w := range m {
			sum += w
		}
		if sum != MixScale {
			t.Fatalf("ParseMix(%q) adds up to %d", s, sum)
		}
		back, err := ParseMix(m.String())
		if err != nil || back != m {
			t.Fatalf("ParseMix(%q).String() = %q reads back as %v, %v", s, m.String(), back, err)
		}
	})
}

// FuzzParseSizeList: no input panics; accepted sizes validate.
func FuzzParseSizeList(f *testing.F) {
	for _, s := range []string{"64", "64,512,1400,imix", "IMIX", "0", "-1", "99999999999999999999", " 64 ,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		list, err := ParseSizeList(s)
		if err != nil {
			return
		}
		for _, sz := range list {
			if err := sz.Validate(); err != nil {
				t.Fatalf("ParseSizeList(%q) accepted %v: %v", s, sz, err)
			}
		}
	})
}
