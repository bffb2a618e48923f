package e2e

import (
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestAllDocs covers GET and POST /{db}/_all_docs and /{db}/_design_docs on
// a database with q=4, so that rows are merged across shards.
func TestAllDocs(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := n.Client()
	createDBQuery(t, c, "ad", "?q=4")

	// _all_docs orders ids by raw bytes: digits < upper case < "_" < lower
	// case < "~" < multi-byte UTF-8, and "/" < "0".
	ids := []string{"Apple", "B1", "_design/dd", "a", "a/b", "a0", "aa", "b", "z", "é", "1", "10", "2", "~tilde", "conflicted"}
	revs := map[string]string{}
	for _, id := range ids {
		revs[id] = putDoc(t, c, "ad", id, map[string]any{"name": id})
	}
	sorted := slices.Clone(ids)
	sort.Strings(sorted)

	// Noise that must not show up: a deleted doc and a _local doc.
	delRev := deleteDoc(t, c, "ad", "deleted", putDoc(t, c, "ad", "deleted", map[string]any{}))
	putDoc(t, c, "ad", "_local/hidden", map[string]any{})

	// A conflicted document: its winner is the highest of two rev-2 leaves.
	loser, winner := "2-"+strings.Repeat("1", 32), "2-"+strings.Repeat("f", 32)
	bulkNoNewEdits(t, c, "ad", branchDoc("conflicted", revs["conflicted"], loser, false), branchDoc("conflicted", revs["conflicted"], winner, false))
	revs["conflicted"] = winner

	total := int64(len(ids))
	between := func(lo, hi string, inclusive bool) []string {
		var out []string
		for _, id := range sorted {
			if id >= lo && (id < hi || inclusive && id == hi) {
				out = append(out, id)
			}
		}
		return out
	}
	reversed := func(s []string) []string {
		s = slices.Clone(s)
		slices.Reverse(s)
		return s
	}
	q := jsonQuery

	t.Run("Ranges", func(t *testing.T) {
		for _, tc := range []struct {
			query  string
			want   []string
			offset int64
		}{
			{"", sorted, 0},
			{"?startkey=" + q("a") + "&endkey=" + q("b"), between("a", "b", true), int64(slices.Index(sorted, "a"))},
			{"?start_key=" + q("a") + "&end_key=" + q("b"), between("a", "b", true), int64(slices.Index(sorted, "a"))},
			{"?startkey=" + q("a") + "&endkey=" + q("b") + "&inclusive_end=false", between("a", "b", false), int64(slices.Index(sorted, "a"))},
			{"?startkey_docid=a&endkey_docid=b", between("a", "b", true), int64(slices.Index(sorted, "a"))},
			{"?start_key_doc_id=a&end_key_doc_id=b", between("a", "b", true), int64(slices.Index(sorted, "a"))},
			{"?startkey=" + q("_") + "&endkey=" + q("_\ufff0"), []string{"_design/dd"}, int64(slices.Index(sorted, "_design/dd"))},
			{"?key=" + q("aa"), []string{"aa"}, int64(slices.Index(sorted, "aa"))},
			{"?key=" + q("nope"), nil, -1},
			{"?limit=3&skip=2", sorted[2:5], 2},
			{"?limit=0", nil, 0},
			{"?skip=1000", nil, total},
			{"?descending=true", reversed(sorted), 0},
			{"?descending=true&startkey=" + q("b") + "&endkey=" + q("a"), reversed(between("a", "b", true)), int64(len(sorted) - 1 - slices.Index(sorted, "b"))},
			{"?descending=true&startkey=" + q("b") + "&limit=2", reversed(between("", "b", true))[:2], int64(len(sorted) - 1 - slices.Index(sorted, "b"))},
			{"?descending=true&skip=1&limit=2", reversed(sorted)[1:3], 1},
		} {
			m := c.Get(t, "/ad/_all_docs"+tc.query)
			rs := rows(t, m)
			got := rowIDs(rs)
			if !equalStrings(got, tc.want) {
				t.Errorf("GET /ad/_all_docs%s: ids %q, want %q", tc.query, got, tc.want)
			}
			if tot := num(t, m, "total_rows"); tot != total {
				t.Errorf("GET /ad/_all_docs%s: total_rows %d, want %d", tc.query, tot, total)
			}
			if tc.offset >= 0 {
				if off := num(t, m, "offset"); off != tc.offset {
					t.Errorf("GET /ad/_all_docs%s: offset %d, want %d", tc.query, off, tc.offset)
				}
			}
			for _, r := range rs {
				id, _ := r["id"].(string)
				if r["key"] != id {
					t.Errorf("GET /ad/_all_docs%s: row %v: key differs from id", tc.query, r)
				}
				jsonEq(t, "GET /ad/_all_docs"+tc.query+" row "+id+" value", r["value"], `{"rev":"`+revs[id]+`"}`)
				if _, ok := r["doc"]; ok {
					t.Errorf("GET /ad/_all_docs%s: row %s has a doc without include_docs", tc.query, id)
				}
			}
		}
	})

	t.Run("Keys", func(t *testing.T) {
		keys := []string{"b", "nope", "a", "deleted", "b"}
		want := `[
			{"id":"b","key":"b","value":{"rev":"` + revs["b"] + `"}},
			{"key":"nope","error":"not_found"},
			{"id":"a","key":"a","value":{"rev":"` + revs["a"] + `"}},
			{"id":"deleted","key":"deleted","value":{"rev":"` + delRev + `","deleted":true}},
			{"id":"b","key":"b","value":{"rev":"` + revs["b"] + `"}}
		]`
		check := func(what string, m map[string]any) {
			t.Helper()
			jsonEq(t, what+" rows", m["rows"], want)
			if tot := num(t, m, "total_rows"); tot != total {
				t.Errorf("%s: total_rows %d, want %d", what, tot, total)
			}
			if off, ok := m["offset"]; !ok || off != nil {
				t.Errorf("%s: offset %#v, want null (keys queries have no offset)", what, m["offset"])
			}
		}
		check("GET /ad/_all_docs?keys=", c.Get(t, "/ad/_all_docs?keys="+q(keys)))
		var m map[string]any
		c.ExpectJSON(t, http.StatusOK, http.MethodPost, "/ad/_all_docs", map[string]any{"keys": keys}, &m)
		check("POST /ad/_all_docs", m)

		// include_docs: deleted rows carry "doc": null.
		c.ExpectJSON(t, http.StatusOK, http.MethodPost, "/ad/_all_docs?include_docs=true", map[string]any{"keys": []string{"a", "deleted", "nope"}}, &m)
		jsonEq(t, "POST /ad/_all_docs?include_docs=true rows", m["rows"], `[
			{"id":"a","key":"a","value":{"rev":"`+revs["a"]+`"},"doc":{"_id":"a","_rev":"`+revs["a"]+`","name":"a"}},
			{"id":"deleted","key":"deleted","value":{"rev":"`+delRev+`","deleted":true},"doc":null},
			{"key":"nope","error":"not_found"}
		]`)
		// Query-string parameters apply to POSTed keys too.
		c.ExpectJSON(t, http.StatusOK, http.MethodPost, "/ad/_all_docs?limit=1", map[string]any{"keys": []string{"z", "a"}}, &m)
		if got := rowIDs(rows(t, m)); !equalStrings(got, []string{"z"}) {
			t.Errorf("POST /ad/_all_docs?limit=1 with keys [z a]: ids %q, want [z]", got)
		}
	})

	t.Run("IncludeDocs", func(t *testing.T) {
		m := c.Get(t, "/ad/_all_docs?include_docs=true&startkey="+q("a")+"&endkey="+q("a0"))
		rs := rows(t, m)
		if got := rowIDs(rs); !equalStrings(got, []string{"a", "a/b", "a0"}) {
			t.Fatalf("ids %q, want [a a/b a0]", got)
		}
		for _, r := range rs {
			id := r["id"].(string)
			jsonEq(t, "include_docs row "+id, r["doc"], `{"_id":"`+id+`","_rev":"`+revs[id]+`","name":"`+id+`"}`)
		}

		m = c.Get(t, "/ad/_all_docs?include_docs=true&conflicts=true&key="+q("conflicted"))
		rs = rows(t, m)
		if len(rs) != 1 {
			t.Fatalf("key=conflicted: %d rows, want 1", len(rs))
		}
		doc, _ := rs[0]["doc"].(map[string]any)
		if doc == nil {
			t.Fatalf("key=conflicted: row %v has no doc", rs[0])
		}
		jsonEq(t, "conflicted doc _conflicts", doc["_conflicts"], `["`+loser+`"]`)
		if doc["_rev"] != winner {
			t.Errorf("conflicted doc _rev %v, want %s", doc["_rev"], winner)
		}
		m = c.Get(t, "/ad/_all_docs?include_docs=true&key="+q("conflicted"))
		if doc, _ := rows(t, m)[0]["doc"].(map[string]any); doc != nil {
			if _, ok := doc["_conflicts"]; ok {
				t.Errorf("_conflicts present without conflicts=true: %v", doc)
			}
		}
	})

	t.Run("UpdateSeq", func(t *testing.T) {
		m := c.Get(t, "/ad/_all_docs?update_seq=true&limit=1")
		if _, ok := m["update_seq"]; !ok {
			t.Fatalf("update_seq=true: no update_seq in %v", m)
		}
		if got, want := seqPrefix(t, m["update_seq"]), seqPrefix(t, c.Get(t, "/ad")["update_seq"]); got != want {
			t.Errorf("_all_docs update_seq %v, db update_seq sums to %d", m["update_seq"], want)
		}
		if _, ok := c.Get(t, "/ad/_all_docs?limit=1")["update_seq"]; ok {
			t.Errorf("update_seq present without update_seq=true")
		}
	})

	t.Run("DesignDocs", func(t *testing.T) {
		m := c.Get(t, "/ad/_design_docs")
		rs := rows(t, m)
		if got := rowIDs(rs); !equalStrings(got, []string{"_design/dd"}) {
			t.Errorf("GET /ad/_design_docs: ids %q, want [_design/dd]", got)
		}
		m = c.Get(t, "/ad/_design_docs?include_docs=true")
		if doc, _ := rows(t, m)[0]["doc"].(map[string]any); doc == nil || doc["name"] != "_design/dd" {
			t.Errorf("GET /ad/_design_docs?include_docs=true: row %v", rows(t, m)[0])
		}
	})

	t.Run("Errors", func(t *testing.T) {
		for _, tc := range []struct {
			query, errName, reason string
		}{
			{"?limit=abc", "query_parse_error", `Invalid value for integer: "abc"`},
			{"?limit=-1", "query_parse_error", `Invalid value for positive integer: "-1"`},
			{"?skip=x", "query_parse_error", `Invalid value for integer: "x"`},
			{"?descending=maybe", "query_parse_error", `Invalid boolean parameter: "maybe"`},
			{"?include_docs=yes", "query_parse_error", `Invalid boolean parameter: "yes"`},
			{"?startkey=notjson", "bad_request", "invalid UTF-8 JSON"},
			{"?keys=" + q(map[string]any{}), "bad_request", "`keys` parameter must be an array."},
		} {
			expectError(t, c, http.StatusBadRequest, tc.errName, tc.reason, http.MethodGet, "/ad/_all_docs"+tc.query, nil)
		}
		expectError(t, c, http.StatusBadRequest, "bad_request", "`keys` body member must be an array.", http.MethodPost, "/ad/_all_docs", map[string]any{"keys": "a"})
		expectError(t, c, http.StatusBadRequest, "bad_request", "Request body must be a JSON object", http.MethodPost, "/ad/_all_docs", `["a"]`)
		expectError(t, c, http.StatusUnsupportedMediaType, "bad_content_type", "Content-Type must be application/json", http.MethodPost, "/ad/_all_docs", `{"keys":["a"]}`, "Content-Type", "text/plain")
		hdr := expectError(t, c, http.StatusMethodNotAllowed, "method_not_allowed", "Only GET,HEAD,POST allowed", http.MethodPut, "/ad/_all_docs", map[string]any{})
		if a := hdr.Get("Allow"); a != "GET,HEAD,POST" {
			t.Errorf("PUT /ad/_all_docs: Allow %q, want GET,HEAD,POST", a)
		}
	})

	// An empty database answers with no rows.
	createDB(t, c, "empty")
	jsonEq(t, "GET /empty/_all_docs", c.Get(t, "/empty/_all_docs"), `{"total_rows":0,"offset":0,"rows":[]}`)
}
