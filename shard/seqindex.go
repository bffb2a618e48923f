package shard

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/dgraph-io/badger/v4"
)

// The by-seq index records, for every seq, the document it changed. It is
// kept as runs: one entry per committed write batch, keyed by the batch's
// last seq and listing the (seq, doc id) pairs of the batch in order. A
// document rewritten later leaves its old pair in place and gets a stale
// marker under the old seq; readers skip marked pairs by merging the runs
// with the markers, and counting subtracts the markers. Compaction rewrites
// runs without their stale pairs (compactSeqIndex).
//
// One entry per batch rather than one per document matters: every badger
// entry costs a skiplist insert, a log record and its share of every flush
// and compaction, and the by-seq entry was a third of them. Dropping it
// raised _bulk_docs throughput by a fifth on one node and on three.

// seqRun collects the by-seq pairs of one transaction.
type seqRun struct {
	first, last uint64
	n           int
	buf         []byte // pairs: uvarint seq delta, uvarint len(id), id
}

func (r *seqRun) add(seq uint64, id string) {
	if r.n == 0 {
		r.first, r.last = seq, seq
	}
	r.buf = binary.AppendUvarint(r.buf, seq-r.last)
	r.buf = binary.AppendUvarint(r.buf, uint64(len(id)))
	r.buf = append(r.buf, id...)
	r.last = seq
	r.n++
}

func (r *seqRun) reset() { *r = seqRun{buf: r.buf[:0]} }

// encode returns the run's value: uvarint first seq, uvarint pair count,
// then the pairs.
func (r *seqRun) encode() []byte {
	b := make([]byte, 0, 2*binary.MaxVarintLen64+len(r.buf))
	b = binary.AppendUvarint(b, r.first)
	b = binary.AppendUvarint(b, uint64(r.n))
	return append(b, r.buf...)
}

// seqPair is one by-seq pair of a stored run.
type seqPair struct {
	seq uint64
	id  string
}

var errCorruptRun = errors.New("shard: corrupt by-seq run")

// runHeader decodes a run's first seq and pair count.
func runHeader(v []byte) (first uint64, n int, rest []byte, err error) {
	first, k := binary.Uvarint(v)
	if k <= 0 {
		return 0, 0, nil, errCorruptRun
	}
	count, k2 := binary.Uvarint(v[k:])
	if k2 <= 0 {
		return 0, 0, nil, errCorruptRun
	}
	return first, int(count), v[k+k2:], nil
}

// decodeRun returns a stored run's pairs in seq order.
func decodeRun(v []byte) ([]seqPair, error) {
	seq, n, b, err := runHeader(v)
	if err != nil {
		return nil, err
	}
	pairs := make([]seqPair, 0, min(n, len(b)/2))
	for range n {
		d, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, errCorruptRun
		}
		b = b[k:]
		l, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < l {
			return nil, errCorruptRun
		}
		seq += d
		pairs = append(pairs, seqPair{seq: seq, id: string(b[k : k+int(l)])})
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return nil, errCorruptRun
	}
	return pairs, nil
}

// indexChange records that seq changed document id, in this transaction.
func (b *batchTxn) indexChange(seq uint64, id string) { b.run.add(seq, id) }

// supersede marks seq stale: its document has changed again or is gone.
func (b *batchTxn) supersede(seq uint64) error {
	b.superseded++
	return b.setFinal(b.keys.stale(seq), nil)
}

// noteStale counts the markers a committed batch wrote and starts a
// compaction of the by-seq index once they pass the threshold.
func (sh *Shard) noteStale(n int) {
	sh.staleMarks += n
	if sh.staleMarks < sh.store.opts.StaleSeqsBeforeCompact {
		return
	}
	sh.staleMarks = 0
	sh.inBackground(&sh.compactingSeqs, "by-seq index compaction", sh.compactSeqIndex)
}

// flushRun writes the pairs collected so far as one run.
func (b *batchTxn) flushRun() error {
	if b.run.n == 0 {
		return nil
	}
	if err := b.setFinal(b.keys.run(b.run.last), b.run.encode()); err != nil {
		return err
	}
	b.run.reset()
	return nil
}

