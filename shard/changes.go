package shard

import (
	"context"
	"encoding/binary"

	"github.com/dgraph-io/badger/v4"

	"github.com/divandb/divan/internal/couch"
)

// Change is one entry of the by-seq index: a document's latest change.
type Change struct {
	Seq     uint64
	ID      string
	Deleted bool
	// Leaves are the document's leaves, winner first.
	Leaves []couch.Leaf
	Tree   *couch.RevTree
}

// Changes calls fn for each document changed after since, in seq order,
// until fn returns an error or the index is exhausted.
func (sh *Shard) Changes(ctx context.Context, since uint64, fn func(Change) error) error {
	prefix := sh.keys.tagPrefix(tagSeq)
	return sh.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Seek(sh.keys.seq(since + 1)); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			seq := binary.BigEndian.Uint64(it.Item().Key()[len(prefix):])
			id, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			di, _, err := sh.loadDocInfo(txn, string(id))
			if err != nil {
				return err
			}
			if di == nil || di.seq != seq {
				continue // superseded within this snapshot; cannot happen, but be safe
			}
			leaves := di.tree.Leaves()
			if err := fn(Change{Seq: seq, ID: string(id), Deleted: di.tree.Deleted(), Leaves: leaves, Tree: di.tree}); err != nil {
				return err
			}
		}
		return nil
	})
}
