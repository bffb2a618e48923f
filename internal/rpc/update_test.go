package rpc

import (
	"errors"
	"slices"
	"testing"

	"github.com/divandb/divan/internal/couch"
	pb "github.com/divandb/divan/proto/internalv1"
	"github.com/divandb/divan/shard"
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

// A write to copies on two nodes with a shared encoding is marshalled once
// and applied by both.
func TestUpdateSharedEncoding(t *testing.T) {
	ctx := WithRequestID(t.Context(), "req-1")
	const name = "shards/00000000-ffffffff/db.1700000000"
	n2, n3 := startNode(t, "n2"), startNode(t, "n3")
	s2, s3 := mustCreate(t, n2.store, name), mustCreate(t, n3.store, name)
	client := newClient(t, newResolver(n2, n3))
	opts := couch.UpdateOptions{NewEdits: true, Encoding: new(couch.SharedEncoding)}
	docs := []*couch.Doc{{ID: "a", Body: []byte(`{"v":1}`)}, {ID: "b", Body: []byte(`{"v":2}`)}}
	var revs [][]couch.UpdateResult
	for _, node := range []string{"n2", "n3"} {
		h, err := client.Handle(ctx, node, name)
		if err != nil {
			t.Fatal(err)
		}
		res, err := h.Update(ctx, docs, opts)
		if err != nil || len(res) != 2 || res[0].Err != nil || res[1].Err != nil {
			t.Fatalf("update on %s: %+v, %v", node, res, err)
		}
		revs = append(revs, res)
	}
	encoded, _ := opts.Encoding.Get(name+"\x00req-1", func() ([]byte, error) {
		t.Fatal("the second copy encoded the write again")
		return nil, nil
	})
	if len(encoded) == 0 || !slices.Equal(revs[0], revs[1]) {
		t.Fatalf("encoding %d bytes; results %+v and %+v", len(encoded), revs[0], revs[1])
	}
	for _, sh := range []*shard.Shard{s2, s3} {
		d, err := sh.Open(ctx, "b", couch.OpenOptions{})
		if err != nil || string(d.Revisions[0].Body) != `{"v":2}` {
			t.Fatalf("doc b on a copy: %+v, %v", d, err)
		}
	}
}
