package shard

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/divandb/divan/internal/couch"
)

func TestPresenceFilterLayers(t *testing.T) {
	p := newPresence(0)
	const n = 300_000 // into the fourth layer (4Ki, 16Ki, 64Ki, 256Ki ids)
	for i := range n {
		if !p.add(fmt.Appendf(nil, "doc-%d", i)) {
			t.Fatalf("add %d: filter full", i)
		}
	}
	if len(p.layers) != 4 {
		t.Fatalf("%d layers after %d ids, want 4", len(p.layers), n)
	}
	for i := range n {
		if id := fmt.Sprintf("doc-%d", i); !p.mayHold(id) {
			t.Fatalf("mayHold(%q) = false after add", id)
		}
	}
	fp := 0
	for i := range 100_000 {
		if p.mayHold(fmt.Sprintf("other-%d", i)) {
			fp++
		}
	}
	if fp > 2_000 {
		t.Errorf("%d false positives in 100,000 unseen ids, want under 2%%", fp)
	}

	if newPresence(maxPresenceIDs) != nil {
		t.Error("newPresence past maxPresenceIDs: want nil")
	}
	full := newPresence(0)
	full.room, full.total = 0, maxPresenceIDs-1
	if full.add([]byte("x")) {
		t.Error("add past maxPresenceIDs succeeded, want false")
	}
}

// TestPresenceNeverHidesADocument writes documents before a reopen, while
// the presence scan is held just after taking its snapshot (so they are
// not in it) and after the filter is installed; writing any of them again
// without a revision must conflict, as it would without the filter.
func TestPresenceNeverHidesADocument(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	sh := mustCreate(t, s, "p")
	ids := func(prefix string, n int) []*couch.Doc {
		docs := make([]*couch.Doc, n)
		for i := range docs {
			docs[i] = &couch.Doc{ID: fmt.Sprintf("%s-%05d", prefix, i), Body: []byte(`{"v":1}`)}
		}
		return docs
	}
	write := func(sh *Shard, docs []*couch.Doc, wantErr error) {
		t.Helper()
		for start := 0; start < len(docs); start += 700 {
			res, err := sh.Update(ctx, docs[start:min(start+700, len(docs))], couch.UpdateOptions{NewEdits: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if !errors.Is(r.Err, wantErr) {
					t.Fatalf("%s: error %v, want %v", r.ID, r.Err, wantErr)
				}
			}
		}
	}
	before := ids("before", 3000)
	write(sh, before, nil)

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	scanStarted, releaseScan := make(chan struct{}), make(chan struct{})
	s.presenceHook = func(*Shard) {
		close(scanStarted)
		<-releaseScan
	}
	if sh, err = s.Get("p"); err != nil {
		t.Fatal(err)
	}
	<-scanStarted
	during := ids("during", 500)
	write(sh, during, nil)
	write(sh, before[:100], couch.ErrConflict) // looked up in badger
	close(releaseScan)
	for sh.scanningIDs.Load() { // until the scan has handed its result over
		time.Sleep(time.Millisecond)
	}

	after := ids("after", 1000)
	write(sh, after, nil)
	write(sh, before, couch.ErrConflict)
	write(sh, during, couch.ErrConflict)
	write(sh, after, couch.ErrConflict)

	// The same new id twice in one batch: the second sees the first.
	res, err := sh.Update(ctx, []*couch.Doc{
		{ID: "twice", Body: []byte(`{}`)}, {ID: "twice", Body: []byte(`{}`)},
	}, couch.UpdateOptions{NewEdits: true})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || !errors.Is(res[1].Err, couch.ErrConflict) {
		t.Fatalf("same id twice: %v, %v; want ok then conflict", res[0].Err, res[1].Err)
	}

	if err := s.Close(); err != nil { // the updater has exited: its state is ours
		t.Fatal(err)
	}
	if sh.presence.filter == nil {
		t.Fatal("presence filter not installed; the test did not exercise it")
	}
}

// TestPresenceAfterPurgeAndCompaction: with the filter installed, a fully
// purged document can be created again, and documents that compaction
// rewrote still conflict when written again without a revision.
func TestPresenceAfterPurgeAndCompaction(t *testing.T) {
	ctx := context.Background()
	sh := mustCreate(t, openTestStore(t), "p")
	for sh.scanningIDs.Load() { // an empty copy: the scan ends at once
		time.Sleep(time.Millisecond)
	}
	r := put(t, sh, &couch.Doc{ID: "gone", Body: []byte(`{"v":1}`)}, true)
	if _, err := sh.Purge(ctx, map[string][]couch.Rev{"gone": {r.Rev}}); err != nil {
		t.Fatal(err)
	}
	if r := put(t, sh, &couch.Doc{ID: "gone", Body: []byte(`{"v":2}`)}, true); r.Err != nil || r.Rev.Pos != 1 {
		t.Fatalf("recreate after purge: %v %v, want 1-…", r.Rev, r.Err)
	}

	for i := range 50 {
		id := fmt.Sprintf("k%02d", i)
		r := put(t, sh, &couch.Doc{ID: id, Body: []byte(`{"v":1}`)}, true)
		put(t, sh, &couch.Doc{ID: id, Rev: r.Rev, Body: []byte(`{"v":2}`)}, true)
	}
	if err := sh.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		id := fmt.Sprintf("k%02d", i)
		if r := put(t, sh, &couch.Doc{ID: id, Body: []byte(`{}`)}, true); !errors.Is(r.Err, couch.ErrConflict) {
			t.Fatalf("%s after compaction: %v, want conflict", id, r.Err)
		}
	}
	if err := sh.store.Close(); err != nil {
		t.Fatal(err)
	}
	if sh.presence.filter == nil {
		t.Fatal("presence filter not installed; the test did not exercise it")
	}
}
