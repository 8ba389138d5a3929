package dataplane

import "testing"

func TestProcs(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		workers, housekeeping int
		want                  int
	}{
		{name: "2 CPUs, 1 worker", workers: 1, housekeeping: 1, want: 4},
		{name: "4 CPUs, 2 workers", workers: 2, housekeeping: 2, want: 5},
		{name: "4 CPUs, 3 workers", workers: 3, housekeeping: 1, want: 7},
		{name: "8 CPUs, 4 workers: the default", workers: 4, housekeeping: 4, want: 8},
		{name: "8 CPUs, 6 workers", workers: 6, housekeeping: 2, want: 11},
		{name: "64 CPUs, 8 workers: the default", workers: 8, housekeeping: 56, want: 64},
		{name: "no housekeeping CPU", workers: 2, housekeeping: 0, want: 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Procs(tc.workers, tc.housekeeping)
			if got != tc.want {
				t.Errorf("Procs(%d, %d) = %d, want %d", tc.workers, tc.housekeeping, got, tc.want)
			}
			if fractionalMarking(got) {
				t.Errorf("Procs(%d, %d) = %d: the GC would run fractional mark workers on every P", tc.workers, tc.housekeeping, got)
			}
		})
	}
	for n, want := range map[int]bool{1: true, 2: true, 3: true, 4: false, 5: false, 6: true, 7: false, 8: false, 10: false} {
		if got := fractionalMarking(n); got != want {
			t.Errorf("fractionalMarking(%d) = %v, want %v", n, got, want)
		}
	}
}
