package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/divandb/divan/internal/testnode"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testnode.Cleanup()
	os.Exit(code)
}

// startNode starts a fresh node with its own data directory.
func startNode(t *testing.T) *testnode.Node {
	t.Helper()
	return testnode.Start(t, testnode.Options{})
}

var (
	revRE     = regexp.MustCompile(`^[1-9][0-9]*-[0-9a-f]{32}$`)
	hex32RE   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	digitsRE  = regexp.MustCompile(`^[0-9]+$`)
	requestID = regexp.MustCompile(`^[0-9a-f]{10}$`)
)

// dbPath returns the URL path of a database.
func dbPath(db string) string { return "/" + url.PathEscape(db) }

// docPath returns the URL path of a document, keeping the _design/ and
// _local/ prefixes literal as CouchDB clients do.
func docPath(db, id string) string {
	for _, prefix := range []string{"_design/", "_local/"} {
		if strings.HasPrefix(id, prefix) {
			return dbPath(db) + "/" + prefix + url.PathEscape(strings.TrimPrefix(id, prefix))
		}
	}
	return dbPath(db) + "/" + url.PathEscape(id)
}

func createDB(t testing.TB, c *testnode.Client, db string) {
	t.Helper()
	_, body := c.Expect(t, http.StatusCreated, http.MethodPut, dbPath(db), nil)
	jsonEq(t, "PUT /"+db, body, `{"ok":true}`)
}

// putDoc writes a document and returns its new rev.
func putDoc(t testing.TB, c *testnode.Client, db, id string, body any) string {
	t.Helper()
	_, data := c.Expect(t, http.StatusCreated, http.MethodPut, docPath(db, id), body)
	return okRev(t, "PUT "+docPath(db, id), data, id)
}

// deleteDoc deletes a document revision and returns the tombstone's rev.
func deleteDoc(t testing.TB, c *testnode.Client, db, id, rev string) string {
	t.Helper()
	p := docPath(db, id) + "?rev=" + url.QueryEscape(rev)
	_, data := c.Expect(t, http.StatusOK, http.MethodDelete, p, nil)
	return okRev(t, "DELETE "+p, data, id)
}

// okRev checks a {"ok":true,"id":id,"rev":rev} body and returns rev.
func okRev(t testing.TB, what string, data []byte, id string) string {
	t.Helper()
	m := testnode.Object(t, data)
	if m["ok"] != true {
		t.Fatalf("%s: want ok:true, got %s", what, data)
	}
	if id != "" && m["id"] != id {
		t.Fatalf("%s: id = %v, want %q; body %s", what, m["id"], id, data)
	}
	rev, _ := m["rev"].(string)
	if !revRE.MatchString(rev) && !strings.HasPrefix(id, "_local/") {
		t.Fatalf("%s: rev %q is not N-<32 hex>; body %s", what, rev, data)
	}
	return rev
}

// expectError performs a request and checks CouchDB's error response:
// status, "error" and (unless wantReason is "") the exact "reason".
func expectError(t testing.TB, c *testnode.Client, wantStatus int, wantErr, wantReason, method, path string, body any, headers ...string) http.Header {
	t.Helper()
	status, hdr, data := c.Do(t, method, path, body, headers...)
	checkError(t, method+" "+path, status, data, wantStatus, wantErr, wantReason)
	return hdr
}

func checkError(t testing.TB, what string, status int, data []byte, wantStatus int, wantErr, wantReason string) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("%s: status %d, want %d; body: %s", what, status, wantStatus, bytes.TrimSpace(data))
		return
	}
	var e struct {
		Error  *string `json:"error"`
		Reason *string `json:"reason"`
	}
	if err := json.Unmarshal(data, &e); err != nil || e.Error == nil {
		t.Errorf("%s: want a JSON {\"error\",\"reason\"} body, got %q (%v)", what, data, err)
		return
	}
	if *e.Error != wantErr {
		t.Errorf("%s: error %q, want %q; body: %s", what, *e.Error, wantErr, bytes.TrimSpace(data))
	}
	if wantReason != "" && (e.Reason == nil || *e.Reason != wantReason) {
		t.Errorf("%s: reason %s, want %q; body: %s", what, ptrString(e.Reason), wantReason, bytes.TrimSpace(data))
	}
}

func ptrString(p *string) string {
	if p == nil {
		return "<missing>"
	}
	return strconv.Quote(*p)
}

// canonical re-encodes JSON with sorted object keys and float64 numbers, so
// that two documents can be compared for semantic equality.
func canonical(data []byte) (string, error) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return "", err
	}
	out, err := json.Marshal(v)
	return string(out), err
}

// jsonEq fails the test unless got (bytes or a decoded value) and want are
// the same JSON value, ignoring key order and number spelling.
func jsonEq(t testing.TB, what string, got any, want string) {
	t.Helper()
	var gotBytes []byte
	switch g := got.(type) {
	case []byte:
		gotBytes = g
	case string:
		gotBytes = []byte(g)
	default:
		var err error
		if gotBytes, err = json.Marshal(g); err != nil {
			t.Fatalf("%s: encode %#v: %v", what, got, err)
		}
	}
	gc, err := canonical(gotBytes)
	if err != nil {
		t.Errorf("%s: response is not JSON: %q (%v)", what, gotBytes, err)
		return
	}
	wc, err := canonical([]byte(want))
	if err != nil {
		t.Fatalf("%s: bad expectation %q: %v", what, want, err)
	}
	if gc != wc {
		t.Errorf("%s:\n got: %s\nwant: %s", what, bytes.TrimSpace(gotBytes), want)
	}
}

