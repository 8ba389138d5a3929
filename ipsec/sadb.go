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

// saBucket is immutable once published. The first entries are inline, so
// the usual bucket (at most one SA per bucket on average) is one allocation
// and one cache miss away from the bucket array.
type saBucket struct {
	inl  [bucketInline]saEntry
	n    int       // entries used in inl
	more []saEntry // entries past bucketInline, rare
}

const bucketInline = 2

// fill sets b's entries to list.
func (b *saBucket) fill(list []saEntry) {
	b.n = copy(b.inl[:], list)
	if len(list) > bucketInline {
		b.more = append([]saEntry(nil), list[bucketInline:]...)
	}
}

// appendTo appends b's entries to list.
func (b *saBucket) appendTo(list []saEntry) []saEntry {
	if b == nil {
		return list
	}
	list = append(list, b.inl[:b.n]...)
	return append(list, b.more...)
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
	for i := 0; i < b.n; i++ {
		if sa, exact := b.inl[i].match(spi, dst); exact {
			return sa
		} else if sa != nil {
			any = sa
		}
	}
	for i := range b.more {
		if sa, exact := b.more[i].match(spi, dst); exact {
			return sa
		} else if sa != nil {
			any = sa
		}
	}
	return any
}

// match returns e's SA if it matches spi and dst, and whether it matched
// the destination exactly (rather than as a wildcard).
func (e *saEntry) match(spi uint32, dst []byte) (*InboundSA, bool) {
	if e.spi != spi {
		return nil, false
	}
	if e.dstLen == 0 {
		return e.sa, false
	}
	if int(e.dstLen) == len(dst) && string(e.dst[:e.dstLen]) == string(dst) {
		return e.sa, true
	}
	return nil, false
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
	var tmp [4]saEntry
	list := slot.Load().appendTo(tmp[:0])
	for i := range list {
		if list[i].sameKey(&k) {
			return fmt.Errorf("insert SA %q (spi %#x): %w", sa.spec.Name, sa.spi, ErrDuplicateSA)
		}
	}
	db.publishLocked(slot, append(list, k))
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
	var tmp [4]saEntry
	list := slot.Load().appendTo(tmp[:0])
	at := -1
	for i := range list {
		if list[i].sameKey(&k) {
			at, old = i, list[i].sa
			list[i] = k
			break
		}
	}
	if at < 0 {
		list = append(list, k)
	}
	db.publishLocked(slot, list)
	if at < 0 {
		db.count.Add(1)
		db.growLocked()
	}
	return old
}

// publishLocked publishes a new bucket holding list (nil when empty).
//
// +checklocks:db.mu
func (db *SADB) publishLocked(slot *atomic.Pointer[saBucket], list []saEntry) {
	if len(list) == 0 {
		slot.Store(nil)
		return
	}
	b := new(saBucket)
	b.fill(list)
	slot.Store(b)
}

// Remove uninstalls and returns the SA with spi and destination dst (an
// invalid dst names the SA installed without a destination), or nil.
// Control plane only.
func (db *SADB) Remove(spi uint32, dst netip.Addr) *InboundSA {
	db.mu.Lock()
	defer db.mu.Unlock()
	k := keyOf(spi, dst)
	slot := db.tab.Load().bucketOf(spi)
	var tmp [4]saEntry
	list := slot.Load().appendTo(tmp[:0])
	for i := range list {
		if !list[i].sameKey(&k) {
			continue
		}
		old := list[i].sa
		db.publishLocked(slot, append(list[:i], list[i+1:]...))
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
	// Gather every entry, sort them by new bucket (counting sort), and build
	// all new buckets in one array: a handful of allocations per doubling.
	all := make([]saEntry, 0, db.count.Load())
	for i := range t.buckets {
		all = t.buckets[i].Load().appendTo(all)
	}
	start := make([]int, len(nt.buckets)+1)
	for i := range all {
		start[nt.index(all[i].spi)+1]++
	}
	for j := 1; j < len(start); j++ {
		start[j] += start[j-1]
	}
	sorted := make([]saEntry, len(all))
	pos := append([]int(nil), start[:len(nt.buckets)]...)
	for i := range all {
		j := nt.index(all[i].spi)
		sorted[pos[j]] = all[i]
		pos[j]++
	}
	bk := make([]saBucket, len(nt.buckets))
	for j := range bk {
		if l := sorted[start[j]:start[j+1]]; len(l) > 0 {
			bk[j].fill(l)
			nt.buckets[j].Store(&bk[j])
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
	var list []saEntry
	for i := range t.buckets {
		list = t.buckets[i].Load().appendTo(list[:0])
		for j := range list {
			if !fn(list[j].sa) {
				return
			}
		}
	}
}
