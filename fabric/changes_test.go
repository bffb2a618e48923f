package fabric

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/divandb/divan/internal/couch"
)

func TestChanges(t *testing.T) {
	ctx := context.Background()
	f := newTestFabric(t)
	if err := f.CreateDB(ctx, "db", CreateDBOptions{Q: 4}); err != nil {
		t.Fatal(err)
	}
	write := func(docs ...*couch.Doc) []DocResult {
		t.Helper()
		res, err := f.UpdateDocs(ctx, "db", docs, WriteOptions{NewEdits: true})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	var docs []*couch.Doc
	for i := range 50 {
		docs = append(docs, &couch.Doc{ID: fmt.Sprintf("d%02d", i), Body: []byte(`{}`)})
	}
	res := write(docs...)
	read := func(opts ChangesOptions) ([]ChangeRow, ChangesResult) {
		t.Helper()
		var rows []ChangeRow
		r, err := f.Changes(ctx, "db", opts, func(row ChangeRow) error { rows = append(rows, row); return nil })
		if err != nil {
			t.Fatal(err)
		}
		return rows, r
	}
	rows, end := read(ChangesOptions{Since: "0", Limit: -1})
	if len(rows) != 50 || end.Pending != 0 {
		t.Fatalf("got %d rows, pending %d", len(rows), end.Pending)
	}
	// Updating d07 moves it to the end of its range's feed: it appears once.
	write(&couch.Doc{ID: "d07", Rev: res[7].Rev, Body: []byte(`{"v":2}`)})
	rows, _ = read(ChangesOptions{Since: end.LastSeq, Limit: -1, IncludeDocs: true})
	if len(rows) != 1 || rows[0].ID != "d07" || rows[0].Changes[0].Pos != 2 || string(rows[0].Doc.Body) != `{"v":2}` {
		t.Fatalf("changes since last_seq = %+v", rows)
	}
	// Resuming from any row's seq misses nothing after it.
	all, _ := read(ChangesOptions{Since: "0", Limit: -1})
	for k := 0; k < len(all); k += 7 {
		rest, _ := read(ChangesOptions{Since: all[k].Seq, Limit: -1})
		if len(rest) != len(all)-k-1 {
			t.Fatalf("since row %d: %d rows, want %d", k, len(rest), len(all)-k-1)
		}
	}
	limited, lim := read(ChangesOptions{Since: "0", Limit: 5})
	if len(limited) != 5 || lim.Pending != 45 {
		t.Fatalf("limit 5: %d rows, pending %d", len(limited), lim.Pending)
	}
	only, _ := read(ChangesOptions{Since: "0", Limit: -1, DocIDs: []string{"d03", "d40"}})
	if len(only) != 2 {
		t.Fatalf("doc_ids: %+v", only)
	}
	now, _ := read(ChangesOptions{Since: "now", Limit: -1})
	if len(now) != 0 {
		t.Fatalf("since=now returned %d rows", len(now))
	}
	if _, err := f.Changes(ctx, "db", ChangesOptions{Since: "1-garbage"}, func(ChangeRow) error { return nil }); err == nil {
		t.Fatal("malformed since accepted")
	}

	// A waiter wakes on the next write.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ch, err := f.WaitForChange(wctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	write(&couch.Doc{ID: "new", Body: []byte(`{}`)})
	select {
	case <-ch:
	case <-wctx.Done():
		t.Fatal("WaitForChange did not fire after a write")
	}
	if wctx.Err() != nil {
		t.Fatal("woke by timeout, not by the write")
	}
}