func str(t testing.TB, m map[string]any, key string) string {
	t.Helper()
	s, ok := m[key].(string)
	if !ok {
		t.Fatalf("field %q: want a string, got %#v in %v", key, m[key], m)
	}
	return s
}

func num(t testing.TB, m map[string]any, key string) int64 {
	t.Helper()
	n, ok := m[key].(json.Number)
	if !ok {
		t.Fatalf("field %q: want a number, got %#v in %v", key, m[key], m)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("field %q: want an integer, got %s", key, n)
	}
	return i
}

func obj(t testing.TB, m map[string]any, key string) map[string]any {
	t.Helper()
	o, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("field %q: want an object, got %#v in %v", key, m[key], m)
	}
	return o
}

func arr(t testing.TB, m map[string]any, key string) []any {
	t.Helper()
	a, ok := m[key].([]any)
	if !ok {
		t.Fatalf("field %q: want an array, got %#v in %v", key, m[key], m)
	}
	return a
}

// strs converts a JSON array of strings.
func strs(t testing.TB, a []any) []string {
	t.Helper()
	out := make([]string, len(a))
	for i, v := range a {
		s, ok := v.(string)
		if !ok {
			t.Fatalf("element %d: want a string, got %#v", i, v)
		}
		out[i] = s
	}
	return out
}

func revPos(t testing.TB, rev string) int {
	t.Helper()
	i := strings.IndexByte(rev, '-')
	if i <= 0 {
		t.Fatalf("bad rev %q", rev)
	}
	n, err := strconv.Atoi(rev[:i])
	if err != nil {
		t.Fatalf("bad rev %q", rev)
	}
	return n
}

// revisionsContain reports whether rev lies on the path described by a
// `_revisions` object {"start":N,"ids":[...newest first]}.
func revisionsContain(revisions map[string]any, rev string) (bool, error) {
	i := strings.IndexByte(rev, '-')
	if i <= 0 {
		return false, fmt.Errorf("bad rev %q", rev)
	}
	pos, err := strconv.Atoi(rev[:i])
	if err != nil {
		return false, fmt.Errorf("bad rev %q", rev)
	}
	hash := rev[i+1:]
	startNum, ok := revisions["start"].(json.Number)
	if !ok {
		return false, fmt.Errorf("_revisions.start is %#v", revisions["start"])
	}
	start, err := startNum.Int64()
	if err != nil {
		return false, err
	}
	ids, ok := revisions["ids"].([]any)
	if !ok {
		return false, fmt.Errorf("_revisions.ids is %#v", revisions["ids"])
	}
	k := int(start) - pos
	if k < 0 || k >= len(ids) {
		return false, nil
	}
	return ids[k] == hash, nil
}

// rows returns the "rows" array of an _all_docs-style response as objects.
func rows(t testing.TB, m map[string]any) []map[string]any {
	t.Helper()
	a := arr(t, m, "rows")
	out := make([]map[string]any, len(a))
	for i, r := range a {
		o, ok := r.(map[string]any)
		if !ok {
			t.Fatalf("rows[%d]: want an object, got %#v", i, r)
		}
		out[i] = o
	}
	return out
}

// rowIDs returns the "id" of every row ("" for rows without one).
func rowIDs(rs []map[string]any) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i], _ = r["id"].(string)
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// jsonQuery encodes v as JSON for use as a query parameter value.
func jsonQuery(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return url.QueryEscape(string(b))
}

// seqPrefix returns the numeric prefix of a packed sequence "N-opaque" (or
// the value of a plain integer sequence).
func seqPrefix(t testing.TB, v any) int64 {
	t.Helper()
	switch s := v.(type) {
	case json.Number:
		n, err := s.Int64()
		if err != nil {
			t.Fatalf("sequence %s is not an integer", s)
		}
		return n
	case string:
		p := s
		if i := strings.IndexByte(s, '-'); i >= 0 {
			p = s[:i]
		}
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			t.Fatalf("sequence %q has no numeric prefix", s)
		}
		return n
	default:
		t.Fatalf("sequence %#v is neither a string nor a number", v)
		return 0
	}
}

// branchDoc builds a replicated-style document revision newRev whose parent
// is parentRev, for `_bulk_docs` with new_edits=false.
func branchDoc(id, parentRev, newRev string, deleted bool) map[string]any {
	pos, _ := strconv.Atoi(newRev[:strings.IndexByte(newRev, '-')])
	ids := []string{newRev[strings.IndexByte(newRev, '-')+1:]}
	if parentRev != "" {
		ids = append(ids, parentRev[strings.IndexByte(parentRev, '-')+1:])
	}
	d := map[string]any{
		"_id":        id,
		"_rev":       newRev,
		"_revisions": map[string]any{"start": pos, "ids": ids},
		"branch":     newRev,
	}
	if deleted {
		d["_deleted"] = true
	}
	return d
}

// bulkNoNewEdits writes docs with new_edits=false and expects 201 [].
func bulkNoNewEdits(t testing.TB, c *testnode.Client, db string, docs ...map[string]any) {
	t.Helper()
	_, body := c.Expect(t, http.StatusCreated, http.MethodPost, dbPath(db)+"/_bulk_docs", map[string]any{"docs": docs, "new_edits": false})
	jsonEq(t, "POST /"+db+"/_bulk_docs new_edits=false", body, `[]`)
}
