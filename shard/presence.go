package shard

import (
	"context"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/badger/v4"
)

// The presence filter lets the updater skip the doc-info lookup for ids a
// shard copy has never held: every new document would otherwise cost a
// badger read that walks both memtables and every level, and a bulk load is
// nearly all new documents. It is a Bloom filter of every id with a doc
// info, so "absent" is certain and "present" only likely (the lookup then
// happens as before).
//
// The filter is the updater's alone: it is consulted and extended only on
// the updater goroutine, so it needs no lock. At open it is built in the
// background from a scan of the doc-info keys; until it is ready every
// lookup goes to badger, and the updater records the ids it writes
// meanwhile, since the scan's snapshot may predate them.
//
// It starts small (a node may hold thousands of small shard copies) and
// grows in layers, each four times the size of the one before, so it never
// needs a rescan; past maxPresenceIDs (28 MiB of filter) it is dropped and
// lookups go to badger again. The ids recorded during a scan are held until
// it ends: a scan reads a few million keys a second.
const (
	minPresenceIDs = 4 << 10 // 7 KiB
	maxPresenceIDs = 16 << 20
	presenceGrowth = 4
	// Each layer spends presenceBitsPerID bits on an id and sets
	// presenceProbes of them, for about 0.2% false positives a layer
	// (blocked filters lose a little to a standard one's 0.1%); with layers
	// growing fourfold from 4Ki ids a copy has at most seven, so 1.5% in all.
	presenceBitsPerID = 14
	presenceProbes    = 7
)

// presence is a layered Bloom filter of document ids.
type presence struct {
	layers []blockedBloom
	last   uint // ids the newest layer was sized for
	room   uint // ids the newest layer takes before the next is added
	total  uint // ids the layers were sized for, together
}

// newPresence returns an empty filter sized for about n ids, or nil when n
// is past maxPresenceIDs.
func newPresence(n uint) *presence {
	p := &presence{}
	if !p.grow(max(2*n, minPresenceIDs)) {
		return nil
	}
	return p
}

func (p *presence) grow(n uint) bool {
	if p.total+n > maxPresenceIDs {
		return false
	}
	p.layers = append(p.layers, newBlockedBloom(n))
	p.last, p.room = n, n
	p.total += n
	return true
}

// mayHold reports whether id may have been added; false is certain. The id
// is hashed once for all layers, and each layer costs one cache line.
func (p *presence) mayHold(id string) bool {
	h := xxhash.Sum64String(id)
	for _, l := range p.layers {
		if l.has(h) {
			return true
		}
	}
	return false
}

// add records id. It reports false when the filter is full: it must then be
// dropped, since the id is not in it.
func (p *presence) add(id []byte) bool { return p.addHash(xxhash.Sum64(id)) }

// addString is add for an id held as a string, without copying it.
func (p *presence) addString(id string) bool { return p.addHash(xxhash.Sum64String(id)) }

func (p *presence) addHash(h uint64) bool {
	if p.room == 0 && !p.grow(presenceGrowth*p.last) {
		return false
	}
	p.layers[len(p.layers)-1].add(h)
	p.room--
	return true
}

// blockedBloom is a cache-local Bloom filter, laid out as RocksDB's
// FastLocalBloom: the high half of an id's hash picks a 512-bit block (one
// cache line) and the low half, stepped by multiplication, picks the bits
// within it. A standard filter's probes land on as many cache lines, and
// for the updater those misses were most of the filter's cost.
type blockedBloom [][8]uint64

func newBlockedBloom(n uint) blockedBloom {
	return make(blockedBloom, max((n*presenceBitsPerID+511)/512, 1))
}

// block maps h's high half onto the blocks without a division.
func (f blockedBloom) block(h uint64) *[8]uint64 {
	return &f[(h>>32)*uint64(len(f))>>32]
}

func (f blockedBloom) add(h uint64) {
	b, x := f.block(h), uint32(h)
	for range presenceProbes {
		bit := x >> (32 - 9) // 0..511
		b[bit>>6] |= 1 << (bit & 63)
		x *= 0x9e3779b9
	}
}

func (f blockedBloom) has(h uint64) bool {
	b, x := f.block(h), uint32(h)
	for range presenceProbes {
		bit := x >> (32 - 9)
		if b[bit>>6]&(1<<(bit&63)) == 0 {
			return false
		}
		x *= 0x9e3779b9
	}
	return true
}

// presenceState is the updater's view of the filter.
type presenceState struct {
	filter *presence // nil: not built (yet), or dropped
	// building is set while a scan runs; since then holds the ids written
	// after it started, which its snapshot may not see.
	building bool
	since    []string
	ready    chan *presence // the scan's result, nil when it failed
}

// startPresence starts building the filter in the background. Updater only.
func (sh *Shard) startPresence() {
	sh.mu.Lock()
	n := sh.stats.DocCount + sh.stats.DocDelCount
	sh.mu.Unlock()
	if n > maxPresenceIDs/2 {
		return
	}
	ready := make(chan *presence, 1)
	if sh.inBackground(&sh.scanningIDs, "presence filter", func(ctx context.Context) error {
		p, err := sh.scanPresence(ctx, uint(n))
		ready <- p // buffered: never blocks
		return err
	}) {
		sh.presence.building, sh.presence.ready = true, ready
	}
}

// scanPresence builds a filter of every id with a doc info, from a snapshot.
func (sh *Shard) scanPresence(ctx context.Context, n uint) (*presence, error) {
	p := newPresence(n)
	if p == nil {
		return nil, nil
	}
	prefix := sh.keys.tagPrefix(tagDoc)
	err := sh.db.View(func(txn *badger.Txn) error {
		if sh.store.presenceHook != nil {
			sh.store.presenceHook(sh) // tests: writes now are after the snapshot
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix}) // keys only
		defer it.Close()
		n := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if n++; n%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if !p.add(it.Item().Key()[len(prefix):]) {
				p = nil
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan doc ids: %w", err)
	}
	return p, nil
}

// installPresence takes the scan's result: the ids written while it ran
// are added, and from now on new ids skip the lookup. Updater only.
func (sh *Shard) installPresence(p *presence) {
	ps := &sh.presence
	since := ps.since
	ps.building, ps.since, ps.ready = false, nil, nil
	for _, id := range since {
		if p == nil || !p.addString(id) {
			return
		}
	}
	ps.filter = p
}

// mayHold reports whether the copy may hold a doc info for id; false is
// certain. Updater only.
func (sh *Shard) mayHold(id string) bool {
	return sh.presence.filter == nil || sh.presence.filter.mayHold(id)
}

// notePresent records that id now has a doc info. Updater only.
func (sh *Shard) notePresent(id string) {
	ps := &sh.presence
	if ps.building {
		ps.since = append(ps.since, id)
	}
	if ps.filter != nil && !ps.filter.addString(id) {
		sh.store.log.Info("presence filter full; new ids are looked up", "shard", sh.name)
		ps.filter = nil
	}
}
