package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/divandb/divan/internal/testnode"
)

// TestDocuments covers single-document GET/HEAD/PUT/DELETE/COPY, ETags,
// ?batch=ok, ?new_edits=false, design docs and reserved ids.
func TestDocuments(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := n.Client()
	createDB(t, c, "docs")

	t.Run("CRUD", func(t *testing.T) {
		status, hdr, body := c.Do(t, http.MethodPut, "/docs/crud", map[string]any{"v": 1})
		if status != http.StatusCreated {
			t.Fatalf("PUT /docs/crud: status %d, want 201; body %s", status, body)
		}
		rev1 := okRev(t, "PUT /docs/crud", body, "crud")
		if revPos(t, rev1) != 1 {
			t.Errorf("first rev %s, want 1-...", rev1)
		}
		if et := hdr.Get("ETag"); et != `"`+rev1+`"` {
			t.Errorf("PUT /docs/crud: ETag %q, want %q", et, `"`+rev1+`"`)
		}
		if loc := hdr.Get("Location"); !strings.HasSuffix(loc, "/docs/crud") {
			t.Errorf("PUT /docs/crud: Location %q, want .../docs/crud", loc)
		}

		status, hdr, body = c.Do(t, http.MethodGet, "/docs/crud", nil)
		if status != http.StatusOK {
			t.Fatalf("GET /docs/crud: status %d; body %s", status, body)
		}
		jsonEq(t, "GET /docs/crud", body, `{"_id":"crud","_rev":"`+rev1+`","v":1}`)
		if et := hdr.Get("ETag"); et != `"`+rev1+`"` {
			t.Errorf("GET /docs/crud: ETag %q, want %q", et, `"`+rev1+`"`)
		}

		status, hdr, body = c.Do(t, http.MethodHead, "/docs/crud", nil)
		if status != http.StatusOK || len(body) != 0 || hdr.Get("ETag") != `"`+rev1+`"` {
			t.Errorf("HEAD /docs/crud: status %d, body %q, ETag %q; want 200, no body, ETag of %s", status, body, hdr.Get("ETag"), rev1)
		}
		status, _, body = c.Do(t, http.MethodHead, "/docs/nope", nil)
		if status != http.StatusNotFound || len(body) != 0 {
			t.Errorf("HEAD /docs/nope: status %d body %q, want 404 and no body", status, body)
		}
		expectError(t, c, http.StatusNotFound, "not_found", "missing", http.MethodGet, "/docs/nope", nil)

		// Updates need the current rev.
		expectError(t, c, http.StatusConflict, "conflict", "Document update conflict.", http.MethodPut, "/docs/crud", map[string]any{"v": 2})
		rev2 := putDoc(t, c, "docs", "crud", map[string]any{"_rev": rev1, "v": 2})
		if revPos(t, rev2) != 2 {
			t.Errorf("second rev %s, want 2-...", rev2)
		}
		expectError(t, c, http.StatusConflict, "conflict", "Document update conflict.", http.MethodPut, "/docs/crud", map[string]any{"_rev": rev1, "v": 3})
		expectError(t, c, http.StatusConflict, "conflict", "Document update conflict.", http.MethodPut, "/docs/crud?rev="+rev1, map[string]any{"v": 3})
		expectError(t, c, http.StatusConflict, "conflict", "Document update conflict.", http.MethodPut, "/docs/newdoc", map[string]any{"_rev": rev1})
		// ?rev= supplies the rev too.
		_, body = c.Expect(t, http.StatusCreated, http.MethodPut, "/docs/crud?rev="+rev2, map[string]any{"v": 3})
		rev3 := okRev(t, "PUT ?rev=", body, "crud")
		expectError(t, c, http.StatusBadRequest, "bad_request", "Document rev from request body and query string have different values",
			http.MethodPut, "/docs/crud?rev="+rev2, map[string]any{"_rev": rev3, "v": 4})

		// Old revisions stay readable by ?rev= until compaction; unknown
		// ones are missing; malformed ones are rejected.
		jsonEq(t, "GET ?rev=rev3", c.Get(t, "/docs/crud?rev="+rev3), `{"_id":"crud","_rev":"`+rev3+`","v":3}`)
		expectError(t, c, http.StatusNotFound, "not_found", "missing", http.MethodGet, "/docs/crud?rev=9-"+strings.Repeat("a", 32), nil)
		expectError(t, c, http.StatusBadRequest, "bad_request", "Invalid rev format", http.MethodGet, "/docs/crud?rev=garbage", nil)
		expectError(t, c, http.StatusBadRequest, "bad_request", "Invalid rev format", http.MethodPut, "/docs/crud", map[string]any{"_rev": "garbage"})

		// DELETE needs the rev; it answers 200.
		expectError(t, c, http.StatusConflict, "conflict", "Document update conflict.", http.MethodDelete, "/docs/crud", nil)
		expectError(t, c, http.StatusConflict, "conflict", "Document update conflict.", http.MethodDelete, "/docs/crud?rev="+rev1, nil)
		status, hdr, body = c.Do(t, http.MethodDelete, "/docs/crud?rev="+rev3, nil)
		if status != http.StatusOK {
			t.Fatalf("DELETE /docs/crud?rev=%s: status %d, want 200; body %s", rev3, status, body)
		}
		rev4 := okRev(t, "DELETE", body, "crud")
		if revPos(t, rev4) != 4 {
			t.Errorf("deletion rev %s, want 4-...", rev4)
		}
		if et := hdr.Get("ETag"); et != `"`+rev4+`"` {
			t.Errorf("DELETE: ETag %q, want %q", et, `"`+rev4+`"`)
		}
		expectError(t, c, http.StatusNotFound, "not_found", "deleted", http.MethodGet, "/docs/crud", nil)
		jsonEq(t, "GET deleted ?rev=", c.Get(t, "/docs/crud?rev="+rev4), `{"_id":"crud","_rev":"`+rev4+`","_deleted":true}`)
		expectError(t, c, http.StatusNotFound, "not_found", "missing", http.MethodDelete, "/docs/nope?rev=1-"+strings.Repeat("a", 32), nil)

		// Recreating a deleted doc extends the deleted leaf: 4-x -> 5-y.
		rev5 := putDoc(t, c, "docs", "crud", map[string]any{"v": "again"})
		if revPos(t, rev5) != 5 {
			t.Errorf("recreated doc got rev %s, want 5-... (extending the deleted leaf %s)", rev5, rev4)
		}
		doc := c.Get(t, "/docs/crud?revs=true")
		if ok, err := revisionsContain(obj(t, doc, "_revisions"), rev4); !ok || err != nil {
			t.Errorf("recreated doc's _revisions %v do not contain the tombstone %s (%v)", doc["_revisions"], rev4, err)
		}

		// A deleted doc can also be updated through its tombstone's rev.
		rev6 := deleteDoc(t, c, "docs", "crud", rev5)
		rev7 := putDoc(t, c, "docs", "crud", map[string]any{"_rev": rev6, "v": "via rev"})
		if revPos(t, rev7) != 7 {
			t.Errorf("update of tombstone %s gave %s, want 7-...", rev6, rev7)
		}

		// DELETE with a body-less request but If-Match works like ?rev=.
		_, body = c.Expect(t, http.StatusOK, http.MethodDelete, "/docs/crud", nil, "If-Match", `"`+rev7+`"`)
		okRev(t, "DELETE with If-Match", body, "crud")
	})

	t.Run("ETags", func(t *testing.T) {
		rev := putDoc(t, c, "docs", "etag", map[string]any{"v": 1})
		etag := `"` + rev + `"`
		status, hdr, body := c.Do(t, http.MethodGet, "/docs/etag", nil, "If-None-Match", etag)
		if status != http.StatusNotModified || len(body) != 0 {
			t.Errorf("GET with If-None-Match %s: status %d body %q, want 304 and no body", etag, status, body)
		}
		if hdr.Get("ETag") != etag {
			t.Errorf("304 response ETag %q, want %q", hdr.Get("ETag"), etag)
		}
		c.Expect(t, http.StatusOK, http.MethodGet, "/docs/etag", nil, "If-None-Match", `"1-`+strings.Repeat("0", 32)+`"`)

		// If-Match supplies the rev of an update.
		_, body = c.Expect(t, http.StatusCreated, http.MethodPut, "/docs/etag", map[string]any{"v": 2}, "If-Match", etag)
		rev2 := okRev(t, "PUT with If-Match", body, "etag")
		expectError(t, c, http.StatusConflict, "conflict", "Document update conflict.", http.MethodPut, "/docs/etag", map[string]any{"v": 3}, "If-Match", etag)
		expectError(t, c, http.StatusBadRequest, "bad_request", "Document rev and etag have different values",
			http.MethodPut, "/docs/etag", map[string]any{"_rev": rev2, "v": 3}, "If-Match", etag)
	})

	t.Run("Copy", func(t *testing.T) {
		src := putDoc(t, c, "docs", "src", map[string]any{"a": 1, "nested": map[string]any{"b": []int{1, 2}}})
		status, hdr, body := c.Do(t, "COPY", "/docs/src", nil, "Destination", "dst")
		if status != http.StatusCreated {
			t.Fatalf("COPY /docs/src: status %d, want 201; body %s", status, body)
		}
		dst := okRev(t, "COPY", body, "dst")
		if revPos(t, dst) != 1 {
			t.Errorf("COPY to a new doc gave %s, want 1-...", dst)
		}
		if et := hdr.Get("ETag"); et != `"`+dst+`"` {
			t.Errorf("COPY: ETag %q, want %q", et, `"`+dst+`"`)
		}
		jsonEq(t, "GET /docs/dst", c.Get(t, "/docs/dst"), `{"_id":"dst","_rev":"`+dst+`","a":1,"nested":{"b":[1,2]}}`)
		if doc := c.Get(t, "/docs/src"); doc["_rev"] != src {
			t.Errorf("COPY changed the source: %v", doc)
		}

		expectError(t, c, http.StatusConflict, "conflict", "Document update conflict.", "COPY", "/docs/src", nil, "Destination", "dst")
		_, body = c.Expect(t, http.StatusCreated, "COPY", "/docs/src", nil, "Destination", "dst?rev="+dst)
		if rev := okRev(t, "COPY onto dst?rev=", body, "dst"); revPos(t, rev) != 2 {
			t.Errorf("COPY over dst gave %s, want 2-...", rev)
		}
		// COPY of a given source rev: here a losing conflict leaf.
		base := putDoc(t, c, "docs", "src2", map[string]any{"a": 0})
		loser, winner := "2-"+strings.Repeat("1", 32), "2-"+strings.Repeat("f", 32)
		bulkNoNewEdits(t, c, "docs", branchDoc("src2", base, loser, false), branchDoc("src2", base, winner, false))
		c.Expect(t, http.StatusCreated, "COPY", "/docs/src2?rev="+loser, nil, "Destination", "from-loser")
		if doc := c.Get(t, "/docs/from-loser"); doc["branch"] != loser {
			t.Errorf("COPY /docs/src2?rev=%s copied %v, want the body of %s (branch %q)", loser, doc, loser, loser)
		}
		c.Expect(t, http.StatusCreated, "COPY", "/docs/src2", nil, "Destination", "from-winner")
		if doc := c.Get(t, "/docs/from-winner"); doc["branch"] != winner {
			t.Errorf("COPY /docs/src2 copied %v, want the winner %s", doc, winner)
		}
		expectError(t, c, http.StatusNotFound, "not_found", "missing", "COPY", "/docs/nope", nil, "Destination", "x")
		expectError(t, c, http.StatusBadRequest, "bad_request", "Destination header is mandatory for COPY.", "COPY", "/docs/src", nil)
	})

	t.Run("Batch", func(t *testing.T) {
		_, body := c.Expect(t, http.StatusAccepted, http.MethodPut, "/docs/batched?batch=ok", map[string]any{"v": 1})
		jsonEq(t, "PUT ?batch=ok", body, `{"ok":true,"id":"batched"}`)
		testnode.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
			status, _, body := c.Do(t, http.MethodGet, "/docs/batched", nil)
			return status == http.StatusOK, "GET /docs/batched: " + string(body)
		})
	})

	t.Run("NewEditsFalse", func(t *testing.T) {
		rev := "3-" + strings.Repeat("9", 32)
		_, body := c.Expect(t, http.StatusCreated, http.MethodPut, "/docs/replicated?new_edits=false", map[string]any{"_rev": rev, "v": 1})
		if got := okRev(t, "PUT ?new_edits=false", body, "replicated"); got != rev {
			t.Errorf("PUT ?new_edits=false: rev %s, want the given %s", got, rev)
		}
		jsonEq(t, "GET /docs/replicated", c.Get(t, "/docs/replicated"), `{"_id":"replicated","_rev":"`+rev+`","v":1}`)
		// A second branch creates a conflict, not an error.
		other := "3-" + strings.Repeat("1", 32)
		c.Expect(t, http.StatusCreated, http.MethodPut, "/docs/replicated?new_edits=false", map[string]any{"_rev": other, "v": 2})
		jsonEq(t, "conflicts after new_edits=false", c.Get(t, "/docs/replicated?conflicts=true")["_conflicts"], `["`+other+`"]`)

		expectError(t, c, http.StatusBadRequest, "bad_request", "When `new_edits: false`, the document needs `_rev` or `_revisions` specified",
			http.MethodPut, "/docs/replicated2?new_edits=false", map[string]any{"v": 1})
	})

	t.Run("DesignDocs", func(t *testing.T) {
		ddoc := `{"language":"javascript","views":{"by_v":{"map":"function(doc){ if (doc.v) emit(doc.v, null); }"}}}`
		_, body := c.Expect(t, http.StatusCreated, http.MethodPut, "/docs/_design/app", ddoc)
		rev := okRev(t, "PUT /docs/_design/app", body, "_design/app")
		_, body = c.Expect(t, http.StatusOK, http.MethodGet, "/docs/_design/app", nil)
		jsonEq(t, "GET /docs/_design/app", body, `{"_id":"_design/app","_rev":"`+rev+`",`+ddoc[1:])
		// An encoded slash reaches the same document.
		if doc := c.Get(t, "/docs/_design%2Fapp"); doc["_id"] != "_design/app" {
			t.Errorf("GET /docs/_design%%2Fapp = %v", doc)
		}
		rev2 := putDoc(t, c, "docs", "_design/app", map[string]any{"_rev": rev, "language": "javascript"})
		_, body = c.Expect(t, http.StatusOK, http.MethodDelete, "/docs/_design/app?rev="+rev2, nil)
		okRev(t, "DELETE design doc", body, "_design/app")
		expectError(t, c, http.StatusNotFound, "not_found", "deleted", http.MethodGet, "/docs/_design/app", nil)
	})

	t.Run("ReservedIDs", func(t *testing.T) {
		const reason = "Only reserved document ids may start with underscore."
		for _, path := range []string{"/docs/_foo", "/docs/_bar%2Fbaz"} {
			expectError(t, c, http.StatusBadRequest, "illegal_docid", reason, http.MethodPut, path, map[string]any{"v": 1})
		}
		expectError(t, c, http.StatusBadRequest, "illegal_docid", reason, http.MethodPost, "/docs", map[string]any{"_id": "_foo"})
		expectError(t, c, http.StatusBadRequest, "illegal_docid", "Illegal document id `_design/`", http.MethodPost, "/docs", map[string]any{"_id": "_design/"})
		expectError(t, c, http.StatusBadRequest, "illegal_docid", "Illegal document id `_local/`", http.MethodPost, "/docs", map[string]any{"_id": "_local/"})
		expectError(t, c, http.StatusBadRequest, "doc_validation", "Bad special document member: _attachmentz", http.MethodPut, "/docs/special", map[string]any{"_attachmentz": 1})
		expectError(t, c, http.StatusBadRequest, "bad_request", "Document must be a JSON object", http.MethodPut, "/docs/notobj", `[1]`)
		expectError(t, c, http.StatusBadRequest, "bad_request", "invalid UTF-8 JSON", http.MethodPut, "/docs/badjson", `{"v":`)
		// Ignored specials are accepted and not stored.
		rev := putDoc(t, c, "docs", "ignored", map[string]any{"v": 1, "_revs_info": []any{}, "_conflicts": []any{}, "_deleted_conflicts": []any{}, "_local_seq": 1})
		jsonEq(t, "GET /docs/ignored", c.Get(t, "/docs/ignored"), `{"_id":"ignored","_rev":"`+rev+`","v":1}`)
		hdr := expectError(t, c, http.StatusMethodNotAllowed, "method_not_allowed", "Only DELETE,GET,HEAD,POST,PUT,COPY allowed", "PATCH", "/docs/ignored", map[string]any{})
		if a := hdr.Get("Allow"); a != "DELETE,GET,HEAD,POST,PUT,COPY" {
			t.Errorf("PATCH /docs/ignored: Allow %q", a)
		}
	})
}

