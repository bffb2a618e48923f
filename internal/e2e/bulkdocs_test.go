package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestBulkDocs covers POST /{db}/_bulk_docs.
func TestBulkDocs(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := n.Client()
	createDB(t, c, "bulk")

	post := func(t *testing.T, body any, want int) []map[string]any {
		t.Helper()
		var res []map[string]any
		c.ExpectJSON(t, want, http.MethodPost, "/bulk/_bulk_docs", body, &res)
		return res
	}
	okResult := func(t *testing.T, r map[string]any, id string) string {
		t.Helper()
		if r["ok"] != true || (id != "" && r["id"] != id) {
			t.Fatalf("result %v, want {ok:true, id:%q, rev}", r, id)
		}
		rev, _ := r["rev"].(string)
		if !revRE.MatchString(rev) && !strings.HasPrefix(id, "_local/") {
			t.Fatalf("result %v: bad rev", r)
		}
		return rev
	}

	var revA, revB string
	t.Run("Create", func(t *testing.T) {
		res := post(t, map[string]any{"docs": []any{
			map[string]any{"_id": "a", "v": 1},
			map[string]any{"_id": "b", "v": 2},
			map[string]any{"v": 3},
			map[string]any{"_id": "_local/lb", "v": 4},
		}}, http.StatusCreated)
		if len(res) != 4 {
			t.Fatalf("%d results, want 4: %v", len(res), res)
		}
		revA = okResult(t, res[0], "a")
		revB = okResult(t, res[1], "b")
		gen := okResult(t, res[2], "")
		if id, _ := res[2]["id"].(string); !hex32RE.MatchString(id) {
			t.Errorf("generated id %q, want 32 lowercase hex", res[2]["id"])
		} else if doc := c.Get(t, docPath("bulk", id)); doc["_rev"] != gen {
			t.Errorf("GET %s: %v, want _rev %s", id, doc, gen)
		}
		if rev := okResult(t, res[3], "_local/lb"); rev != "0-1" {
			t.Errorf("_local doc in _bulk_docs got rev %q, want 0-1", rev)
		}
		for _, r := range res[:3] {
			if revPos(t, r["rev"].(string)) != 1 {
				t.Errorf("new doc result %v, want a 1- rev", r)
			}
		}
	})

	t.Run("MixedResults", func(t *testing.T) {
		putDoc(t, c, "bulk", "x", map[string]any{"v": 0})
		res := post(t, map[string]any{"docs": []any{
			map[string]any{"_id": "a", "_rev": revA, "v": 10},
			map[string]any{"_id": "b", "_rev": revB, "_deleted": true},
			map[string]any{"_id": "x", "v": "no rev"},
			map[string]any{"_id": "c", "v": 5},
			map[string]any{"_id": "a", "_rev": revA, "v": "stale"},
			map[string]any{"_id": "ghost", "_rev": "1-" + strings.Repeat("0", 32)},
		}}, http.StatusCreated)
		if len(res) != 6 {
			t.Fatalf("%d results, want 6: %v", len(res), res)
		}
		newA := okResult(t, res[0], "a")
		if revPos(t, newA) != 2 {
			t.Errorf("update of a gave %s, want 2-...", newA)
		}
		if revPos(t, okResult(t, res[1], "b")) != 2 {
			t.Errorf("deletion of b gave %v, want 2-...", res[1])
		}
		conflict := `{"error":"conflict","reason":"Document update conflict."}`
		jsonEq(t, "result for x without _rev", res[2], `{"id":"x","error":"conflict","reason":"Document update conflict."}`)
		okResult(t, res[3], "c")
		jsonEq(t, "result for a with a stale _rev", res[4], `{"id":"a",`+conflict[1:])
		jsonEq(t, "result for a _rev on a missing doc", res[5], `{"id":"ghost",`+conflict[1:])

		if doc := c.Get(t, "/bulk/a"); doc["v"] == nil || doc["_rev"] != newA {
			t.Errorf("GET /bulk/a = %v, want v:10 at %s", doc, newA)
		}
		expectError(t, c, http.StatusNotFound, "not_found", "deleted", http.MethodGet, "/bulk/b", nil)
		expectError(t, c, http.StatusNotFound, "not_found", "missing", http.MethodGet, "/bulk/ghost", nil)
	})

	t.Run("NewEditsFalse", func(t *testing.T) {
		h := func(ch string) string { return strings.Repeat(ch, 32) }
		docs := []map[string]any{
			{"_id": "rep", "_rev": "3-" + h("c"), "_revisions": map[string]any{"start": 3, "ids": []string{h("c"), h("b"), h("a")}}, "v": "c"},
			{"_id": "rep", "_revisions": map[string]any{"start": 3, "ids": []string{h("d"), h("b"), h("a")}}, "v": "d"},
			{"_id": "plain", "_rev": "7-" + h("e"), "v": "e"},
		}
		bulkNoNewEdits(t, c, "bulk", docs...)
		// Sending the same revisions again is a no-op.
		bulkNoNewEdits(t, c, "bulk", docs...)

		doc := c.Get(t, "/bulk/rep?revs=true&conflicts=true")
		jsonEq(t, "GET /bulk/rep?revs=true&conflicts=true", doc, `{
			"_id":"rep","_rev":"3-`+h("d")+`","v":"d",
			"_revisions":{"start":3,"ids":["`+h("d")+`","`+h("b")+`","`+h("a")+`"]},
			"_conflicts":["3-`+h("c")+`"]}`)
		doc = c.Get(t, "/bulk/plain?revs=true")
		jsonEq(t, "GET /bulk/plain?revs=true", doc, `{"_id":"plain","_rev":"7-`+h("e")+`","v":"e","_revisions":{"start":7,"ids":["`+h("e")+`"]}}`)

		// An interactive edit extends the winning leaf.
		rev := putDoc(t, c, "bulk", "rep", map[string]any{"_rev": "3-" + h("d"), "v": "next"})
		if revPos(t, rev) != 4 {
			t.Errorf("edit of 3-%s gave %s, want 4-...", h("d"), rev)
		}
		res := post(t, map[string]any{"docs": []any{map[string]any{"_id": "empty-bulk"}}, "new_edits": true}, http.StatusCreated)
		okResult(t, res[0], "empty-bulk")

		expectError(t, c, http.StatusBadRequest, "bad_request", "When `new_edits: false`, the document needs `_rev` or `_revisions` specified",
			http.MethodPost, "/bulk/_bulk_docs", map[string]any{"docs": []any{map[string]any{"_id": "norev"}}, "new_edits": false})
		expectError(t, c, http.StatusBadRequest, "bad_request", "`new_edits` parameter must be a boolean.",
			http.MethodPost, "/bulk/_bulk_docs", map[string]any{"docs": []any{map[string]any{"_id": "x1"}}, "new_edits": "no"})
	})

	t.Run("Empty", func(t *testing.T) {
		res := post(t, map[string]any{"docs": []any{}}, http.StatusCreated)
		if len(res) != 0 {
			t.Errorf("empty docs: results %v, want []", res)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		for _, tc := range []struct {
			body          any
			errName, want string
		}{
			{map[string]any{}, "bad_request", "POST body must include `docs` parameter."},
			{map[string]any{"docs": map[string]any{}}, "bad_request", "`docs` parameter must be an array."},
			{`[{"_id":"a"}]`, "bad_request", "Request body must be a JSON object"},
			{`{"docs":[{"_id":"a"}`, "bad_request", "invalid UTF-8 JSON"},
			{map[string]any{"docs": []any{map[string]any{"_id": "_reserved"}}}, "illegal_docid", "Only reserved document ids may start with underscore."},
			{map[string]any{"docs": []any{map[string]any{"_id": "ok", "_foo": 1}}}, "doc_validation", "Bad special document member: _foo"},
			{map[string]any{"docs": []any{map[string]any{"_id": "ok", "_rev": "bogus"}}}, "bad_request", "Invalid rev format"},
			{map[string]any{"docs": []any{"not an object"}}, "bad_request", "Document must be a JSON object"},
		} {
			expectError(t, c, http.StatusBadRequest, tc.errName, tc.want, http.MethodPost, "/bulk/_bulk_docs", tc.body)
		}
		expectError(t, c, http.StatusUnsupportedMediaType, "bad_content_type", "Content-Type must be application/json", http.MethodPost, "/bulk/_bulk_docs", `{"docs":[]}`, "Content-Type", "text/plain")
		expectError(t, c, http.StatusUnsupportedMediaType, "bad_content_type", "Content-Type must be application/json", http.MethodPost, "/bulk/_bulk_docs", nil)
		hdr := expectError(t, c, http.StatusMethodNotAllowed, "method_not_allowed", "Only POST allowed", http.MethodGet, "/bulk/_bulk_docs", nil)
		if a := hdr.Get("Allow"); a != "POST" {
			t.Errorf("GET /bulk/_bulk_docs: Allow %q, want POST", a)
		}
		// Nothing from the failed requests was written.
		expectError(t, c, http.StatusNotFound, "not_found", "missing", http.MethodGet, "/bulk/ok", nil)
	})
}
