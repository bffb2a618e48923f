package rpc

import (
	"errors"
	"slices"
	"testing"

	"github.com/divandb/divan/internal/couch"
	pb "github.com/divandb/divan/proto/internalv1"
)

// An Update is answered in the compact form when asked, else with a result
// per document as before it existed; both read back the same.
func TestUpdateAnswerForms(t *testing.T) {
	ctx := t.Context()
	const name = "shards/00000000-ffffffff/db.1700000000"
	n2 := startNode(t, "n2@127.0.0.1")
	mustCreate(t, n2.store, name)
	client := newClient(t, newResolver(n2))
	svc, err := client.service(n2.name)
	if err != nil {
		t.Fatal(err)
	}
	docs := func(prefix string) []*couch.Doc {
		return []*couch.Doc{
			{ID: prefix + "a", Body: []byte(`{}`)},
			{ID: prefix + "a", Body: []byte(`{"again":true}`)}, // conflicts with the first
			{ID: prefix + "b", Body: []byte(`{}`), Deleted: true},
		}
	}
	write := func(prefix string, compact bool) (*pb.UpdateResponse, []couch.UpdateResult) {
		t.Helper()
		ds := docs(prefix)
		req := &pb.UpdateRequest{Header: header(ctx, name), NewEdits: true, CompactResults: compact}
		for _, d := range ds {
			req.Docs = append(req.Docs, docToProto(d))
		}
		resp, err := svc.Update(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		res, err := appendUpdateResults(nil, resp, ds)
		if err != nil {
			t.Fatal(err)
		}
		return resp, res
	}

	full, fullRes := write("full-", false)
	if len(full.GetResults()) != 3 || len(full.GetRevPos()) != 0 || len(full.GetErrors()) != 0 {
		t.Fatalf("answer without compact_results: %v", full)
	}
	compact, compactRes := write("compact-", true)
	if len(compact.GetResults()) != 0 || len(compact.GetRevPos()) != 3 || len(compact.GetRevIds()) != 3 ||
		len(compact.GetErrors()) != 1 || compact.GetErrors()[0].GetIndex() != 1 {
		t.Fatalf("answer with compact_results: %v", compact)
	}
	// The same edits under other ids: the same revisions and errors.
	for i := range fullRes {
		f, c := fullRes[i], compactRes[i]
		if c.ID != "compact-"+f.ID[len("full-"):] || c.Rev != f.Rev || !errors.Is(c.Err, couch.ErrConflict) != !errors.Is(f.Err, couch.ErrConflict) {
			t.Errorf("doc %d: compact %+v, full %+v", i, c, f)
		}
	}
	if !errors.Is(compactRes[1].Err, couch.ErrConflict) || compactRes[0].Err != nil || compactRes[0].Rev.Pos != 1 {
		t.Fatalf("compact results %+v: want a write, a conflict, a write", compactRes)
	}
}

func TestAppendUpdateResultsRejectsMalformed(t *testing.T) {
	docs := []*couch.Doc{{ID: "a"}, {ID: "b"}}
	for _, resp := range []*pb.UpdateResponse{
		{RevPos: []int64{1}, RevIds: []string{"x"}},
		{RevPos: []int64{1, 1}, RevIds: []string{"x"}},
		{RevPos: []int64{1, 1}, RevIds: []string{"x", "y"}, Errors: []*pb.IndexedError{{Index: 2}}},
	} {
		if _, err := appendUpdateResults(nil, resp, docs); err == nil {
			t.Errorf("%v: no error", resp)
		}
	}
	prior := []couch.UpdateResult{{ID: "earlier"}}
	out, err := appendUpdateResults(prior, &pb.UpdateResponse{RevPos: []int64{1, 0}, RevIds: []string{"x", ""},
		Errors: []*pb.IndexedError{{Index: 1, Error: errorToProto(couch.ErrConflict)}}}, docs)
	if err != nil || !slices.EqualFunc(out, []couch.UpdateResult{{ID: "earlier"}, {ID: "a", Rev: couch.Rev{Pos: 1, ID: "x"}}, {ID: "b"}},
		func(a, b couch.UpdateResult) bool { return a.ID == b.ID && a.Rev == b.Rev }) || !errors.Is(out[2].Err, couch.ErrConflict) {
		t.Fatalf("appended %+v, %v", out, err)
	}
}
