package ipsec

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
)

// ErrDuplicateSA is returned by SADB.Insert when an SA with the same SPI and
// destination is already installed.
var ErrDuplicateSA = errors.New("ipsec: SA with this SPI and destination already installed")

// SADB maps (SPI, outer destination) to inbound SAs.
//
// Readers (workers) are wait-free and allocation-free: Lookup loads the
// current bucket array and one bucket through atomic pointers and scans a
// handful of entries. Writers (the control plane) are serialised by a mutex
// that readers never touch. A bucket is immutable: adding or removing an SA
// builds a new copy of that one bucket and publishes it with one atomic store,
// so a write costs O(bucket), never O(table), and never stalls a reader.
// When the table passes one SA per bucket on average, the writer rebuilds
// into an array twice as large and publishes it atomically; readers holding
// the old array still see a consistent (slightly older) table.
//
// Buckets are chosen by SPI alone, so SAs that share an SPI but differ in
// destination, or have none (which matches any destination), meet in one
// bucket and Lookup can prefer the exact destination.
type SADB struct {
	tab   atomic.Pointer[saTable]
	count atomic.Int64
	mu    sync.Mutex // serialises writers only
}

type saTable struct {
	buckets []atomic.Pointer[saBucket]
	mask    uint32
}

// saBucket is immutable once published.
type saBucket struct {
	e []saEntry
}

type saEntry struct {
	spi    uint32
	dstLen uint8 // 0: any destination, 4 or 16
	dst    [16]byte
	sa     *InboundSA
}

const initialBuckets = 64

// NewSADB returns an empty database.
func NewSADB() *SADB {
	db := &SADB{}
	db.tab.Store(newSATable(initialBuckets))
	return db
}

func newSATable(n int) *saTable {
	return &saTable{buckets: make([]atomic.Pointer[saBucket], n), mask: uint32(n - 1)}
}

// bucketOf spreads SPIs over the buckets. SPIs are chosen by IKE peers,
// usually at random but sometimes sequentially; the multiplicative hash
// (Knuth) spreads both.
func (t *saTable) bucketOf(spi uint32) *atomic.Pointer[saBucket] {
	return &t.buckets[t.index(spi)]
}

// Lookup returns the inbound SA for spi and the outer destination dst (4 or
// 16 raw bytes), or nil. An SA installed with a destination wins over one
// without (which matches any destination). Wait-free, allocation-free: for
// workers.
func (db *SADB) Lookup(spi uint32, dst []byte) *InboundSA {
	b := db.tab.Load().bucketOf(spi).Load()
	if b == nil {
		return nil
	}
	var any *InboundSA
	for i := range b.e {
		e := &b.e[i]
		if e.spi != spi {
			continue
		}
		if e.dstLen == 0 {
			any = e.sa
			continue
		}
		if int(e.dstLen) == len(dst) && string(e.dst[:e.dstLen]) == string(dst) {
			return e.sa
		}
	}
	return any
}

func keyOf(spi uint32, dst netip.Addr) saEntry {
	e := saEntry{spi: spi}
	if dst.IsValid() {
		dst = dst.Unmap()
		if dst.Is4() {
			a := dst.As4()
			copy(e.dst[:], a[:])
			e.dstLen = 4
		} else {
			e.dst = dst.As16()
			e.dstLen = 16
		}
	}
	return e
}

func (e *saEntry) sameKey(k *saEntry) bool {
	return e.spi == k.spi && e.dstLen == k.dstLen && e.dst == k.dst
}

// Insert installs sa. It returns an error wrapping ErrDuplicateSA if an SA
// with the same SPI and destination is already present. Control plane only.
func (db *SADB) Insert(sa *InboundSA) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	k := keyOf(sa.spi, sa.spec.Destination)
	k.sa = sa
	slot := db.tab.Load().bucketOf(k.spi)
	old := slot.Load()
	if old != nil {
		for i := range old.e {
			if old.e[i].sameKey(&k) {
				return fmt.Errorf("insert SA %q (spi %#x): %w", sa.spec.Name, sa.spi, ErrDuplicateSA)
			}
		}
	}
	db.putLocked(slot, old, k, -1)
	db.count.Add(1)
	db.growLocked()
	return nil
}

