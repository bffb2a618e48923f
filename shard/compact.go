package shard

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/divandb/divan/internal/couch"
)

// compactBatch is how many documents one compaction step rewrites.
const compactBatch = 500

// StartCompaction drops the bodies of replaced (non-leaf) revisions and the
// by-seq index's stale pairs in the background, as CouchDB's database
// compaction does. It returns at once; Compacting reports progress. A
// compaction already running is left alone.
func (sh *Shard) StartCompaction() {
	sh.inBackground(&sh.compacting, "compaction", sh.Compact)
}

// inBackground runs fn in the background unless running says it already
// is or the shard is closing, and reports whether it started; fn's context
// ends when the shard closes.
func (sh *Shard) inBackground(running *atomic.Bool, what string, fn func(context.Context) error) bool {
	sh.bgMu.Lock()
	defer sh.bgMu.Unlock()
	if sh.stopping || !running.CompareAndSwap(false, true) {
		return false
	}
	sh.bg.Add(1)
	go func() {
		defer sh.bg.Done()
		defer running.Store(false)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-sh.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, ErrClosed) {
			sh.store.log.Error(what+" failed", "shard", sh.name, "err", err)
		}
	}()
	return true
}

// Compacting reports whether a background compaction is running.
func (sh *Shard) Compacting() bool { return sh.compacting.Load() }

// Compact drops the bodies of replaced revisions and the by-seq index's
// stale pairs now, batch by batch through the updater so concurrent writes
// stay consistent.
func (sh *Shard) Compact(ctx context.Context) error {
	after := ""
	for {
		var ids []string
		start := after
		q := DocsQuery{StartKey: &start, Limit: compactBatch + 1, InclusiveEnd: true}
		err := sh.docInfos(ctx, q, func(id string, tree *couch.RevTree) error {
			if id == after && after != "" {
				return nil
			}
			if needsCompaction(tree) {
				ids = append(ids, id)
			}
			after = id
			return nil
		})
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			r := &updateReq{compact: ids, done: make(chan struct{})}
			if err := sh.submit(ctx, r); err != nil {
				return fmt.Errorf("compact %s: %w", sh.name, err)
			}
		}
		if after == start {
			break
		}
	}
	return sh.compactSeqIndex(ctx)
}

func needsCompaction(t *couch.RevTree) bool {
	for _, l := range t.Leaves() {
		for _, r := range t.Path(l.Rev)[1:] {
			if t.HasBody(r) {
				return true
			}
		}
	}
	return false
}

// applyCompact drops interior bodies of the given docs inside the batch.
func (sh *Shard) applyCompact(bt *batchTxn, ids []string, st *stats) error {
	for _, id := range ids {
		if err := bt.docDone(*st); err != nil {
			return err
		}
		di, oldSize, err := sh.loadDocInfo(bt.txn, id)
		if err != nil {
			return err
		}
		if di == nil {
			continue
		}
		dropped := di.tree.Compact()
		if len(dropped) == 0 {
			continue
		}
		for _, r := range dropped {
			if err := bt.delete(sh.keys.body(id, r)); err != nil {
				return err
			}
		}
		v, err := di.encode()
		if err != nil {
			return err
		}
		if err := sh.putDocInfo(bt, id, v, di.tree.Deleted()); err != nil {
			return err
		}
		st.Active += int64(len(v) - oldSize)
	}
	return nil
}