// TestLocalDocs covers /{db}/_local/{id}.
func TestLocalDocs(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := n.Client()
	createDB(t, c, "loc")

	_, body := c.Expect(t, http.StatusCreated, http.MethodPut, "/loc/_local/ck", map[string]any{"seq": 1})
	jsonEq(t, "PUT /loc/_local/ck", body, `{"ok":true,"id":"_local/ck","rev":"0-1"}`)
	jsonEq(t, "GET /loc/_local/ck", c.Get(t, "/loc/_local/ck"), `{"_id":"_local/ck","_rev":"0-1","seq":1}`)

	_, body = c.Expect(t, http.StatusCreated, http.MethodPut, "/loc/_local/ck", map[string]any{"_rev": "0-1", "seq": 2})
	jsonEq(t, "PUT /loc/_local/ck rev 0-1", body, `{"ok":true,"id":"_local/ck","rev":"0-2"}`)
	_, body = c.Expect(t, http.StatusCreated, http.MethodPut, "/loc/_local/ck?rev=0-2", map[string]any{"seq": 3})
	jsonEq(t, "PUT /loc/_local/ck?rev=0-2", body, `{"ok":true,"id":"_local/ck","rev":"0-3"}`)
	jsonEq(t, "GET /loc/_local/ck", c.Get(t, "/loc/_local/ck"), `{"_id":"_local/ck","_rev":"0-3","seq":3}`)

	// There is no conflict check: the new rev derives from the supplied
	// one (none: 0-1), not from the stored one.
	_, body = c.Expect(t, http.StatusCreated, http.MethodPut, "/loc/_local/other", map[string]any{"v": 1})
	jsonEq(t, "PUT /loc/_local/other", body, `{"ok":true,"id":"_local/other","rev":"0-1"}`)
	c.Expect(t, http.StatusCreated, http.MethodPut, "/loc/_local/other", map[string]any{"_rev": "0-1", "v": 2})
	_, body = c.Expect(t, http.StatusCreated, http.MethodPut, "/loc/_local/other", map[string]any{"v": 3})
	jsonEq(t, "PUT /loc/_local/other without _rev over 0-2", body, `{"ok":true,"id":"_local/other","rev":"0-1"}`)
	_, body = c.Expect(t, http.StatusCreated, http.MethodPut, "/loc/_local/other", map[string]any{"_rev": "0-7", "v": 4})
	jsonEq(t, "PUT /loc/_local/other with stale-or-future _rev 0-7", body, `{"ok":true,"id":"_local/other","rev":"0-8"}`)
	jsonEq(t, "GET /loc/_local/other", c.Get(t, "/loc/_local/other"), `{"_id":"_local/other","_rev":"0-8","v":4}`)

	// POST /{db} and an encoded slash reach the same namespace.
	_, body = c.Expect(t, http.StatusCreated, http.MethodPost, "/loc", map[string]any{"_id": "_local/posted", "x": 1})
	jsonEq(t, "POST /loc _local doc", body, `{"ok":true,"id":"_local/posted","rev":"0-1"}`)
	if doc := c.Get(t, "/loc/_local%2Fposted"); doc["x"] == nil {
		t.Errorf("GET /loc/_local%%2Fposted = %v", doc)
	}

	// _local docs are not in _all_docs and do not count.
	createDBDocs := c.Get(t, "/loc/_all_docs")
	if rs := rows(t, createDBDocs); len(rs) != 0 {
		t.Errorf("_all_docs lists _local docs: %v", rs)
	}
	if info := c.Get(t, "/loc"); num(t, info, "doc_count") != 0 {
		t.Errorf("doc_count %v, want 0 with only _local docs", info["doc_count"])
	}

	// Deleting removes the doc.
	_, body = c.Expect(t, http.StatusOK, http.MethodDelete, "/loc/_local/ck?rev=0-3", nil)
	jsonEq(t, "DELETE /loc/_local/ck?rev=0-3", body, `{"ok":true,"id":"_local/ck","rev":"0-0"}`)
	expectError(t, c, http.StatusNotFound, "not_found", "missing", http.MethodGet, "/loc/_local/ck", nil)
	// A new write starts again at 0-1.
	_, body = c.Expect(t, http.StatusCreated, http.MethodPut, "/loc/_local/ck", map[string]any{"seq": 9})
	jsonEq(t, "PUT /loc/_local/ck after delete", body, `{"ok":true,"id":"_local/ck","rev":"0-1"}`)

	expectError(t, c, http.StatusBadRequest, "bad_request", "Invalid _local document id.", http.MethodGet, "/loc/_local", nil)
	expectError(t, c, http.StatusNotFound, "not_found", "missing", http.MethodGet, "/loc/_local/none", nil)
}
