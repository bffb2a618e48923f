package shard

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/divandb/divan/internal/couch"
)

// checkIndex compares the shard's changes feed, both ways and from every
// since, and its counts with want: each live document's latest seq.
func checkIndex(t *testing.T, sh *Shard, want map[string]uint64) {
	t.Helper()
	ctx := context.Background()
	type change struct {
		seq uint64
		id  string
	}
	var all []change
	for id, seq := range want {
		all = append(all, change{seq, id})
	}
	slices.SortFunc(all, func(a, b change) int { return int(a.seq) - int(b.seq) })
	var maxSeq uint64
	if len(all) > 0 {
		maxSeq = all[len(all)-1].seq
	}
	info, err := sh.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Every since on small shards; on large ones a spread that still
	// lands inside, at the edges of and between runs.
	step := max(1, info.UpdateSeq/97)
	for since := uint64(0); since <= info.UpdateSeq+1; since = nextSince(since, step, info.UpdateSeq) {
		var expect []change
		for _, c := range all {
			if c.seq > since {
				expect = append(expect, c)
			}
		}
		var got []change
		err := sh.Changes(ctx, since, func(c Change) error {
			got = append(got, change{c.Seq, c.ID})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, expect) {
			t.Fatalf("Changes(%d) = %v, want %v", since, got, expect)
		}
		got = got[:0]
		err = sh.ChangesDescending(ctx, since, func(c Change) error {
			got = append(got, change{c.Seq, c.ID})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Reverse(got)
		if !slices.Equal(got, expect) {
			t.Fatalf("ChangesDescending(%d) reversed = %v, want %v", since, got, expect)
		}
		n, err := sh.CountChanges(ctx, since)
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(len(expect)) {
			t.Fatalf("CountChanges(%d) = %d, want %d", since, n, len(expect))
		}
		if since > maxSeq+1 {
			break
		}
	}
}

func nextSince(since, step, updateSeq uint64) uint64 {
	if since < 3 || since+3 > updateSeq {
		return since + 1
	}
	return min(since+step, updateSeq-2)
}

// countKeys counts a shard's keys with the given tag.
func countKeys(t *testing.T, sh *Shard, tag byte) int {
	t.Helper()
	n := 0
	err := sh.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: sh.keys.tagPrefix(tag)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSeqIndexRandomized drives writes, deletions, purges and compactions
// in random batches against a model of each document's latest seq.
func TestSeqIndexRandomized(t *testing.T) {
	ctx := context.Background()
	for seed := range 4 {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			sh := mustCreate(t, openTestStore(t), "s")
			rng := rand.New(rand.NewPCG(uint64(seed), 7))
			revs := map[string]couch.Rev{} // current winning rev, live or deleted
			seqs := map[string]uint64{}    // the model: latest seq per document
			var seq uint64
			ids := func() []string {
				var out []string
				for id := range revs {
					out = append(out, id)
				}
				slices.Sort(out)
				return out
			}
			for step := range 150 {
				switch op := rng.IntN(12); {
				case op == 0 && len(revs) > 0:
					known := ids()
					id := known[rng.IntN(len(known))]
					purged, err := sh.Purge(ctx, map[string][]couch.Rev{id: {revs[id]}})
					if err != nil || len(purged[id]) != 1 {
						t.Fatalf("purge %s: %v %v", id, purged, err)
					}
					delete(revs, id)
					delete(seqs, id)
				case op == 1:
					if err := sh.Compact(ctx); err != nil {
						t.Fatal(err)
					}
					if n := countKeys(t, sh, tagStale); n != 0 {
						t.Fatalf("%d stale markers after compaction", n)
					}
				default:
					// A batch of distinct documents, new or existing.
					var docs []*couch.Doc
					seen := map[string]bool{}
					for range 1 + rng.IntN(20) {
						id := fmt.Sprintf("d%02d", rng.IntN(40))
						if seen[id] {
							continue
						}
						seen[id] = true
						docs = append(docs, &couch.Doc{ID: id, Rev: revs[id], Deleted: rng.IntN(6) == 0,
							Body: fmt.Appendf(nil, `{"step":%d}`, step)})
					}
					res, err := sh.Update(ctx, docs, couch.UpdateOptions{NewEdits: true})
					if err != nil {
						t.Fatal(err)
					}
					for i, r := range res {
						if r.Err != nil {
							t.Fatalf("write %s: %v", docs[i].ID, r.Err)
						}
						seq++
						seqs[r.ID] = seq
						revs[r.ID] = r.Rev
					}
				}
				if step%25 == 0 {
					checkIndex(t, sh, seqs)
				}
			}
			checkIndex(t, sh, seqs)
			if err := sh.Compact(ctx); err != nil {
				t.Fatal(err)
			}
			checkIndex(t, sh, seqs)
			if n := countKeys(t, sh, tagStale); n != 0 {
				t.Fatalf("%d stale markers after compaction", n)
			}
		})
	}
}

// TestSeqIndexSameDocTwiceInABatch: a document written twice in one
// transaction appears once, at its second seq.
func TestSeqIndexSameDocTwiceInABatch(t *testing.T) {
	ctx := context.Background()
	sh := mustCreate(t, openTestStore(t), "s")
	docs := []*couch.Doc{
		{ID: "a", Rev: couch.Rev{Pos: 1, ID: "1a"}, Body: []byte(`{}`)},
		{ID: "b", Rev: couch.Rev{Pos: 1, ID: "1b"}, Body: []byte(`{}`)},
		{ID: "a", Rev: couch.Rev{Pos: 1, ID: "1c"}, Body: []byte(`{}`)}, // a conflict, replicated
	}
	if _, err := sh.Update(ctx, docs, couch.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, sh, map[string]uint64{"b": 2, "a": 3})
	if n := countKeys(t, sh, tagRun); n != 1 {
		t.Fatalf("%d runs for one batch, want 1", n)
	}
}

// TestLargeBatchCommitsInParts: a batch larger than one badger transaction
// commits in parts, each with its own run, and nothing is lost or counted
// twice.
func TestLargeBatchCommitsInParts(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	sh := mustCreate(t, s, "s")
	// Bodies under the value threshold count in full against badger's
	// transaction limit (1.2 MB with 8 MiB memtables).
	body := []byte(`{"pad":"` + strings.Repeat("x", 400) + `"}`)
	const n = 5000
	docs := make([]*couch.Doc, n)
	want := map[string]uint64{}
	for i := range docs {
		docs[i] = &couch.Doc{ID: fmt.Sprintf("doc%05d", i), Body: body}
		want[docs[i].ID] = uint64(i + 1)
	}
	res, err := sh.Update(ctx, docs, couch.UpdateOptions{NewEdits: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("write %s: %v", r.ID, r.Err)
		}
	}
	if runs := countKeys(t, sh, tagRun); runs < 3 {
		t.Fatalf("%d runs, want the batch split into at least 3 parts", runs)
	}
	checkIndex(t, sh, want)
	sh = reopen(t, s, "s")
	info, err := sh.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.UpdateSeq != n || info.DocCount != n {
		t.Fatalf("after reopen: update seq %d, doc count %d, want %d", info.UpdateSeq, info.DocCount, n)
	}
	checkIndex(t, sh, want)
}

// TestMigratesLegacySeqIndex: a store whose by-seq index has one entry per
// seq, as stores did before runs, serves the same feed once reopened.
func TestMigratesLegacySeqIndex(t *testing.T) {
	s := openTestStore(t)
	sh := mustCreate(t, s, "s")
	want := map[string]uint64{}
	revs := map[string]couch.Rev{}
	var seq uint64
	for i := range 2500 {
		id := fmt.Sprintf("d%04d", i%1800) // the last 700 writes update
		r := put(t, sh, &couch.Doc{ID: id, Rev: revs[id], Body: []byte(`{}`)}, true)
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		seq++
		want[id], revs[id] = seq, r.Rev
	}
	// Rewrite the index the old way: one live entry per seq, no runs or
	// markers.
	err := s.db.Update(func(txn *badger.Txn) error {
		for id, seq := range want {
			if err := txn.Set(sh.keys.legacySeq(seq), []byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Older stores could commit a part of a batch without its stats.
	behind := sh.stats
	behind.UpdateSeq -= 100
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(sh.keys.meta(metaStats), behind.encode())
	}); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []byte{tagRun, tagStale} {
		if err := s.db.DropPrefix(sh.keys.tagPrefix(tag)); err != nil {
			t.Fatal(err)
		}
	}
	sh = reopen(t, s, "s")
	if n := countKeys(t, sh, tagLegacySeq); n != 0 {
		t.Fatalf("%d legacy entries left after migration", n)
	}
	checkIndex(t, sh, want)
	// Updating a migrated document supersedes its migrated pair.
	r := put(t, sh, &couch.Doc{ID: "d0000", Rev: revs["d0000"], Body: []byte(`{}`)}, true)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	want["d0000"] = seq + 1
	checkIndex(t, sh, want)
}

func TestDecodeRunRejectsCorruption(t *testing.T) {
	var r seqRun
	r.add(5, "a")
	r.add(7, "bc")
	v := r.encode()
	pairs, err := decodeRun(v)
	if err != nil || !slices.Equal(pairs, []seqPair{{5, "a"}, {7, "bc"}}) {
		t.Fatalf("decodeRun = %v, %v", pairs, err)
	}
	for _, bad := range [][]byte{v[:len(v)-1], append(slices.Clone(v), 0), {}} {
		if _, err := decodeRun(bad); err == nil {
			t.Errorf("decodeRun(%x) succeeded", bad)
		}
	}
}

// TestSeqIndexCompactsItself: past the threshold of stale pairs the shard
// rewrites its by-seq index without a database compaction.
func TestSeqIndexCompactsItself(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: t.TempDir(), StaleSeqsBeforeCompact: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sh := mustCreate(t, s, "s")
	var rev couch.Rev
	for range 60 {
		r := put(t, sh, &couch.Doc{ID: "a", Rev: rev, Body: []byte(`{}`)}, true)
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		rev = r.Rev
	}
	deadline := time.Now().Add(10 * time.Second)
	for countKeys(t, sh, tagStale) > 10 {
		if time.Now().After(deadline) {
			t.Fatalf("%d stale markers 10 s after passing the threshold", countKeys(t, sh, tagStale))
		}
		time.Sleep(10 * time.Millisecond)
	}
	checkIndex(t, sh, map[string]uint64{"a": 60})
}

// reopen closes s, opens its directory again (closed at the end of the
// test) and returns the shard copy name from it.
func reopen(t *testing.T, s *Store, name string) *Shard {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), s.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	sh, err := s.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

// TestDocumentLargerThanATransaction: a replicated document whose stemming
// deletes more bodies than one badger transaction holds is written in
// parts, after the documents before it, and both are in the feed.
func TestDocumentLargerThanATransaction(t *testing.T) {
	ctx := context.Background()
	sh := mustCreate(t, openTestStore(t), "s")
	ids := make([]string, 20000)
	for i := range ids {
		ids[i] = fmt.Sprintf("%032x", i+1)
	}
	docs := []*couch.Doc{
		{ID: "small", Rev: couch.Rev{Pos: 1, ID: "1a"}, Body: []byte(`{}`)},
		{ID: "long", Revisions: &couch.RevPath{Start: len(ids), IDs: ids}, Body: []byte(`{}`)},
	}
	docs[1].Rev = docs[1].Revisions.Revs()[0]
	res, err := sh.Update(ctx, docs, couch.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("write %s: %v", r.ID, r.Err)
		}
	}
	checkIndex(t, sh, map[string]uint64{"small": 1, "long": 2})
	if n, err := sh.CountChanges(ctx, math.MaxUint64); err != nil || n != 0 {
		t.Fatalf("CountChanges(max) = %d, %v", n, err)
	}
}

// TestCloseWhileCompactingItself: closing a store while writes keep
// starting by-seq compactions neither panics nor hangs.
func TestCloseWhileCompactingItself(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: t.TempDir(), StaleSeqsBeforeCompact: 1})
	if err != nil {
		t.Fatal(err)
	}
	sh := mustCreate(t, s, "s")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("w", w)
			var rev couch.Rev
			for {
				res, err := sh.Update(ctx, []*couch.Doc{{ID: id, Rev: rev, Body: []byte(`{}`)}}, couch.UpdateOptions{NewEdits: true})
				if err != nil {
					return // closed
				}
				rev = res[0].Rev
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}
