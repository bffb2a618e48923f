package fabric

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/divandb/divan/cluster"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/shard"
)

// newTestFabric builds a one-node fabric over a real badger store.
func newTestFabric(t testing.TB) *Fabric {
	t.Helper()
	ctx := context.Background()
	store, err := shard.Open(ctx, shard.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cl, err := cluster.New(ctx, cluster.Config{NodeName: "n1@127.0.0.1"}, store)
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{}, cl, LocalCopies{Self: "n1@127.0.0.1", Store: store})
}

func TestCreateDeleteDB(t *testing.T) {
	ctx := context.Background()
	f := newTestFabric(t)
	if err := f.CreateDB(ctx, "db", CreateDBOptions{Q: 4}); err != nil {
		t.Fatal(err)
	}
	if err := f.CreateDB(ctx, "db", CreateDBOptions{}); !errors.Is(err, couch.ErrDBExists) {
		t.Fatalf("second create: %v", err)
	}
	info, err := f.DBInfo(ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	if info.Q != 4 || info.N != 1 || info.W != 1 || info.R != 1 || info.InstanceStartTime == "0" {
		t.Fatalf("info = %+v", info)
	}
	if names, _ := f.AllDBs(ctx); !slices.Equal(names, []string{"db"}) {
		t.Fatalf("AllDBs = %v", names)
	}
	if err := f.DeleteDB(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.DBInfo(ctx, "db"); !errors.Is(err, couch.ErrNoDB) {
		t.Fatalf("info after delete: %v", err)
	}
	if err := f.DeleteDB(ctx, "db"); !errors.Is(err, couch.ErrNoDB) {
		t.Fatalf("second delete: %v", err)
	}
	// Recreate gets an empty database.
	if err := f.CreateDB(ctx, "db", CreateDBOptions{}); err != nil {
		t.Fatal(err)
	}
	if info, _ := f.DBInfo(ctx, "db"); info.DocCount != 0 {
		t.Fatalf("recreated db has %d docs", info.DocCount)
	}
}

func TestAllDocsMergesRanges(t *testing.T) {
	ctx := context.Background()
	f := newTestFabric(t)
	if err := f.CreateDB(ctx, "db", CreateDBOptions{Q: 8}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	var docs []*couch.Doc
	for i := range 300 {
		id := fmt.Sprintf("doc-%03d-%x", i, rand.Uint32())
		ids = append(ids, id)
		docs = append(docs, &couch.Doc{ID: id, Body: []byte(`{"i":` + fmt.Sprint(i) + `}`)})
	}
	res, err := f.UpdateDocs(ctx, "db", docs, WriteOptions{NewEdits: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil || r.Accepted {
			t.Fatalf("write %+v", r)
		}
	}
	sort.Strings(ids)
	str := func(s string) *string { return &s }
	collect := func(opts AllDocsOptions) ([]string, AllDocsMeta) {
		var got []string
		var meta AllDocsMeta
		err := f.AllDocs(ctx, "db", opts, RowSink{
			Meta: func(m AllDocsMeta) error { meta = m; return nil },
			Row:  func(r AllDocsRow) error { got = append(got, r.ID); return nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		return got, meta
	}
	got, meta := collect(AllDocsOptions{Limit: -1, InclusiveEnd: true})
	if !slices.Equal(got, ids) || meta.TotalRows != 300 || *meta.Offset != 0 {
		t.Fatalf("full scan: %d rows, meta %+v", len(got), meta)
	}
	got, meta = collect(AllDocsOptions{StartKey: str(ids[100]), Limit: 10, Skip: 5, InclusiveEnd: true})
	if !slices.Equal(got, ids[105:115]) || *meta.Offset != 105 {
		t.Fatalf("page: %v offset %d", got, *meta.Offset)
	}
	rev := slices.Clone(ids)
	slices.Reverse(rev)
	got, _ = collect(AllDocsOptions{Descending: true, Limit: 20, InclusiveEnd: true})
	if !slices.Equal(got, rev[:20]) {
		t.Fatalf("descending: %v", got)
	}
	got, meta = collect(AllDocsOptions{Keys: []string{ids[7], "nope", ids[3]}, Limit: -1})
	if !slices.Equal(got, []string{ids[7], "nope", ids[3]}) || meta.Offset != nil {
		t.Fatalf("keys: %v %+v", got, meta)
	}
}

func TestOpenDocAndConflictsThroughFabric(t *testing.T) {
	ctx := context.Background()
	f := newTestFabric(t)
	if err := f.CreateDB(ctx, "db", CreateDBOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := f.UpdateDocs(ctx, "db", []*couch.Doc{{ID: "x", Body: []byte(`{"a":1}`)}}, WriteOptions{NewEdits: true})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	doc, err := f.OpenDoc(ctx, "db", "x", ReadOptions{})
	if err != nil || doc.Revisions[0].Rev != res[0].Rev {
		t.Fatalf("open: %v %v", doc, err)
	}
	if _, err := f.OpenDoc(ctx, "db", "nope", ReadOptions{}); !errors.Is(err, couch.ErrNotFound) {
		t.Fatalf("missing doc: %v", err)
	}
	if _, err := f.OpenDoc(ctx, "nodb", "x", ReadOptions{}); !errors.Is(err, couch.ErrNoDB) {
		t.Fatalf("missing db: %v", err)
	}
}

func TestSeqRoundTrip(t *testing.T) {
	in := []RangeSeq{
		{Node: "n1@127.0.0.1", Range: cluster.Range{Begin: 0, End: 0x7fffffff}, Seq: 52, UUID: "630e35abcdef"},
		{Node: "n2@127.0.0.1", Range: cluster.Range{Begin: 0x80000000, End: 0xffffffff}, Seq: 61, UUID: "d289f14"},
	}
	s := PackSeq(in)
	if s[:4] != "113-" {
		t.Fatalf("sum prefix: %s", s)
	}
	out, err := UnpackSeq(`"` + s + `"`)
	if err != nil {
		t.Fatal(err)
	}
	in[0].UUID = "630e35a" // stored as a 7-char prefix
	if !slices.Equal(out, in) {
		t.Fatalf("round trip: %+v", out)
	}
	for _, bad := range []string{"1-!!", "1-AAAA", "garbage"} {
		if _, err := UnpackSeq(bad); err == nil {
			t.Errorf("UnpackSeq(%q) accepted", bad)
		}
	}
}

func FuzzUnpackSeq(f *testing.F) {
	f.Add(PackSeq([]RangeSeq{{Node: "a@b", Seq: 3, UUID: "abc"}}))
	f.Add("0")
	f.Add("12-g1AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		seqs, err := UnpackSeq(s)
		if err != nil {
			return
		}
		again, err := UnpackSeq(PackSeq(seqs))
		if err != nil || len(again) != len(seqs) {
			t.Fatalf("repack of %q: %v %v", s, again, err)
		}
	})
}

// TestLocalDocsStampedOnce: fabric stamps each _local write once, for every
// copy, and the later of two writes of one id in a request wins.
func TestLocalDocsStampedOnce(t *testing.T) {
	ctx := context.Background()
	f := newTestFabric(t)
	if err := f.CreateDB(ctx, "db", CreateDBOptions{Q: 1}); err != nil {
		t.Fatal(err)
	}
	before := uint64(time.Now().UnixNano())
	docs := []*couch.Doc{
		{ID: "_local/x", Body: []byte(`{"first":1}`)},
		{ID: "_local/x", Rev: couch.Rev{ID: "1"}, Body: []byte(`{"second":1}`)},
	}
	if _, err := f.UpdateDocs(ctx, "db", docs, WriteOptions{NewEdits: true}); err != nil {
		t.Fatal(err)
	}
	if docs[0].LocalVersion < before || docs[1].LocalVersion != docs[0].LocalVersion+1 {
		t.Fatalf("stamps %d, %d: want consecutive, from %d", docs[0].LocalVersion, docs[1].LocalVersion, before)
	}
	doc, err := f.OpenDoc(ctx, "db", "_local/x", ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Revisions[0].Rev.String() + " " + string(doc.Revisions[0].Body); got != `0-2 {"second":1}` {
		t.Errorf("_local/x: %s, want the second write", got)
	}
}
