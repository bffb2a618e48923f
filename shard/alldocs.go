package shard

import (
	"bytes"
	"context"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/divandb/divan/internal/couch"
)

// DocsQuery selects a range of documents by id, in raw byte order, as
// `_all_docs` does. Deleted documents are never returned by range queries.
type DocsQuery struct {
	StartKey     *string // nil: unbounded
	EndKey       *string // nil: unbounded
	InclusiveEnd bool
	Descending   bool
	// Limit stops after this many rows; < 0 means no limit.
	Limit       int
	IncludeDocs bool
}

// DocRow is one document of a range or keys query: its winning revision and,
// when asked for, its body and conflicts.
type DocRow struct {
	ID      string
	Rev     couch.Rev
	Deleted bool
	// Doc is the winning revision with its body when IncludeDocs.
	Doc *couch.Revision
	// Conflicts are the doc's conflicting revisions (always filled: it is
	// free once the tree is decoded).
	Conflicts []couch.Rev
}

// Docs calls fn for each live document in the query's range, in order.
func (sh *Shard) Docs(ctx context.Context, q DocsQuery, fn func(DocRow) error) error {
	prefix := sh.keys.tagPrefix(tagDoc)
	return sh.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{
			PrefetchValues: true, PrefetchSize: 64,
			Reverse: q.Descending, Prefix: prefix,
		})
		defer it.Close()
		start, end := q.StartKey, q.EndKey
		seek := prefix
		if start != nil {
			seek = append(append([]byte{}, prefix...), *start...)
		}
		if q.Descending {
			if start == nil {
				// Seek past every key with this prefix.
				seek = sh.keys.tagPrefix(tagDoc + 1)
			}
		}
		n := 0
		for it.Seek(seek); it.Valid(); it.Next() {
			if q.Limit >= 0 && n >= q.Limit {
				return nil
			}
			if n%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			key := it.Item().Key()
			id := key[len(prefix):]
			if end != nil {
				c := bytes.Compare(id, []byte(*end))
				if q.Descending {
					c = -c
				}
				if c > 0 || (c == 0 && !q.InclusiveEnd) {
					return nil
				}
			}
			row, ok, err := sh.rowFromItem(txn, it.Item(), string(id), q.IncludeDocs, false)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			n++
			if err := fn(row); err != nil {
				return err
			}
		}
		return nil
	})
}

// Lookup returns the rows of the given ids, in order; ok[i] is false for an
// id with no document. Deleted documents are returned with Deleted set.
func (sh *Shard) Lookup(ctx context.Context, ids []string, includeDocs bool) ([]DocRow, []bool, error) {
	rows := make([]DocRow, len(ids))
	found := make([]bool, len(ids))
	err := sh.db.View(func(txn *badger.Txn) error {
		for i, id := range ids {
			item, err := txn.Get(sh.keys.doc(id))
			if err == badger.ErrKeyNotFound {
				continue
			}
			if err != nil {
				return err
			}
			rows[i], found[i], err = sh.rowFromItem(txn, item, id, includeDocs, true)
			if err != nil {
				return err
			}
		}
		return nil
	})
	return rows, found, err
}

func (sh *Shard) rowFromItem(txn *badger.Txn, item *badger.Item, id string, includeDocs, withDeleted bool) (DocRow, bool, error) {
	var di *docInfo
	if err := item.Value(func(v []byte) error {
		var err error
		di, err = decodeDocInfo(v)
		return err
	}); err != nil {
		return DocRow{}, false, err
	}
	w, ok := di.tree.Winner()
	if !ok || (w.Deleted && !withDeleted) {
		return DocRow{}, false, nil
	}
	row := DocRow{ID: id, Rev: w.Rev, Deleted: w.Deleted, Conflicts: di.tree.Conflicts()}
	if includeDocs && !w.Deleted {
		r, err := sh.readRev(txn, id, w.Rev)
		if err != nil {
			return DocRow{}, false, err
		}
		row.Doc = &r
	}
	return row, true, nil
}

// CountBefore counts the live documents that sort before key (after it when
// descending): the shard's share of `_all_docs` offset. Counting reads keys
// only, and resumes from the nearest earlier count of the same snapshot, so
// paging through a database costs a page's worth of keys per request rather
// than everything before the page.
func (sh *Shard) CountBefore(ctx context.Context, key string, descending bool) (int64, error) {
	prefix := sh.keys.tagPrefix(tagDoc)
	keyBytes := []byte(key)
	var n int64
	var seq uint64
	err := sh.db.View(func(txn *badger.Txn) error {
		seq = sh.committedSeq(txn)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: descending})
		defer it.Close()
		seek := prefix
		if descending {
			seek = sh.keys.tagPrefix(tagDoc + 1)
		}
		if from, count, ok := sh.counts.nearest(key, descending, seq); ok {
			seek = append(append([]byte{}, prefix...), from...)
			n = count
		}
		for it.Seek(seek); it.Valid(); it.Next() {
			c := bytes.Compare(it.Item().Key()[len(prefix):], keyBytes)
			if descending {
				c = -c
			}
			if c >= 0 {
				return nil
			}
			if it.Item().UserMeta()&metaDeleted == 0 {
				n++
			}
		}
		return nil
	})
	if err == nil {
		sh.counts.add(key, descending, seq, n)
	}
	return n, err
}

// committedSeq identifies the snapshot a read transaction sees, for caches
// valid only as long as nothing was written: badger's read timestamp.
func (sh *Shard) committedSeq(txn *badger.Txn) uint64 { return txn.ReadTs() }

// countCache remembers recent CountBefore results of one snapshot.
type countCache struct {
	mu      sync.Mutex
	entries []countEntry
}

type countEntry struct {
	key        string
	descending bool
	seq        uint64
	n          int64
}

const countCacheSize = 16

// nearest returns the cached count for the closest key at or before key
// (in the iteration direction) in snapshot seq.
func (c *countCache) nearest(key string, descending bool, seq uint64) (string, int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	best := -1
	for i, e := range c.entries {
		if e.seq != seq || e.descending != descending {
			continue
		}
		before := e.key <= key
		if descending {
			before = e.key >= key
		}
		if !before {
			continue
		}
		if best < 0 || (!descending && e.key > c.entries[best].key) || (descending && e.key < c.entries[best].key) {
			best = i
		}
	}
	if best < 0 {
		return "", 0, false
	}
	return c.entries[best].key, c.entries[best].n, true
}

func (c *countCache) add(key string, descending bool, seq uint64, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= countCacheSize {
		copy(c.entries, c.entries[1:])
		c.entries = c.entries[:len(c.entries)-1]
	}
	c.entries = append(c.entries, countEntry{key, descending, seq, n})
}

// docInfos calls fn with every document's id and tree in the query's range,
// deleted ones included.
func (sh *Shard) docInfos(ctx context.Context, q DocsQuery, fn func(id string, tree *couch.RevTree) error) error {
	prefix := sh.keys.tagPrefix(tagDoc)
	return sh.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 64, Prefix: prefix})
		defer it.Close()
		seek := prefix
		if q.StartKey != nil {
			seek = append(append([]byte{}, prefix...), *q.StartKey...)
		}
		n := 0
		for it.Seek(seek); it.Valid(); it.Next() {
			if q.Limit >= 0 && n >= q.Limit {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			n++
			id := string(it.Item().Key()[len(prefix):])
			err := it.Item().Value(func(v []byte) error {
				di, err := decodeDocInfo(v)
				if err != nil {
					return err
				}
				return fn(id, di.tree)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}
