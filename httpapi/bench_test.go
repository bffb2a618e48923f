package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/couch"
)

// cannedBackend answers every read with the same document and every write
// with the same revision. It stores nothing; benchmarks use it to measure
// httpapi's own cost per request.
type cannedBackend struct {
	stubBackend
	doc  *couch.Document
	rows int
}

func (c cannedBackend) OpenDoc(context.Context, string, string, fabric.ReadOptions) (*couch.Document, error) {
	return c.doc, nil
}

func (c cannedBackend) UpdateDocs(_ context.Context, _ string, docs []*couch.Doc, _ fabric.WriteOptions) ([]fabric.DocResult, error) {
	out := make([]fabric.DocResult, len(docs))
	for i, d := range docs {
		out[i] = fabric.DocResult{ID: d.ID, Rev: couch.Rev{Pos: 1, ID: "967a00dff5e02add41819138abb3284d"}}
	}
	return out, nil
}

func (c cannedBackend) AllDocs(_ context.Context, _ string, _ fabric.AllDocsOptions, sink fabric.RowSink) error {
	off := int64(0)
	if err := sink.Meta(fabric.AllDocsMeta{TotalRows: int64(c.rows), Offset: &off}); err != nil {
		return err
	}
	rv := &c.doc.Revisions[0]
	for i := 0; i < c.rows; i++ {
		if err := sink.Row(fabric.AllDocsRow{ID: "doc" + strconv.Itoa(i), Rev: rv.Rev, Doc: rv}); err != nil {
			return err
		}
	}
	return nil
}

func benchAPI(b *testing.B, rows int) *API {
	t := couch.NewRevTree()
	rev := couch.Rev{Pos: 1, ID: "967a00dff5e02add41819138abb3284d"}
	t.Merge([]couch.Rev{rev}, false)
	doc := &couch.Document{ID: "doc1", Tree: t, Revisions: []couch.Revision{{
		Rev: rev, Body: []byte(`{"name":"x","value":12345,"tags":["a","b"],"nested":{"k":"v"}}`),
	}}}
	cfg := DefaultConfig()
	cfg.Authenticate = func(u, p string) (bool, bool) { return true, true }
	a, err := New(cfg, cannedBackend{stubBackend: stubBackend{dbs: []string{"db"}}, doc: doc, rows: rows})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// discardWriter is a minimal ResponseWriter.
type discardWriter struct {
	h http.Header
	n int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

func BenchmarkGetDoc(b *testing.B) {
	a := benchAPI(b, 0)
	r := httptest.NewRequest(http.MethodGet, "/db/doc1", nil)
	r.SetBasicAuth("admin", "pw")
	b.ReportAllocs()
	for b.Loop() {
		a.ServeHTTP(&discardWriter{h: http.Header{}}, r)
	}
}

func BenchmarkPutDoc(b *testing.B) {
	a := benchAPI(b, 0)
	body := `{"name":"x","value":12345,"tags":["a","b"],"nested":{"k":"v"}}`
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPut, "/db/doc1", strings.NewReader(body))
		r.SetBasicAuth("admin", "pw")
		a.ServeHTTP(&discardWriter{h: http.Header{}}, r)
	}
}

func BenchmarkAllDocsIncludeDocs(b *testing.B) {
	const rows = 1000
	a := benchAPI(b, rows)
	r := httptest.NewRequest(http.MethodGet, "/db/_all_docs?include_docs=true", nil)
	r.SetBasicAuth("admin", "pw")
	b.ReportAllocs()
	for b.Loop() {
		a.ServeHTTP(&discardWriter{h: http.Header{}}, r)
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkAppendDoc(b *testing.B) {
	doc := testDoc()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendDoc(buf[:0], doc, &doc.Revisions[0], renderOpts{revs: true}, true)
	}
}
