package control

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicenet/sluice/control/config"
	"github.com/sluicenet/sluice/dataplane"
	"github.com/sluicenet/sluice/ipsec"
)

const lifetimeYAML = `
ipsec:
  sa:
    in-short:
      spi: 0x0000c001
      direction: in
      source: 10.99.0.2
      destination: 10.99.0.1
      proposal: aes128gcm16
      enc-key: 0x000102030405060708090a0b0c0d0e0f10111213
      life:
        rekey-time: 1s
        life-time: 2s
`

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestIdleSAExpires: an SA that sees no packet still expires by time, once
// for the soft limit and once for the hard one, and the operator is told.
func TestIdleSAExpires(t *testing.T) {
	tree, err := config.Parse([]byte(lifetimeYAML), config.FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	q := NewExpiryQueue(8)
	var logs syncBuffer
	c := NewController(dataplane.New(), Options{
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
		SAOptions: []ipsec.Option{ipsec.WithExpiryHook(q.Hook)},
	})
	born := dataplane.Now()
	if _, err := c.Commit(tree, "test", ""); err != nil {
		t.Fatal(err)
	}
	if n := c.CheckLifetimes(born + int64(500*time.Millisecond)); n != 0 {
		t.Fatalf("hard-expired at 0.5s: %d, want 0", n)
	}
	if len(q.Events()) != 0 {
		t.Fatalf("events at 0.5s: %d, want 0", len(q.Events()))
	}
	c.CheckLifetimes(born + int64(1500*time.Millisecond))
	c.CheckLifetimes(born + int64(1600*time.Millisecond)) // soft reported once only
	if n := c.CheckLifetimes(born + int64(2500*time.Millisecond)); n != 1 {
		t.Fatalf("hard-expired at 2.5s: %d, want 1", n)
	}
	var got []SAExpiry
	for len(q.Events()) > 0 {
		got = append(got, <-q.Events())
	}
	want := []SAExpiry{{SA: "in-short"}, {SA: "in-short", Hard: true}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("events %v, want %v", got, want)
	}
	if st := c.live.Load().inbound["in-short"].Stats(); !st.SoftExpired || !st.HardExpired {
		t.Errorf("stats soft %v hard %v, want both", st.SoftExpired, st.HardExpired)
	}
	// WatchLifetimes turns events into operator logs.
	q.Hook("in-short", true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.WatchLifetimes(ctx, q, time.Hour); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "SA hard lifetime reached") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if !strings.Contains(logs.String(), "sa=in-short") {
		t.Errorf("no hard-expiry log for in-short:\n%s", logs.String())
	}
}
