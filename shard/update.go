package shard

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/divandb/divan/internal/couch"
)

// updateReq is one caller's write waiting for the updater.
type updateReq struct {
	docs    []*couch.Doc
	opts    couch.UpdateOptions
	purge   map[string][]couch.Rev // set for a purge instead of docs
	compact []string               // set for compaction of these doc ids
	// compactRuns, set for compaction of the by-seq index, are the last
	// seqs of runs to rewrite without their stale pairs.
	compactRuns []uint64
	results     []couch.UpdateResult
	purged      map[string][]couch.Rev
	err         error
	done        chan struct{}
}

// Update writes docs and returns one result per doc, in order. A document
// that cannot be written gets an *couch.Error in its result (conflict, bad
// revision); the returned error is for failures of the whole write. When
// Update returns without error, the written revisions are durable.
func (sh *Shard) Update(ctx context.Context, docs []*couch.Doc, opts couch.UpdateOptions) ([]couch.UpdateResult, error) {
	r := &updateReq{docs: docs, opts: opts, done: make(chan struct{})}
	if err := sh.submit(ctx, r); err != nil {
		return nil, err
	}
	return r.results, nil
}

// Purge removes the given leaf revisions and their ancestors not shared with
// other leaves, leaving no tombstone. It returns, per doc id, the revisions
// that were purged.
func (sh *Shard) Purge(ctx context.Context, revs map[string][]couch.Rev) (map[string][]couch.Rev, error) {
	r := &updateReq{purge: revs, done: make(chan struct{})}
	if err := sh.submit(ctx, r); err != nil {
		return nil, err
	}
	return r.purged, nil
}

func (sh *Shard) submit(ctx context.Context, r *updateReq) error {
	sh.submitMu.RLock()
	if sh.closed {
		sh.submitMu.RUnlock()
		return ErrClosed
	}
	select {
	case sh.reqs <- r:
		sh.submitMu.RUnlock()
	case <-ctx.Done():
		sh.submitMu.RUnlock()
		return ctx.Err()
	}
	// Once queued the write will be applied; waiting for it even when ctx
	// ends keeps "returned" and "durable" the same thing for the caller.
	<-r.done
	return r.err
}

