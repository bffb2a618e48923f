package shard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/divandb/divan/internal/couch"
)

func openTestStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustCreate(t testing.TB, s *Store, name string) *Shard {
	t.Helper()
	sh, err := s.Create(context.Background(), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

func put(t testing.TB, sh *Shard, d *couch.Doc, newEdits bool) couch.UpdateResult {
	t.Helper()
	res, err := sh.Update(context.Background(), []*couch.Doc{d}, couch.UpdateOptions{NewEdits: newEdits})
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

func TestUpdateAndOpen(t *testing.T) {
	ctx := context.Background()
	sh := mustCreate(t, openTestStore(t), "shards/00000000-ffffffff/db.1")

	r1 := put(t, sh, &couch.Doc{ID: "a", Body: []byte(`{"v":1}`)}, true)
	if r1.Err != nil || r1.Rev.Pos != 1 || len(r1.Rev.ID) != 32 {
		t.Fatalf("first write = %+v", r1)
	}
	// No rev on an existing live doc: conflict.
	if r := put(t, sh, &couch.Doc{ID: "a", Body: []byte(`{"v":2}`)}, true); !errors.Is(r.Err, couch.ErrConflict) {
		t.Fatalf("write without rev = %+v, want conflict", r)
	}
	r2 := put(t, sh, &couch.Doc{ID: "a", Rev: r1.Rev, Body: []byte(`{"v":2}`)}, true)
	if r2.Err != nil || r2.Rev.Pos != 2 {
		t.Fatalf("update = %+v", r2)
	}
	// Stale rev: conflict.
	if r := put(t, sh, &couch.Doc{ID: "a", Rev: r1.Rev, Body: []byte(`{"v":3}`)}, true); !errors.Is(r.Err, couch.ErrConflict) {
		t.Fatalf("stale write = %+v, want conflict", r)
	}
	doc, err := sh.Open(ctx, "a", couch.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(doc.Revisions[0].Body); got != `{"v":2}` || doc.Revisions[0].Rev != r2.Rev {
		t.Fatalf("open = %s %v", got, doc.Revisions[0].Rev)
	}
	if path := doc.Tree.Path(r2.Rev); len(path) != 2 || path[1] != r1.Rev {
		t.Fatalf("path = %v", path)
	}
	// The replaced revision stays readable until compaction drops it.
	if old, err := sh.Open(ctx, "a", couch.OpenOptions{Rev: r1.Rev}); err != nil || string(old.Revisions[0].Body) != `{"v":1}` {
		t.Fatalf("open old rev before compaction: %v %v", old, err)
	}
	if err := sh.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sh.Open(ctx, "a", couch.OpenOptions{Rev: r1.Rev}); !errors.Is(err, couch.ErrNotFound) {
		t.Fatalf("open old rev after compaction: err = %v, want not found", err)
	}
	if cur, err := sh.Open(ctx, "a", couch.OpenOptions{}); err != nil || cur.Revisions[0].Rev != r2.Rev {
		t.Fatalf("winner after compaction: %v %v", cur, err)
	}
	if info := doc.Tree.RevsInfo(r2.Rev); info[1].Status != "available" {
		t.Fatalf("revs_info before compaction = %+v", info)
	}
	// Same edit on two copies gives the same rev.
	other := mustCreate(t, sh.store, "shards/00000000-ffffffff/db.2")
	o1 := put(t, other, &couch.Doc{ID: "a", Body: []byte(`{"v":1}`)}, true)
	if o1.Rev != r1.Rev {
		t.Fatalf("rev ids differ across copies: %v vs %v", o1.Rev, r1.Rev)
	}
}

func TestDeleteAndRecreate(t *testing.T) {
	ctx := context.Background()
	sh := mustCreate(t, openTestStore(t), "s")
	r1 := put(t, sh, &couch.Doc{ID: "d", Body: []byte(`{}`)}, true)
	r2 := put(t, sh, &couch.Doc{ID: "d", Rev: r1.Rev, Deleted: true, Body: []byte(`{}`)}, true)
	if r2.Err != nil {
		t.Fatal(r2.Err)
	}
	if _, err := sh.Open(ctx, "d", couch.OpenOptions{}); !errors.Is(err, couch.ErrDeleted) {
		t.Fatalf("open deleted: %v", err)
	}
	info, _ := sh.Info(ctx)
	if info.DocCount != 0 || info.DocDelCount != 1 {
		t.Fatalf("counts = %d/%d", info.DocCount, info.DocDelCount)
	}
	r3 := put(t, sh, &couch.Doc{ID: "d", Body: []byte(`{"back":true}`)}, true)
	if r3.Err != nil || r3.Rev.Pos != 3 {
		t.Fatalf("recreate = %+v, want pos 3 extending the deleted leaf", r3)
	}
	info, _ = sh.Info(ctx)
	if info.DocCount != 1 || info.DocDelCount != 0 || info.UpdateSeq != 3 {
		t.Fatalf("info = %+v", info)
	}
}

func TestReplicatedWritesMakeConflicts(t *testing.T) {
	ctx := context.Background()
	sh := mustCreate(t, openTestStore(t), "s")
	base := &couch.Doc{ID: "c", Revisions: &couch.RevPath{Start: 2, IDs: []string{"b", "a"}}, Body: []byte(`{"side":"b"}`)}
	if r := put(t, sh, base, false); r.Err != nil {
		t.Fatal(r.Err)
	}
	branch := &couch.Doc{ID: "c", Revisions: &couch.RevPath{Start: 3, IDs: []string{"z", "y", "a"}}, Body: []byte(`{"side":"z"}`)}
	if r := put(t, sh, branch, false); r.Err != nil {
		t.Fatal(r.Err)
	}
	// Re-sending a known revision is a no-op.
	before, _ := sh.Info(ctx)
	put(t, sh, branch, false)
	after, _ := sh.Info(ctx)
	if before.UpdateSeq != after.UpdateSeq {
		t.Fatalf("no-op replicated write bumped seq %d -> %d", before.UpdateSeq, after.UpdateSeq)
	}
	doc, err := sh.Open(ctx, "c", couch.OpenOptions{AllLeaves: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Revisions) != 2 || doc.Revisions[0].Rev.String() != "3-z" {
		t.Fatalf("leaves = %+v", doc.Revisions)
	}
	if c := doc.Tree.Conflicts(); len(c) != 1 || c[0].String() != "2-b" {
		t.Fatalf("conflicts = %v", c)
	}
	if r := put(t, sh, &couch.Doc{ID: "c", Body: []byte(`{}`)}, false); r.Err == nil {
		t.Fatal("new_edits=false without a rev was accepted")
	}
}

func TestLocalDocs(t *testing.T) {
	ctx := context.Background()
	sh := mustCreate(t, openTestStore(t), "s")
	r := put(t, sh, &couch.Doc{ID: "_local/x", Body: []byte(`{"a":1}`)}, true)
	if r.Rev.String() != "0-1" {
		t.Fatalf("rev = %v", r.Rev)
	}
	r = put(t, sh, &couch.Doc{ID: "_local/x", Rev: r.Rev, Body: []byte(`{"a":2}`)}, true)
	if r.Rev.String() != "0-2" {
		t.Fatalf("rev = %v", r.Rev)
	}
	doc, err := sh.Open(ctx, "_local/x", couch.OpenOptions{})
	if err != nil || string(doc.Revisions[0].Body) != `{"a":2}` {
		t.Fatalf("open local = %v %v", doc, err)
	}
	info, _ := sh.Info(ctx)
	if info.UpdateSeq != 0 || info.DocCount != 0 {
		t.Fatalf("local docs touched counters: %+v", info)
	}
	if r := put(t, sh, &couch.Doc{ID: "_local/x", Deleted: true}, true); r.Err != nil {
		t.Fatal(r.Err)
	}
	if _, err := sh.Open(ctx, "_local/x", couch.OpenOptions{}); !errors.Is(err, couch.ErrNotFound) {
		t.Fatalf("deleted local doc: %v", err)
	}
}

// TestLocalDocTombstones: deleting a _local document leaves a tombstone
// that reads treat as missing and internal replication lists; writing it
// again starts at 0-1 as in CouchDB; every write stamps a later version;
// replicated writes are stored as given only when they outrank what is
// held, and a client's new_edits=false write is an ordinary write.
func TestLocalDocTombstones(t *testing.T) {
	ctx := context.Background()
	sh := mustCreate(t, openTestStore(t), "s")
	held := func() LocalDoc {
		t.Helper()
		docs, err := sh.LocalDocs(ctx)
		if err != nil || len(docs) != 1 {
			t.Fatalf("LocalDocs: %v %v, want one", docs, err)
		}
		return docs[0]
	}
	state := func(d LocalDoc) string { return fmt.Sprintf("0-%d %v %s", d.Rev, d.Deleted, d.Body) }
	localSeq := func() uint64 {
		info, err := sh.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.LocalSeq
	}
	r := put(t, sh, &couch.Doc{ID: "_local/x", Body: []byte(`{"a":1}`)}, true)
	v1 := held().Version
	r = put(t, sh, &couch.Doc{ID: "_local/x", Rev: r.Rev, Body: []byte(`{"a":2}`)}, true)
	if v2 := held().Version; v2 <= v1 {
		t.Fatalf("second write stamped %d after %d", v2, v1)
	}
	if r = put(t, sh, &couch.Doc{ID: "_local/x", Rev: r.Rev, Deleted: true}, true); r.Err != nil || r.Rev.String() != "0-0" {
		t.Fatalf("delete: %v %v, want 0-0", r.Rev, r.Err)
	}
	if _, err := sh.Open(ctx, "_local/x", couch.OpenOptions{}); !errors.Is(err, couch.ErrNotFound) {
		t.Fatalf("open deleted: %v", err)
	}
	if got := state(held()); got != "0-3 true " {
		t.Fatalf("tombstone: %s", got)
	}
	if r = put(t, sh, &couch.Doc{ID: "_local/x", Deleted: true}, true); !errors.Is(r.Err, couch.ErrNotFound) {
		t.Fatalf("delete again: %v, want not_found", r.Err)
	}
	if r = put(t, sh, &couch.Doc{ID: "_local/x", Body: []byte(`{"a":3}`)}, true); r.Rev.String() != "0-1" {
		t.Fatalf("recreate: %v, want 0-1 as in CouchDB", r.Rev)
	}
	// A client's new_edits=false write is an ordinary one: N+1.
	if r = put(t, sh, &couch.Doc{ID: "_local/x", Rev: r.Rev, Body: []byte(`{"a":4}`)}, false); r.Rev.String() != "0-2" {
		t.Fatalf("new_edits=false write: %v, want 0-2", r.Rev)
	}
	cur := held()

	before := localSeq()
	replicate := func(version uint64, n int, deleted bool, body string) {
		t.Helper()
		d := &couch.Doc{ID: "_local/x", Rev: couch.Rev{ID: fmt.Sprint(n)}, Deleted: deleted, Body: []byte(body), LocalVersion: version}
		res, err := sh.Update(ctx, []*couch.Doc{d}, couch.UpdateOptions{NewEdits: true, ReplicateLocal: true})
		if err != nil || res[0].Err != nil {
			t.Fatalf("replicate: %v %v", err, res[0].Err)
		}
	}
	expect := func(want string) {
		t.Helper()
		if got := state(held()); got != want {
			t.Fatalf("after a replicated write: %s, want %s", got, want)
		}
	}
	replicate(cur.Version-1, 9, false, `{"old":1}`) // older stamp, higher N: ignored
	expect(`0-2 false {"a":4}`)
	replicate(cur.Version, 2, true, ``) // same stamp and N: live beats tombstone
	expect(`0-2 false {"a":4}`)
	if got := localSeq(); got != before {
		t.Errorf("ignored replicated writes moved LocalSeq %d -> %d", before, got)
	}
	replicate(cur.Version+1, 1, true, ``) // later stamp, lower N: wins
	expect(`0-1 true `)
	replicate(cur.Version+2, 7, false, `{"b":1}`)
	expect(`0-7 false {"b":1}`)
	if got := held().Version; got != cur.Version+2 {
		t.Errorf("replicated stamp %d, want %d as given", got, cur.Version+2)
	}
	if got := localSeq(); got != before+2 {
		t.Errorf("LocalSeq %d after two replicated changes from %d", got, before)
	}
	// The next local write stamps past the replicated one even if the clock
	// is behind it.
	replicate(1<<62, 8, false, `{"c":1}`)
	put(t, sh, &couch.Doc{ID: "_local/x", Rev: couch.Rev{ID: "8"}, Body: []byte(`{"d":1}`)}, true)
	if got := held().Version; got != 1<<62+1 {
		t.Errorf("stamp after a future one: %d, want %d", got, uint64(1<<62+1))
	}
	// A stamped client write older than the version held (it reached this
	// copy after a later one) is answered but leaves the later one alone.
	seq := localSeq()
	late := &couch.Doc{ID: "_local/x", Rev: couch.Rev{ID: "8"}, Body: []byte(`{"late":1}`), LocalVersion: 1 << 61}
	if r := put(t, sh, late, true); r.Err != nil || r.Rev.String() != "0-9" {
		t.Fatalf("late write: %v %v, want 0-9", r.Rev, r.Err)
	}
	if got := state(held()); got != `0-9 false {"d":1}` {
		t.Errorf("after a late write: %s, want the later version kept", got)
	}
	if got := localSeq(); got != seq {
		t.Errorf("a late write moved LocalSeq %d -> %d", seq, got)
	}
	// A write naming the version held was made after it, whatever its
	// coordinator's clock says: it wins, stamped past the held one.
	named := &couch.Doc{ID: "_local/x", Rev: couch.Rev{ID: "9"}, Body: []byte(`{"e":1}`), LocalVersion: 1 << 61}
	if r := put(t, sh, named, true); r.Err != nil || r.Rev.String() != "0-10" {
		t.Fatalf("write naming the held rev: %v %v, want 0-10", r.Rev, r.Err)
	}
	if d := held(); state(d) != `0-10 false {"e":1}` || d.Version != 1<<62+2 {
		t.Errorf("after a write naming the held rev: %s stamp %d, want it kept at %d", state(d), d.Version, uint64(1<<62+2))
	}
	// A version stored before stamps (stamp 0) replicates as such and
	// does not outrank a stamped one.
	replicate(0, 99, false, `{"legacy":1}`)
	expect(`0-10 false {"e":1}`)
	put(t, sh, &couch.Doc{ID: "_local/y", Body: []byte(`{"now":1}`)}, true)
	legacy := &couch.Doc{ID: "_local/y", Rev: couch.Rev{ID: "5"}, Body: []byte(`{"legacy":1}`)}
	if _, err := sh.Update(ctx, []*couch.Doc{legacy}, couch.UpdateOptions{NewEdits: true, ReplicateLocal: true}); err != nil {
		t.Fatal(err)
	}
	if doc, err := sh.Open(ctx, "_local/y", couch.OpenOptions{}); err != nil || string(doc.Revisions[0].Body) != `{"now":1}` {
		t.Errorf("an unstamped replicated version replaced a stamped one: %v %v", doc, err)
	}
	if r := put(t, sh, &couch.Doc{ID: "_local/x", Rev: couch.Rev{Pos: 1, ID: "1"}, Body: []byte(`{}`)}, true); !errors.Is(r.Err, couch.ErrBadRev) {
		t.Errorf("client write with rev 1-1: %v, want bad rev", r.Err)
	}
}

func TestDocsRangeAndLookup(t *testing.T) {
	ctx := context.Background()
	sh := mustCreate(t, openTestStore(t), "s")
	var docs []*couch.Doc
	for _, id := range []string{"b", "a", "d", "c", "e"} {
		docs = append(docs, &couch.Doc{ID: id, Body: []byte(`{"id":"` + id + `"}`)})
	}
	if _, err := sh.Update(ctx, docs, couch.UpdateOptions{NewEdits: true}); err != nil {
		t.Fatal(err)
	}
	d, _ := sh.Open(ctx, "c", couch.OpenOptions{})
	put(t, sh, &couch.Doc{ID: "c", Rev: d.Revisions[0].Rev, Deleted: true}, true)

	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		name string
		q    DocsQuery
		want string
	}{
		{"all", DocsQuery{Limit: -1, InclusiveEnd: true}, "abde"},
		{"range inclusive", DocsQuery{StartKey: str("b"), EndKey: str("d"), InclusiveEnd: true, Limit: -1}, "bd"},
		{"range exclusive", DocsQuery{StartKey: str("b"), EndKey: str("d"), Limit: -1}, "b"},
		{"descending", DocsQuery{Descending: true, Limit: -1, InclusiveEnd: true}, "edba"},
		{"descending range", DocsQuery{StartKey: str("d"), EndKey: str("b"), Descending: true, InclusiveEnd: true, Limit: -1}, "db"},
		{"limit", DocsQuery{Limit: 2, InclusiveEnd: true}, "ab"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if err := sh.Docs(ctx, tc.q, func(r DocRow) error { got += r.ID; return nil }); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	rows, ok, err := sh.Lookup(ctx, []string{"a", "zz", "c"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if !ok[0] || ok[1] || !ok[2] || !rows[2].Deleted || string(rows[0].Doc.Body) != `{"id":"a"}` {
		t.Fatalf("lookup = %+v %v", rows, ok)
	}
	n, err := sh.CountBefore(ctx, "d", false)
	if err != nil || n != 2 {
		t.Fatalf("CountBefore(d) = %d, %v; want 2 (a, b; c is deleted)", n, err)
	}
}

func TestPurge(t *testing.T) {
	ctx := context.Background()
	sh := mustCreate(t, openTestStore(t), "s")
	r := put(t, sh, &couch.Doc{ID: "p", Body: []byte(`{}`)}, true)
	purged, err := sh.Purge(ctx, map[string][]couch.Rev{"p": {r.Rev}, "missing": {r.Rev}})
	if err != nil {
		t.Fatal(err)
	}
	if len(purged["p"]) != 1 || len(purged["missing"]) != 0 {
		t.Fatalf("purged = %v", purged)
	}
	if _, err := sh.Open(ctx, "p", couch.OpenOptions{}); !errors.Is(err, couch.ErrNotFound) {
		t.Fatalf("purged doc still readable: %v", err)
	}
	info, _ := sh.Info(ctx)
	if info.PurgeSeq != 1 || info.DocCount != 0 {
		t.Fatalf("info after purge = %+v", info)
	}
	// A purged id can be created afresh.
	if r := put(t, sh, &couch.Doc{ID: "p", Body: []byte(`{}`)}, true); r.Err != nil || r.Rev.Pos != 1 {
		t.Fatalf("recreate after purge = %+v", r)
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	sh := mustCreate(t, s, "shards/x/db.1")
	r := put(t, sh, &couch.Doc{ID: "k", Body: []byte(`{"x":"y"}`)}, true)
	if _, err := sh.SetSecurity(ctx, []byte(`{"admins":{}}`), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sh, err = s.Get("shards/x/db.1")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := sh.Open(ctx, "k", couch.OpenOptions{})
	if err != nil || doc.Revisions[0].Rev != r.Rev {
		t.Fatalf("after reopen: %v %v", doc, err)
	}
	if sec, version, _ := sh.Security(ctx); string(sec) != `{"admins":{}}` || version != 1 {
		t.Fatalf("security = %s version %d, want version 1", sec, version)
	}
	info, _ := sh.Info(ctx)
	if info.UpdateSeq != 1 || info.DocCount != 1 {
		t.Fatalf("info after reopen = %+v", info)
	}
	if names, _ := s.List("shards/"); len(names) != 1 {
		t.Fatalf("List = %v", names)
	}
	if err := s.Delete(ctx, "shards/x/db.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("shards/x/db.1"); !errors.Is(err, ErrNoShard) {
		t.Fatalf("deleted shard: %v", err)
	}
}

func TestConcurrentWritersShareBatches(t *testing.T) {
	ctx := context.Background()
	sh := mustCreate(t, openTestStore(t), "s")
	const writers, each = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				res, err := sh.Update(ctx, []*couch.Doc{{ID: fmt.Sprintf("w%d-%d", w, i), Body: []byte(`{}`)}}, couch.UpdateOptions{NewEdits: true})
				if err != nil || res[0].Err != nil {
					errs <- fmt.Errorf("%v %v", err, res)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	info, _ := sh.Info(ctx)
	if info.DocCount != writers*each || info.UpdateSeq != writers*each {
		t.Fatalf("info = %+v", info)
	}
	seen := map[uint64]bool{}
	if err := sh.Changes(ctx, 0, func(c Change) error {
		if seen[c.Seq] {
			return fmt.Errorf("seq %d twice", c.Seq)
		}
		seen[c.Seq] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != writers*each {
		t.Fatalf("by-seq index has %d entries", len(seen))
	}
}

func BenchmarkUpdateBatch1000(b *testing.B) {
	ctx := context.Background()
	sh := mustCreate(b, openTestStore(b), "s")
	body := []byte(`{"payload":"` + string(make([]byte, 0)) + `xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		docs := make([]*couch.Doc, 1000)
		for i := range docs {
			docs[i] = &couch.Doc{ID: fmt.Sprintf("doc-%09d", n), Body: body}
			n++
		}
		if _, err := sh.Update(ctx, docs, couch.UpdateOptions{NewEdits: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "docs/s")
}

func TestRevsDiff(t *testing.T) {
	ctx := context.Background()
	sh := mustCreate(t, openTestStore(t), "s")
	r1 := put(t, sh, &couch.Doc{ID: "a", Body: []byte(`{}`)}, true)
	diff, err := sh.RevsDiff(ctx, map[string][]couch.Rev{
		"a":     {r1.Rev, {Pos: 2, ID: "x"}, {Pos: 1, ID: "y"}},
		"fresh": {{Pos: 1, ID: "z"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	a := diff["a"]
	if len(a.Missing) != 2 || a.Missing[0].String() != "2-x" || len(a.PossibleAncestors) != 1 || a.PossibleAncestors[0] != r1.Rev {
		t.Fatalf("a: %+v", a)
	}
	if f := diff["fresh"]; len(f.Missing) != 1 || f.PossibleAncestors != nil {
		t.Fatalf("fresh: %+v", f)
	}
	full, _ := sh.RevsDiff(ctx, map[string][]couch.Rev{"a": {r1.Rev}})
	if _, ok := full["a"]; ok {
		t.Fatalf("nothing missing but got %+v", full)
	}
}

func TestCountBeforeWithCache(t *testing.T) {
	ctx := context.Background()
	sh := mustCreate(t, openTestStore(t), "s")
	var docs []*couch.Doc
	for i := range 300 {
		docs = append(docs, &couch.Doc{ID: fmt.Sprintf("k%03d", i), Body: []byte(`{}`)})
	}
	res, err := sh.Update(ctx, docs, couch.UpdateOptions{NewEdits: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i += 7 { // delete every 7th
		put(t, sh, &couch.Doc{ID: docs[i].ID, Rev: res[i].Rev, Deleted: true, Body: []byte(`{}`)}, true)
	}
	naive := func(key string, desc bool) int64 {
		var n int64
		sh.Docs(ctx, DocsQuery{Limit: -1, InclusiveEnd: true}, func(r DocRow) error {
			if (!desc && r.ID < key) || (desc && r.ID > key) {
				n++
			}
			return nil
		})
		return n
	}
	// Paging forwards and backwards, then random keys: every answer, cached
	// or not, equals a full count.
	keys := []string{"k010", "k050", "k051", "k120", "k299", "k3", "a", "k000", "k150", "k149x"}
	for _, desc := range []bool{false, true} {
		for _, k := range keys {
			got, err := sh.CountBefore(ctx, k, desc)
			if err != nil {
				t.Fatal(err)
			}
			if want := naive(k, desc); got != want {
				t.Fatalf("CountBefore(%q, desc=%v) = %d, want %d", k, desc, got, want)
			}
		}
	}
	// A write invalidates what was cached.
	put(t, sh, &couch.Doc{ID: "k0005", Body: []byte(`{}`)}, true)
	got, err := sh.CountBefore(ctx, "k120", false)
	if want := naive("k120", false); err != nil || got != want {
		t.Fatalf("after a write: %d (%v), want %d", got, err, want)
	}
}

// TestSecurityVersions: a copy keeps the greatest (version, object) pair,
// so copies given the same settings in any order agree.
func TestSecurityVersions(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	a, b := mustCreate(t, s, "shards/a/db.1"), mustCreate(t, s, "shards/b/db.1")
	if sec, version, err := a.Security(ctx); err != nil || version != 0 || string(sec) != "{}" {
		t.Fatalf("new copy: %s %d %v", sec, version, err)
	}
	sets := []struct {
		sec     string
		version uint64
	}{{`{"v":1}`, 10}, {`{"v":3}`, 30}, {`{"v":2}`, 20}, {`{"v":0}`, 30}, {`{"v":4}`, 30}}
	apply := func(sh *Shard, order []int) {
		for _, i := range order {
			if _, err := sh.SetSecurity(ctx, []byte(sets[i].sec), sets[i].version); err != nil {
				t.Fatal(err)
			}
		}
	}
	apply(a, []int{0, 1, 2, 3, 4})
	apply(b, []int{4, 3, 2, 1, 0})
	for _, sh := range []*Shard{a, b} {
		sec, version, err := sh.Security(ctx)
		if err != nil || version != 30 || string(sec) != `{"v":4}` {
			t.Errorf("%s: %s version %d %v; want {\"v\":4} at 30", sh.Name(), sec, version, err)
		}
	}
	if applied, err := a.SetSecurity(ctx, []byte(`{"v":9}`), 29); err != nil || applied {
		t.Errorf("older version applied = %v, %v", applied, err)
	}
	if applied, err := a.SetSecurity(ctx, []byte(`{"v":5}`), 0); err != nil || !applied {
		t.Errorf("version 0 (next) applied = %v, %v", applied, err)
	}
	if _, version, _ := a.Security(ctx); version != 31 {
		t.Errorf("version after a local set = %d, want 31", version)
	}
}

// TestStatsDecodeWithoutLocalSeq: stats written before LocalSeq existed
// still decode, with LocalSeq 0.
func TestStatsDecodeWithoutLocalSeq(t *testing.T) {
	full := stats{UpdateSeq: 7, PurgeSeq: 1, DocCount: 5, DocDelCount: 2, External: 100, Active: 200, LocalSeq: 3}
	enc := full.encode()
	got, err := decodeStats(enc)
	if err != nil || got != full {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	old := enc[:len(enc)-1] // the encoding before LocalSeq was appended
	got, err = decodeStats(old)
	if err != nil || got.LocalSeq != 0 || got.Active != 200 {
		t.Fatalf("old stats: %+v %v", got, err)
	}
}

// A revision id computed by the coordinator is used when the write extends
// the parent it was computed for, and recomputed otherwise.
func TestNewRevIDFromCoordinator(t *testing.T) {
	sh := mustCreate(t, openTestStore(t), "shards/00000000-ffffffff/db.1")
	given := "0123456789abcdef0123456789abcdef"
	r := put(t, sh, &couch.Doc{ID: "a", Body: []byte(`{}`), NewRevID: given}, true)
	if r.Err != nil || r.Rev != (couch.Rev{Pos: 1, ID: given}) {
		t.Fatalf("write with NewRevID = %+v, want 1-%s", r, given)
	}
	del := put(t, sh, &couch.Doc{ID: "a", Rev: r.Rev, Deleted: true, Body: []byte(`{}`),
		NewRevID: couch.NewRevID(r.Rev, true, []byte(`{}`), nil)}, true)
	if del.Err != nil || del.Rev.Pos != 2 {
		t.Fatalf("delete = %+v", del)
	}
	// Recreating the deleted doc extends its tombstone, not the zero rev
	// the coordinator hashed: the copy computes the id itself.
	re := put(t, sh, &couch.Doc{ID: "a", Body: []byte(`{}`), NewRevID: given}, true)
	want := couch.Rev{Pos: 3, ID: couch.NewRevID(del.Rev, false, []byte(`{}`), nil)}
	if re.Err != nil || re.Rev != want {
		t.Fatalf("recreate = %+v, want %v", re, want)
	}
}

// Bodies of live revisions without attachments are stored raw; deleted ones
// and those with attachments keep the header. Data written before the raw
// form existed has the header on every body and must read the same.
func TestBodyForms(t *testing.T) {
	ctx := context.Background()
	sh := mustCreate(t, openTestStore(t), "shards/00000000-ffffffff/db.1")
	r1 := put(t, sh, &couch.Doc{ID: "a", Body: []byte(`{"v":1}`)}, true)
	key := sh.keys.body("a", r1.Rev)
	meta := func() byte {
		t.Helper()
		var m byte
		if err := sh.db.View(func(txn *badger.Txn) error {
			item, err := txn.Get(key)
			if err == nil {
				m = item.UserMeta()
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if meta() != metaRawBody {
		t.Fatalf("live body without attachments: user meta = %d, want raw", meta())
	}
	// Rewrite it in the older form, as a data directory from before holds it.
	legacy := new(batchTxn).bodyEntry(key, true, nil, []byte(`{"v":1}`)).Value
	legacy[0] = 0 // not deleted
	if err := sh.db.Update(func(txn *badger.Txn) error { return txn.Set(key, legacy) }); err != nil {
		t.Fatal(err)
	}
	if meta() != 0 {
		t.Fatal("legacy body kept the raw meta bit")
	}
	doc, err := sh.Open(ctx, "a", couch.OpenOptions{})
	if err != nil || string(doc.Revisions[0].Body) != `{"v":1}` || doc.Revisions[0].Deleted {
		t.Fatalf("legacy body read back as %+v, %v", doc, err)
	}
	r2 := put(t, sh, &couch.Doc{ID: "a", Rev: r1.Rev, Deleted: true, Body: []byte(`{}`)}, true)
	key = sh.keys.body("a", r2.Rev)
	if meta() != 0 {
		t.Fatal("deleted revision stored raw")
	}
	doc, err = sh.Open(ctx, "a", couch.OpenOptions{Rev: r2.Rev})
	if err != nil || !doc.Revisions[0].Deleted || string(doc.Revisions[0].Body) != `{}` {
		t.Fatalf("deleted revision read back as %+v, %v", doc, err)
	}
}
