package shard

import (
	"context"

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
	return sh.changes(ctx, since, false, fn)
}

// ChangesDescending calls fn for each document changed after since, newest
// first.
func (sh *Shard) ChangesDescending(ctx context.Context, since uint64, fn func(Change) error) error {
	return sh.changes(ctx, since, true, fn)
}

func (sh *Shard) changes(ctx context.Context, since uint64, reverse bool, fn func(Change) error) error {
	return sh.db.View(func(txn *badger.Txn) error {
		return sh.eachChange(txn, since, reverse, func(p seqPair) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			di, _, err := sh.loadDocInfo(txn, p.id)
			if err != nil {
				return err
			}
			if di == nil || di.seq != p.seq {
				return nil // stale: the document changed again or was purged
			}
			return fn(Change{Seq: p.seq, ID: p.id, Deleted: di.tree.Deleted(), Leaves: di.tree.Leaves(), Tree: di.tree})
		})
	})
}

// CountChanges counts the documents changed after since: the shard's share
// of a changes feed's "pending".
func (sh *Shard) CountChanges(ctx context.Context, since uint64) (int64, error) {
	var n int64
	err := sh.db.View(func(txn *badger.Txn) error {
		var err error
		n, err = sh.countChanges(ctx, txn, since)
		return err
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