// runUpdater is the shard's single writer: it takes every request queued at
// the moment, applies them in one transaction and commits with one fsync.
func (sh *Shard) runUpdater() {
	defer close(sh.done)
	sh.startPresence()
	batch := make([]*updateReq, 0, 64)
	for {
		// A finished presence scan is taken before the next batch.
		select {
		case p := <-sh.presence.ready:
			sh.installPresence(p)
		default:
		}
		var first *updateReq
		select {
		case p := <-sh.presence.ready:
			sh.installPresence(p)
			continue
		case first = <-sh.reqs:
		case <-sh.quit:
			// Apply whatever was queued before the close, then exit.
			for {
				select {
				case r := <-sh.reqs:
					sh.apply([]*updateReq{r})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
		n := len(first.docs)
	drain:
		for n < sh.store.opts.MaxBatchDocs {
			select {
			case r := <-sh.reqs:
				batch = append(batch, r)
				n += len(r.docs)
			default:
				break drain
			}
		}
		sh.apply(batch)
		clear(batch)
	}
}

// batchTxn is the updater's write transaction. Badger bounds how much one
// transaction may hold, so a large batch commits in parts: the updater
// calls docDone after each document, which commits the part once it is
// past half of badger's bounds, and every part carries its own by-seq run
// and stats, so each is complete on its own should the process stop
// between two of them.
//
// A single document may need more than a transaction holds (thousands of
// stemmed revisions or attachments). Its bodies, attachments and stemmed
// body deletes (set, setEntry, delete) may then be split from the rest:
// the part before commits with the stats and run as of the last complete
// document. Its index entries, which must commit together (stale marker,
// doc info, purge info), and the part's run and stats are written with
// the final variants, which never split and use the room the others leave
// them.
type batchTxn struct {
	db    *badger.DB
	keys  keys
	txn   *badger.Txn
	arena batchArena
	run   seqRun // by-seq pairs of this part (seqindex.go)
	// stats are the shard's stats as of the last complete document: what
	// a part commits.
	stats stats
	// superseded counts the stale markers written, all parts together.
	superseded int

	// size and count are badger's own estimate of the transaction
	// (Entry.estimateSizeAndSetThreshold plus its per-entry overhead),
	// against maxSize and maxCount.
	size, count       int64
	maxSize, maxCount int64
	valueThreshold    int64
}

// batchArena holds the badger entries a batch writes, and the bytes of its
// keys and doc infos, in chunks rather than in an allocation each (five per
// document otherwise). Badger needs them only until the part that holds
// them commits: it copies keys and values into its memtable and value log.
// A batch's arena is garbage with the batch; it is never reused, so a stale
// reference (badger's pooled write requests keep some) reads only what was
// written.
type batchArena struct {
	buf     []byte
	entries []badger.Entry
}

const (
	arenaChunk   = 64 << 10
	arenaMinTail = 1 << 10 // room a tail offers; longer appends leave the arena
	arenaEntries = 256
)

// tail returns an empty slice at the arena's free space, to append to and
// then pass to keep.
func (a *batchArena) tail() []byte {
	if cap(a.buf)-len(a.buf) < arenaMinTail {
		a.buf = make([]byte, 0, arenaChunk)
	}
	return a.buf[len(a.buf):len(a.buf)]
}

// keep marks b, appended to a slice from tail, as used and returns it
// capped at its length, so that appending to it cannot reach what the
// arena hands out next. A b that outgrew the tail was moved by append and
// is its own allocation: the arena does not advance.
func (a *batchArena) keep(b []byte) []byte {
	free := a.buf[len(a.buf):cap(a.buf)]
	if len(b) > 0 && len(b) <= len(free) && &b[0] == &free[0] {
		a.buf = a.buf[:len(a.buf)+len(b)]
	}
	return b[:len(b):len(b)]
}

// entry returns a new badger entry, as badger.NewEntry(key, val).WithMeta(meta).
func (a *batchArena) entry(key, val []byte, meta byte) *badger.Entry {
	if len(a.entries) == cap(a.entries) {
		a.entries = make([]badger.Entry, 0, arenaEntries)
	}
	a.entries = append(a.entries, badger.Entry{Key: key, Value: val, UserMeta: meta})
	return &a.entries[len(a.entries)-1]
}

// Room kept for a document's final entries and the part's run and stats:
// five entries at most (a purge's purge info, marker and doc info, then run
// and stats), each with a key of up to badger's 64 KB.
const (
	finalEntries = 8
	finalSize    = 256 << 10
)

func newBatchTxn(sh *Shard, st stats) *batchTxn {
	return &batchTxn{
		db: sh.db, keys: sh.keys, txn: sh.db.NewTransaction(true), stats: st,
		maxSize: sh.db.MaxBatchSize(), maxCount: sh.db.MaxBatchCount(),
		valueThreshold: sh.db.Opts().ValueThreshold,
	}
}

// badgerEntryOverhead is what badger's Txn.modify adds to each entry's
// estimated size.
const badgerEntryOverhead = 10

func (b *batchTxn) entrySize(key, val []byte) int64 {
	size := int64(len(key)) + 2 + badgerEntryOverhead
	if int64(len(val)) < b.valueThreshold {
		return size + int64(len(val))
	}
	return size + 12 // a value pointer
}

// room commits the part so far when an entry of size would eat into the
// room kept for final entries.
func (b *batchTxn) room(size int64) error {
	if b.count == 0 || (b.count+1+finalEntries <= b.maxCount && b.size+size+finalSize <= b.maxSize) {
		return nil
	}
	return b.commitPart()
}

func (b *batchTxn) set(key, val []byte) error {
	if err := b.room(b.entrySize(key, val)); err != nil {
		return err
	}
	return b.setFinal(key, val)
}

func (b *batchTxn) setEntry(e *badger.Entry) error {
	if err := b.room(b.entrySize(e.Key, e.Value)); err != nil {
		return err
	}
	return b.setEntryFinal(e)
}

func (b *batchTxn) delete(key []byte) error {
	if err := b.room(b.entrySize(key, nil)); err != nil {
		return err
	}
	return b.deleteFinal(key)
}

func (b *batchTxn) setFinal(key, val []byte) error {
	return b.setEntryFinal(b.arena.entry(key, val, 0))
}

func (b *batchTxn) setEntryFinal(e *badger.Entry) error {
	b.size += b.entrySize(e.Key, e.Value)
	b.count++
	return b.txn.SetEntry(e)
}

func (b *batchTxn) deleteFinal(key []byte) error {
	b.size += b.entrySize(key, nil)
	b.count++
	return b.txn.Delete(key)
}

// full reports whether the transaction is past half of what badger takes,
// leaving the other half for the next document's entries.
func (b *batchTxn) full() bool {
	return 2*b.size > b.maxSize || 2*b.count > b.maxCount
}

// docDone records the stats after a complete document (or other unit of
// work) and commits the part once the transaction is full.
func (b *batchTxn) docDone(st stats) error {
	b.stats = st
	if !b.full() {
		return nil
	}
	return b.commitPart()
}

// commitPart writes this part's by-seq run and stats and commits it; the
// transaction then starts the next part.
func (b *batchTxn) commitPart() error {
	if err := b.flushRun(); err != nil {
		return err
	}
	if err := b.setFinal(b.keys.meta(metaStats), b.stats.encode()); err != nil {
		return err
	}
	if err := b.txn.Commit(); err != nil {
		return err
	}
	b.txn = b.db.NewTransaction(true)
	b.size, b.count = 0, 0
	return nil
}

// metaDeleted is the badger user-meta bit on a doc info entry whose
// document is deleted, so counting live documents (the _all_docs offset)
// needs keys only, not values.
const metaDeleted = 1

// putDocInfo writes a doc info record, tagging deleted documents.
func (sh *Shard) putDocInfo(bt *batchTxn, id string, info []byte, deleted bool) error {
	var meta byte
	if deleted {
		meta = metaDeleted
	}
	key := bt.arena.keep(sh.keys.appendDoc(bt.arena.tail(), id))
	sh.notePresent(id)
	return bt.setEntryFinal(bt.arena.entry(key, info, meta))
}

func (sh *Shard) apply(batch []*updateReq) {
	sh.mu.Lock()
	st := sh.stats
	limit := sh.revsLimit
	sh.mu.Unlock()

	bt := newBatchTxn(sh, st)
	defer func() { bt.txn.Discard() }()
	var err error
	var receipts []Receipt
	purged := false
	for _, r := range batch {
		if r.purge != nil {
			r.purged, err = sh.applyPurge(bt, r.purge, &st)
			purged = true
		} else if r.compact != nil {
			err = sh.applyCompact(bt, r.compact, &st)
		} else if r.compactRuns != nil {
			err = sh.applyCompactRuns(bt, r.compactRuns, &st)
		} else {
			first := st.UpdateSeq + 1
			var prevMax uint64
			r.results = make([]couch.UpdateResult, len(r.docs))
			for i, d := range r.docs {
				var prev uint64
				r.results[i], prev, err = sh.applyDoc(bt, d, r.opts, limit, &st)
				if err == nil {
					err = bt.docDone(st)
				}
				if err != nil {
					break
				}
				prevMax = max(prevMax, prev)
			}
			if err == nil && !r.opts.WriteID.IsZero() {
				receipts = append(receipts, Receipt{WriteID: r.opts.WriteID, Digest: digestResults(r.results),
					First: first, Last: st.UpdateSeq, PrevMax: prevMax})
			}
		}
		if err != nil {
			break
		}
	}
	if err == nil {
		bt.stats = st
		err = bt.commitPart()
	}
	if err != nil {
		err = fmt.Errorf("commit to %s: %w", sh.name, err)
		sh.store.log.Error("shard write failed", "shard", sh.name, "err", err)
		// Reload the counters: part of the batch may have committed when
		// it was split, and the persisted stats are the truth.
		if reloaded, lerr := sh.loadStats(); lerr == nil {
			st = reloaded
		} else {
			st = sh.stats
		}
	}
	if purged {
		// Even after a failure: parts of the purge may have committed.
		sh.store.receipts.forget(sh.handle())
	}
	if err == nil {
		sh.noteStale(bt.superseded)
		sh.store.receipts.add(sh.handle(), receipts)
	}
	sh.mu.Lock()
	sh.stats = st
	sh.mu.Unlock()
	sh.broadcast()
	if err == nil && sh.store.opts.OnCommit != nil {
		sh.store.opts.OnCommit(sh.name)
	}
	for _, r := range batch {
		r.err = err
		close(r.done)
	}
}

func (sh *Shard) loadStats() (stats, error) {
	v, err := sh.getMeta(metaStats)
	if err != nil {
		return stats{}, err
	}
	return decodeStats(v)
}

// docInfo is the stored per-document record: the seq of its latest change,
// the byte size of the winning body and the rev tree.
type docInfo struct {
	seq        uint64
	winnerSize int64
	tree       *couch.RevTree
}

const docInfoVersion = 1

func (di *docInfo) encode() ([]byte, error) { return di.appendTo(make([]byte, 0, 64)), nil }

func (di *docInfo) appendTo(b []byte) []byte {
	b = append(b, docInfoVersion)
	b = binary.AppendUvarint(b, di.seq)
	b = binary.AppendVarint(b, di.winnerSize)
	return di.tree.AppendBinary(b)
}

func decodeDocInfo(v []byte) (*docInfo, error) {
	if len(v) < 1 || v[0] != docInfoVersion {
		return nil, errors.New("shard: corrupt doc info")
	}
	di := &docInfo{tree: couch.NewRevTree()}
	n := 1
	seq, k := binary.Uvarint(v[n:])
	if k <= 0 {
		return nil, errors.New("shard: corrupt doc info seq")
	}
	n += k
	size, k := binary.Varint(v[n:])
	if k <= 0 {
		return nil, errors.New("shard: corrupt doc info size")
	}
	n += k
	di.seq, di.winnerSize = seq, size
	if err := di.tree.UnmarshalBinary(v[n:]); err != nil {
		return nil, fmt.Errorf("shard: corrupt rev tree: %w", err)
	}
	return di, nil
}

// loadDocInfo reads a doc's record; nil, nil when absent.
func (sh *Shard) loadDocInfo(txn *badger.Txn, id string) (*docInfo, int, error) {
	item, err := txn.Get(sh.keys.doc(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var di *docInfo
	err = item.Value(func(v []byte) error {
		var derr error
		di, derr = decodeDocInfo(v)
		return derr
	})
	return di, int(item.ValueSize()), err
}

// Revision bodies are stored in one of two forms, told apart by the entry's
// badger user-meta byte:
//   - metaRawBody: the value is the compact JSON body itself. Live
//     revisions without attachments, nearly every write, take this form so
//     the body goes to badger without another copy.
//   - otherwise: a flags byte (bit 0: deleted), the uvarint length of the
//     raw _attachments object, the attachments, then the body.
const metaRawBody = 2

// bodyEntry returns the badger entry storing a revision body.
func (bt *batchTxn) bodyEntry(key []byte, deleted bool, atts, body []byte) *badger.Entry {
	if !deleted && len(atts) == 0 {
		return bt.arena.entry(key, body, metaRawBody)
	}
	b := make([]byte, 0, 1+binary.MaxVarintLen32+len(atts)+len(body))
	var flags byte
	if deleted {
		flags = 1
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(atts)))
	b = append(b, atts...)
	return bt.arena.entry(key, append(b, body...), 0)
}

// decodeBody splits a stored body value written with the given user meta;
// the slices alias v.
func decodeBody(meta byte, v []byte) (deleted bool, atts, body []byte, err error) {
	if meta&metaRawBody != 0 {
		return false, nil, v, nil
	}
	if len(v) < 2 {
		return false, nil, nil, errors.New("shard: corrupt body")
	}
	deleted = v[0]&1 != 0
	n, k := binary.Uvarint(v[1:])
	if k <= 0 || uint64(len(v)-1-k) < n {
		return false, nil, nil, errors.New("shard: corrupt body")
	}
	start := 1 + k
	if n > 0 {
		atts = v[start : start+int(n)]
	}
	return deleted, atts, v[start+int(n):], nil
}

// applyDoc applies one document write inside the batch transaction. A
// document-level failure is returned in the result; err is for storage
// failures that abort the batch. prevSeq is the seq the document had
// before, zero when it is new or was not changed.
func (sh *Shard) applyDoc(bt *batchTxn, d *couch.Doc, opts couch.UpdateOptions, limit int, st *stats) (res couch.UpdateResult, prevSeq uint64, err error) {
	res = couch.UpdateResult{ID: d.ID}
	if couch.IsLocalID(d.ID) {
		rev, changed, derr, err := sh.applyLocal(bt, d, opts)
		if changed && derr == nil && err == nil && !couch.IsInternalLocalID(d.ID) {
			st.LocalSeq++
		}
		res.Rev, res.Err = rev, derr
		return res, 0, err
	}
	var di *docInfo
	var oldInfoSize int
	if sh.mayHold(d.ID) {
		if di, oldInfoSize, err = sh.loadDocInfo(bt.txn, d.ID); err != nil {
			return res, 0, err
		}
	}
	existed := di != nil && di.tree.Len() > 0
	wasDeleted := existed && di.tree.Deleted()
	if di == nil {
		di = &docInfo{tree: couch.NewRevTree()}
	}
	oldWinner, _ := di.tree.Winner()

	var path []couch.Rev
	var resolved []couch.Attachment
	if opts.NewEdits {
		parent := d.Rev
		switch {
		case parent.IsZero() && existed && !wasDeleted:
			res.Err = couch.ErrConflict
			return res, 0, nil
		case parent.IsZero() && existed:
			// Recreating a deleted doc extends the winning deleted leaf.
			parent = oldWinner.Rev
		case !parent.IsZero() && !di.tree.IsLeaf(parent):
			res.Err = couch.ErrConflict
			return res, 0, nil
		}
		var ancestors []couch.Rev
		if !parent.IsZero() {
			ancestors = []couch.Rev{parent}
		}
		atts, aerr := sh.resolveAtts(bt, d, ancestors, parent.Pos+1, true)
		if aerr != nil {
			return res, 0, asDocError(&res, aerr)
		}
		resolved = atts
		id := d.NewRevID
		if id == "" || parent != d.Rev || len(atts) > 0 {
			id = couch.NewRevID(parent, d.Deleted, d.Body, attDigests(atts))
		}
		rev := couch.Rev{Pos: parent.Pos + 1, ID: id}
		path = []couch.Rev{rev}
		if !parent.IsZero() {
			path = append(path, parent)
		}
	} else {
		switch {
		case d.Revisions != nil && len(d.Revisions.IDs) > 0:
			path = d.Revisions.Revs()
		case !d.Rev.IsZero():
			path = []couch.Rev{d.Rev}
		default:
			res.Err = couch.Errorf(couch.CodeBadRequest, "When `new_edits: false`, the document needs `_rev` or `_revisions` specified")
			return res, 0, nil
		}
		if !di.tree.Has(path[0]) {
			// Stubs refer to attachments of a revision we hold: the
			// closest ancestor on the path with a stored body.
			var ancestors []couch.Rev
			for _, r := range path[1:] {
				if di.tree.IsLeaf(r) {
					ancestors = append(ancestors, r)
				}
			}
			atts, aerr := sh.resolveAtts(bt, d, ancestors, path[0].Pos, false)
			if aerr != nil {
				return res, 0, asDocError(&res, aerr)
			}
			resolved = atts
		}
	}
	res.Rev = path[0]
	if !di.tree.Merge(path, d.Deleted) {
		// A replicated revision we already have: nothing to write.
		return res, 0, nil
	}
	if di.tree.IsLeaf(path[0]) {
		key := bt.arena.keep(sh.keys.appendBody(bt.arena.tail(), d.ID, path[0]))
		e := bt.bodyEntry(key, d.Deleted, couch.MarshalAttachments(resolved), d.Body)
		if err := bt.setEntry(e); err != nil {
			return res, 0, err
		}
	}
	// Bodies of replaced revisions stay until compaction, as in CouchDB;
	// those of stemmed revisions go now.
	for _, r := range di.tree.Stem(limit) {
		if err := bt.delete(sh.keys.body(d.ID, r)); err != nil {
			return res, 0, err
		}
	}

	newWinner, _ := di.tree.Winner()
	if newWinner.Rev == path[0] {
		st.External += int64(len(d.Body)) - di.winnerSize
		di.winnerSize = int64(len(d.Body))
	} else if newWinner.Rev != oldWinner.Rev {
		size, err := sh.bodySize(bt.txn, d.ID, newWinner.Rev)
		if err != nil {
			return res, 0, err
		}
		st.External += size - di.winnerSize
		di.winnerSize = size
	}

	if existed {
		if err := bt.supersede(di.seq); err != nil {
			return res, 0, err
		}
		prevSeq = di.seq
	}
	st.UpdateSeq++
	di.seq = st.UpdateSeq
	bt.indexChange(di.seq, d.ID)
	info := bt.arena.keep(di.appendTo(bt.arena.tail()))
	if err := sh.putDocInfo(bt, d.ID, info, di.tree.Deleted()); err != nil {
		return res, 0, err
	}
	st.Active += int64(len(info) - oldInfoSize)
	adjustCounts(st, existed, wasDeleted, true, di.tree.Deleted())
	return res, prevSeq, nil
}

func adjustCounts(st *stats, existedBefore, deletedBefore, existsAfter, deletedAfter bool) {
	if existedBefore {
		if deletedBefore {
			st.DocDelCount--
		} else {
			st.DocCount--
		}
	}
	if existsAfter {
		if deletedAfter {
			st.DocDelCount++
		} else {
			st.DocCount++
		}
	}
}

func (sh *Shard) bodySize(txn *badger.Txn, id string, rev couch.Rev) (int64, error) {
	item, err := txn.Get(sh.keys.body(id, rev))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var size int64
	err = item.Value(func(v []byte) error {
		_, _, body, derr := decodeBody(item.UserMeta(), v)
		size = int64(len(body))
		return derr
	})
	return size, err
}

// applyLocal writes a _local document: revisions are "0-N" with no conflict
// check, as in CouchDB (couch_db_updater:update_local_doc_revs).
//
// Internal replication copies _local documents between a range's copies
// (cluster/sync.go), so a copy that missed a write or a deletion must not
// undo it when it pushes what it holds. Hence:
//   - Every version carries a hidden stamp, d.LocalVersion: fabric stamps
//     each client write once with its clock, for all copies. The later
//     stamp wins (LocalOutranks), whatever the N of "0-N", which clients
//     set freely; a write older than the version a copy holds (it reached
//     this copy late) is answered as usual but leaves that version alone.
//     A write that names the version held (its _rev) was made after it and
//     is stamped past it, so a lagging coordinator clock cannot lose it. A
//     write that did not come through fabric is stamped past the version
//     held.
//   - A deletion leaves a tombstone (metaDeleted, a stamp, no body)
//     instead of removing the key; reads treat it as missing.
//
// With opts.ReplicateLocal (internal replication only) the document is
// stored as given, at its N, when it outranks what the copy holds.
// changed reports whether anything was stored.
func (sh *Shard) applyLocal(bt *batchTxn, d *couch.Doc, opts couch.UpdateOptions) (rev couch.Rev, changed bool, derr, err error) {
	key := sh.keys.local(d.ID)
	var given uint64
	if !d.Rev.IsZero() {
		n, perr := strconv.ParseUint(d.Rev.ID, 10, 64)
		if perr != nil || d.Rev.Pos != 0 {
			return couch.Rev{}, false, couch.ErrBadRev, nil
		}
		given = n
	}
	held, found, err := sh.loadLocal(bt.txn, d.ID)
	if err != nil {
		return couch.Rev{}, false, nil, err
	}
	next := LocalDoc{Version: d.LocalVersion, Rev: given + 1, Deleted: d.Deleted, Body: d.Body}
	switch {
	case opts.ReplicateLocal:
		next.Rev = given // and the stamp as given, 0 for a version stored before stamps
	case d.Deleted && (!found || held.Deleted):
		return couch.Rev{}, false, couch.ErrNotFound, nil
	case next.Version == 0:
		next.Version = max(uint64(time.Now().UnixNano()), held.Version+1)
	case found && !held.Deleted && given == held.Rev:
		// The write names the version held, so it was made after it
		// whatever the clocks say (a coordinator's clock may lag the one
		// that stamped it): it must win.
		next.Version = max(next.Version, held.Version+1)
	}
	if d.Deleted && !opts.ReplicateLocal {
		next.Rev = held.Rev + 1
	}
	rev = couch.Rev{Pos: 0, ID: strconv.FormatUint(next.Rev, 10)}
	if d.Deleted {
		rev.ID = "0" // CouchDB answers a deletion with 0-0
	}
	if found && !LocalOutranks(next, held) {
		return rev, false, nil, nil
	}
	meta, v := encodeLocal(next)
	return rev, true, nil, bt.setEntry(bt.arena.entry(key, v, meta))
}

// asDocError puts a document-level *couch.Error into res and reports nil, or
// passes a storage error through to abort the batch.
func asDocError(res *couch.UpdateResult, err error) error {
	var ce *couch.Error
	if errors.As(err, &ce) {
		res.Err = ce
		return nil
	}
	return err
}