// eachChange calls fn for every live by-seq pair after since, in seq order
// or newest first. Stale pairs are skipped by merging the runs with the
// markers, a key each rather than a doc info read; callers still check the
// doc info's seq.
func (sh *Shard) eachChange(txn *badger.Txn, since uint64, reverse bool, fn func(seqPair) error) error {
	if since == math.MaxUint64 {
		return nil // nothing after; and since+1 below would wrap
	}
	runPrefix := sh.keys.tagPrefix(tagRun)
	runs := txn.NewIterator(badger.IteratorOptions{Prefix: runPrefix, Reverse: reverse, PrefetchValues: true, PrefetchSize: 16})
	defer runs.Close()
	stalePrefix := sh.keys.tagPrefix(tagStale)
	stale := txn.NewIterator(badger.IteratorOptions{Prefix: stalePrefix, Reverse: reverse})
	defer stale.Close()
	if reverse {
		runs.Seek(sh.keys.tagPrefix(tagRun + 1))
		stale.Seek(sh.keys.tagPrefix(tagStale + 1))
	} else {
		// Runs are keyed by their last seq: the first run whose last seq
		// is after since holds since+1 or whatever comes next.
		runs.Seek(sh.keys.run(since + 1))
		stale.Seek(sh.keys.stale(since + 1))
	}
	// isStale advances the marker iterator to seq, in the walk's direction.
	isStale := func(seq uint64) bool {
		for ; stale.Valid(); stale.Next() {
			m := binary.BigEndian.Uint64(stale.Item().Key()[len(stalePrefix):])
			if m == seq {
				return true
			}
			if (!reverse && m > seq) || (reverse && m < seq) {
				return false
			}
		}
		return false
	}
	for ; runs.Valid(); runs.Next() {
		var pairs []seqPair
		if err := runs.Item().Value(func(v []byte) error {
			var err error
			pairs, err = decodeRun(v)
			return err
		}); err != nil {
			return fmt.Errorf("%s: %w", sh.name, err)
		}
		if reverse {
			slices.Reverse(pairs)
		}
		for _, p := range pairs {
			if p.seq <= since {
				if reverse {
					return nil
				}
				continue
			}
			if isStale(p.seq) {
				continue
			}
			if err := fn(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// countChanges counts the live by-seq pairs after since: every pair after
// since, less the stale markers after since.
func (sh *Shard) countChanges(ctx context.Context, txn *badger.Txn, since uint64) (int64, error) {
	if since == math.MaxUint64 {
		return 0, nil
	}
	var n int64
	it := txn.NewIterator(badger.IteratorOptions{Prefix: sh.keys.tagPrefix(tagRun)})
	for it.Seek(sh.keys.run(since + 1)); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			it.Close()
			return 0, err
		}
		err := it.Item().Value(func(v []byte) error {
			first, count, _, err := runHeader(v)
			if err != nil {
				return err
			}
			if first > since {
				n += int64(count)
				return nil
			}
			// The run that straddles since: count its pairs after it.
			pairs, err := decodeRun(v)
			for _, p := range pairs {
				if p.seq > since {
					n++
				}
			}
			return err
		})
		if err != nil {
			it.Close()
			return 0, fmt.Errorf("%s: %w", sh.name, err)
		}
	}
	it.Close()
	stale := txn.NewIterator(badger.IteratorOptions{Prefix: sh.keys.tagPrefix(tagStale)})
	defer stale.Close()
	for stale.Seek(sh.keys.stale(since + 1)); stale.Valid(); stale.Next() {
		n--
	}
	return n, nil
}

// migrateSeqIndex rewrites a by-seq index of one entry per seq (stores
// written before runs) as runs, a thousand pairs a transaction. Those
// entries were deleted when superseded, so every one is live and needs no
// marker. It runs at open, before the updater starts.
func (sh *Shard) migrateSeqIndex() error {
	const perRun = 1000
	prefix := sh.keys.tagPrefix(tagLegacySeq)
	var next uint64 // seek past what is migrated: the deletes stay as tombstones a while
	for {
		var run seqRun
		var old [][]byte
		err := sh.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
			defer it.Close()
			for it.Seek(sh.keys.legacySeq(next)); it.Valid() && run.n < perRun; it.Next() {
				key := it.Item().KeyCopy(nil)
				id, err := it.Item().ValueCopy(nil)
				if err != nil {
					return err
				}
				run.add(binary.BigEndian.Uint64(key[len(prefix):]), string(id))
				old = append(old, key)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("migrate by-seq index of %s: %w", sh.name, err)
		}
		if run.n == 0 {
			return nil
		}
		next = run.last + 1
		err = sh.db.Update(func(txn *badger.Txn) error {
			for _, k := range old {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			// Older stores could commit a split batch's first part without
			// its stats: never let later seqs be given out again.
			if run.last > sh.stats.UpdateSeq {
				sh.stats.UpdateSeq = run.last
				if err := txn.Set(sh.keys.meta(metaStats), sh.stats.encode()); err != nil {
					return err
				}
			}
			return txn.Set(sh.keys.run(run.last), run.encode())
		})
		if err != nil {
			return fmt.Errorf("migrate by-seq index of %s: %w", sh.name, err)
		}
	}
}

// staleRuns returns the last seqs of up to limit runs, from the run holding
// seq from on, that hold stale pairs; next is where to look next time, or
// zero when there is nothing after.
func (sh *Shard) staleRuns(ctx context.Context, from uint64, limit int) (runs []uint64, next uint64, err error) {
	err = sh.db.View(func(txn *badger.Txn) error {
		stale := txn.NewIterator(badger.IteratorOptions{Prefix: sh.keys.tagPrefix(tagStale)})
		defer stale.Close()
		runIt := txn.NewIterator(badger.IteratorOptions{Prefix: sh.keys.tagPrefix(tagRun)})
		defer runIt.Close()
		stalePrefix := len(sh.keys.tagPrefix(tagStale))
		runPrefix := len(sh.keys.tagPrefix(tagRun))
		for stale.Seek(sh.keys.stale(from)); stale.Valid(); {
			if err := ctx.Err(); err != nil {
				return err
			}
			seq := binary.BigEndian.Uint64(stale.Item().Key()[stalePrefix:])
			runIt.Seek(sh.keys.run(seq))
			if !runIt.Valid() {
				return nil // a marker past every run: nothing to rewrite
			}
			last := binary.BigEndian.Uint64(runIt.Item().Key()[runPrefix:])
			if len(runs) == limit {
				next = seq
				return nil
			}
			runs = append(runs, last)
			stale.Seek(sh.keys.stale(last + 1))
		}
		return nil
	})
	return runs, next, err
}

// applyCompactRuns rewrites the runs ending at the given seqs without their
// stale pairs, dropping the markers, inside the batch.
func (sh *Shard) applyCompactRuns(bt *batchTxn, lasts []uint64, st *stats) error {
	for _, last := range lasts {
		if err := bt.docDone(*st); err != nil {
			return err
		}
		v, err := getValue(bt.txn, sh.keys.run(last))
		if errors.Is(err, badger.ErrKeyNotFound) {
			continue // already rewritten
		}
		if err != nil {
			return err
		}
		pairs, err := decodeRun(v)
		if err != nil {
			return fmt.Errorf("%s: %w", sh.name, err)
		}
		// A run's rewrite commits whole: a run holds at most a part's
		// pairs, so its marker deletes fit in a fresh part.
		if bt.count > 0 && bt.count+int64(len(pairs))+2*finalEntries > bt.maxCount/2 {
			if err := bt.commitPart(); err != nil {
				return err
			}
		}
		var kept seqRun
		for _, p := range pairs {
			_, err := bt.txn.Get(sh.keys.stale(p.seq))
			switch {
			case errors.Is(err, badger.ErrKeyNotFound):
				kept.add(p.seq, p.id)
			case err != nil:
				return err
			default:
				if err := bt.deleteFinal(sh.keys.stale(p.seq)); err != nil {
					return err
				}
			}
		}
		if kept.n == len(pairs) {
			continue
		}
		if err := bt.deleteFinal(sh.keys.run(last)); err != nil {
			return err
		}
		if kept.n > 0 {
			if err := bt.setFinal(sh.keys.run(kept.last), kept.encode()); err != nil {
				return err
			}
		}
	}
	return nil
}

// compactSeqIndex drops stale pairs from the by-seq index, a few runs at a
// time through the updater.
func (sh *Shard) compactSeqIndex(ctx context.Context) error {
	const runsPerStep = 64
	var from uint64
	for {
		runs, next, err := sh.staleRuns(ctx, from, runsPerStep)
		if err != nil {
			return err
		}
		if len(runs) > 0 {
			r := &updateReq{compactRuns: runs, done: make(chan struct{})}
			if err := sh.submit(ctx, r); err != nil {
				return fmt.Errorf("compact by-seq index of %s: %w", sh.name, err)
			}
		}
		if next == 0 {
			return nil
		}
		from = next
	}
}