// Replace installs sa, replacing and returning the SA with the same SPI and
// destination (nil if there was none). Workers see either the old or the new
// SA, never neither. Control plane only.
func (db *SADB) Replace(sa *InboundSA) (old *InboundSA) {
	db.mu.Lock()
	defer db.mu.Unlock()
	k := keyOf(sa.spi, sa.spec.Destination)
	k.sa = sa
	slot := db.tab.Load().bucketOf(k.spi)
	b := slot.Load()
	at := -1
	if b != nil {
		for i := range b.e {
			if b.e[i].sameKey(&k) {
				at, old = i, b.e[i].sa
				break
			}
		}
	}
	db.putLocked(slot, b, k, at)
	if at < 0 {
		db.count.Add(1)
		db.growLocked()
	}
	return old
}

// putLocked publishes a copy of bucket b with k replacing entry at, or
// appended when at < 0.
//
// +checklocks:db.mu
func (db *SADB) putLocked(slot *atomic.Pointer[saBucket], b *saBucket, k saEntry, at int) {
	var e []saEntry
	if b != nil {
		e = make([]saEntry, len(b.e), len(b.e)+1)
		copy(e, b.e)
	}
	if at >= 0 {
		e[at] = k
	} else {
		e = append(e, k)
	}
	slot.Store(&saBucket{e: e})
}

// Remove uninstalls and returns the SA with spi and destination dst (an
// invalid dst names the SA installed without a destination), or nil.
// Control plane only.
func (db *SADB) Remove(spi uint32, dst netip.Addr) *InboundSA {
	db.mu.Lock()
	defer db.mu.Unlock()
	k := keyOf(spi, dst)
	slot := db.tab.Load().bucketOf(spi)
	b := slot.Load()
	if b == nil {
		return nil
	}
	for i := range b.e {
		if !b.e[i].sameKey(&k) {
			continue
		}
		old := b.e[i].sa
		if len(b.e) == 1 {
			slot.Store(nil)
		} else {
			e := make([]saEntry, 0, len(b.e)-1)
			e = append(e, b.e[:i]...)
			e = append(e, b.e[i+1:]...)
			slot.Store(&saBucket{e: e})
		}
		db.count.Add(-1)
		return old
	}
	return nil
}

// growLocked doubles the bucket array when the table holds more SAs than
// buckets, rebuilding it aside and publishing it with one store. Amortised
// O(1) per insert.
//
// +checklocks:db.mu
func (db *SADB) growLocked() {
	t := db.tab.Load()
	if db.count.Load() <= int64(len(t.buckets)) {
		return
	}
	nt := newSATable(2 * len(t.buckets))
	// Collect the new buckets' entries first so each new bucket is built once.
	lists := make([][]saEntry, len(nt.buckets))
	for i := range t.buckets {
		b := t.buckets[i].Load()
		if b == nil {
			continue
		}
		for _, e := range b.e {
			j := nt.index(e.spi)
			lists[j] = append(lists[j], e)
		}
	}
	for j, l := range lists {
		if l != nil {
			nt.buckets[j].Store(&saBucket{e: l})
		}
	}
	db.tab.Store(nt)
}

func (t *saTable) index(spi uint32) uint32 {
	h := spi * 0x9e3779b1
	return (h ^ h>>16) & t.mask
}

// Len returns the number of installed SAs.
func (db *SADB) Len() int { return int(db.count.Load()) }

// Range calls fn for every installed SA, in no particular order, until fn
// returns false. It sees one consistent bucket array; SAs added or removed
// meanwhile may or may not be visited. Control plane only.
func (db *SADB) Range(fn func(*InboundSA) bool) {
	t := db.tab.Load()
	for i := range t.buckets {
		b := t.buckets[i].Load()
		if b == nil {
			continue
		}
		for j := range b.e {
			if !fn(b.e[j].sa) {
				return
			}
		}
	}
}
