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

// ChangesDescending calls fn for each document changed after since, newest
// first.
func (sh *Shard) ChangesDescending(ctx context.Context, since uint64, fn func(Change) error) error {
	prefix := sh.keys.tagPrefix(tagSeq)
	return sh.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Seek(sh.keys.tagPrefix(tagSeq + 1)); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			seq := binary.BigEndian.Uint64(it.Item().Key()[len(prefix):])
			if seq <= since {
				return nil
			}
			id, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			di, _, err := sh.loadDocInfo(txn, string(id))
			if err != nil {
				return err
			}
			if di == nil || di.seq != seq {
				continue
			}
			if err := fn(Change{Seq: seq, ID: string(id), Deleted: di.tree.Deleted(), Leaves: di.tree.Leaves(), Tree: di.tree}); err != nil {
				return err
			}
		}
		return nil
	})
}

// CountChanges counts the documents changed after since: the shard's share
// of a changes feed's "pending".
func (sh *Shard) CountChanges(ctx context.Context, since uint64) (int64, error) {
	prefix := sh.keys.tagPrefix(tagSeq)
	var n int64
	err := sh.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(sh.keys.seq(since + 1)); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	return n, err
}

// ReadWinner reads the winning revision's body of a change, for
// include_docs.
func (sh *Shard) ReadWinner(ctx context.Context, c Change) (*couch.Revision, error) {
	if len(c.Leaves) == 0 {
		return nil, couch.ErrNotFound
	}
	var r couch.Revision
	err := sh.db.View(func(txn *badger.Txn) error {
		var err error
		r, err = sh.readRev(txn, c.ID, c.Leaves[0].Rev)
		return err
	})
	return &r, err
}
