package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/divandb/divan/internal/testnode"
)

// TestReplicationEndpoints covers the endpoints a replicator uses:
// _revs_diff, _missing_revs, _bulk_get, open_revs, _bulk_docs with
// new_edits=false, _local checkpoints and _ensure_full_commit.
func TestReplicationEndpoints(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := n.Client()
	createDB(t, c, "rep")

	h := func(ch string) string { return strings.Repeat(ch, 32) }
	r1 := putDoc(t, c, "rep", "doc", map[string]any{"v": 1})
	r2 := putDoc(t, c, "rep", "doc", map[string]any{"_rev": r1, "v": 2})
	full := putDoc(t, c, "rep", "full", map[string]any{})

	t.Run("RevsDiff", func(t *testing.T) {
		missing3 := "3-" + h("e")
		var got map[string]any
		c.ExpectJSON(t, http.StatusOK, http.MethodPost, "/rep/_revs_diff", map[string]any{
			"doc":     []string{r1, r2, missing3},
			"full":    []string{full},
			"newdoc":  []string{"1-" + h("a"), "2-" + h("b")},
			"nothing": []string{},
		}, &got)
		jsonEq(t, "_revs_diff doc", got["doc"], `{"missing":["`+missing3+`"],"possible_ancestors":["`+r2+`"]}`)
		if nd, ok := got["newdoc"].(map[string]any); !ok {
			t.Errorf("_revs_diff: no entry for newdoc in %v", got)
		} else {
			m := strs(t, arr(t, nd, "missing"))
			slices.Sort(m)
			if !equalStrings(m, []string{"1-" + h("a"), "2-" + h("b")}) {
				t.Errorf("_revs_diff newdoc missing %q", m)
			}
			if _, ok := nd["possible_ancestors"]; ok {
				t.Errorf("_revs_diff newdoc (unknown doc) has possible_ancestors: %v", nd)
			}
		}
		for _, id := range []string{"full", "nothing"} {
			if _, ok := got[id]; ok {
				t.Errorf("_revs_diff: %s has nothing missing but is listed: %v", id, got)
			}
		}
		var empty map[string]any
		c.ExpectJSON(t, http.StatusOK, http.MethodPost, "/rep/_revs_diff", map[string]any{}, &empty)
		if len(empty) != 0 {
			t.Errorf("_revs_diff {}: %v, want {}", empty)
		}
		expectError(t, c, http.StatusBadRequest, "bad_request", "", http.MethodPost, "/rep/_revs_diff", `[1]`)
	})

	t.Run("MissingRevs", func(t *testing.T) {
		missing := "3-" + h("f")
		_, body := c.Expect(t, http.StatusOK, http.MethodPost, "/rep/_missing_revs", map[string]any{
			"doc":  []string{r2, missing},
			"full": []string{full},
		})
		jsonEq(t, "_missing_revs", body, `{"missing_revs":{"doc":["`+missing+`"]}}`)
	})

	t.Run("BulkGet", func(t *testing.T) {
		var res struct {
			Results []struct {
				ID   string           `json:"id"`
				Docs []map[string]any `json:"docs"`
			} `json:"results"`
		}
		c.ExpectJSON(t, http.StatusOK, http.MethodPost, "/rep/_bulk_get?revs=true", map[string]any{"docs": []map[string]any{
			{"id": "doc", "rev": r2},
			{"id": "doc"},
			{"id": "nope"},
			{"id": "doc", "rev": "9-" + h("9")},
		}}, &res)
		if len(res.Results) != 4 {
			t.Fatalf("_bulk_get: %d results, want 4", len(res.Results))
		}
		ok0 := res.Results[0].Docs
		if res.Results[0].ID != "doc" || len(ok0) != 1 || ok0[0]["ok"] == nil {
			t.Fatalf("_bulk_get result 0: %+v", res.Results[0])
		}
		d := ok0[0]["ok"].(map[string]any)
		if d["_rev"] != r2 || d["v"] == nil {
			t.Errorf("_bulk_get doc@%s: %v", r2, d)
		}
		jsonEq(t, "_bulk_get revs=true _revisions", d["_revisions"], `{"start":2,"ids":["`+r2[2:]+`","`+r1[2:]+`"]}`)
		if d1 := res.Results[1].Docs; len(d1) != 1 || d1[0]["ok"] == nil || d1[0]["ok"].(map[string]any)["_rev"] != r2 {
			t.Errorf("_bulk_get without rev: %+v, want the winner %s", res.Results[1], r2)
		}
		for i, want := range []struct{ id, rev string }{{"nope", ""}, {"doc", "9-" + h("9")}} {
			r := res.Results[2+i]
			if r.ID != want.id || len(r.Docs) != 1 || r.Docs[0]["error"] == nil {
				t.Errorf("_bulk_get missing %s@%s: %+v, want an error entry", want.id, want.rev, r)
				continue
			}
			e := r.Docs[0]["error"].(map[string]any)
			if e["id"] != want.id || e["error"] != "not_found" {
				t.Errorf("_bulk_get missing %s@%s: error %v, want id %s error not_found", want.id, want.rev, e, want.id)
			}
			if want.rev != "" && e["rev"] != want.rev {
				t.Errorf("_bulk_get missing rev: error %v, want rev %s", e, want.rev)
			}
		}

		// latest=true turns an old rev into the current leaf.
		var lat struct {
			Results []struct {
				Docs []map[string]any `json:"docs"`
			} `json:"results"`
		}
		c.ExpectJSON(t, http.StatusOK, http.MethodPost, "/rep/_bulk_get?latest=true", map[string]any{"docs": []map[string]any{{"id": "doc", "rev": r1}}}, &lat)
		if len(lat.Results) != 1 || len(lat.Results[0].Docs) != 1 || lat.Results[0].Docs[0]["ok"] == nil {
			t.Fatalf("_bulk_get latest=true: %+v", lat)
		}
		if got := lat.Results[0].Docs[0]["ok"].(map[string]any)["_rev"]; got != r2 {
			t.Errorf("_bulk_get latest=true rev %s: got %v, want the leaf %s", r1, got, r2)
		}
		expectError(t, c, http.StatusBadRequest, "bad_request", "", http.MethodPost, "/rep/_bulk_get", map[string]any{"docs": "x"})
	})

	// A replicated branch merged with new_edits=false into a conflict.
	bA, bB := "3-"+h("a"), "3-"+h("b")
	t.Run("NewEditsFalseConflict", func(t *testing.T) {
		mk := func(rev string, v int) map[string]any {
			return map[string]any{
				"_id": "doc", "_rev": rev, "v": v,
				"_revisions": map[string]any{"start": 3, "ids": []string{rev[2:], "1" + h("0")[1:], r1[2:]}},
			}
		}
		// Branch A descends from a replicated 2-1000… that is not r2.
		docA := mk(bA, 30)
		docB := map[string]any{"_id": "doc", "_rev": bB, "v": 31, "_revisions": map[string]any{"start": 3, "ids": []string{h("b"), r2[2:], r1[2:]}}}
		bulkNoNewEdits(t, c, "rep", docA, docB)
		// Writing the same revs again changes nothing.
		bulkNoNewEdits(t, c, "rep", docA, docB)

		doc := c.Get(t, "/rep/doc?conflicts=true")
		if doc["_rev"] != bB {
			t.Errorf("winner %v, want %s (highest hash at pos 3)", doc["_rev"], bB)
		}
		jsonEq(t, "_conflicts", doc["_conflicts"], `["`+bA+`"]`)

		var got map[string]any
		c.ExpectJSON(t, http.StatusOK, http.MethodPost, "/rep/_revs_diff", map[string]any{"doc": []string{bA, bB, r2, "2-" + "1" + h("0")[1:]}}, &got)
		if len(got) != 0 {
			t.Errorf("_revs_diff of merged revs: %v, want {}", got)
		}

		_, body := c.Expect(t, http.StatusOK, http.MethodGet, "/rep/doc?open_revs=all&revs=true&latest=true", nil, "Accept", "application/json")
		leaves := map[string]map[string]any{}
		for _, e := range testnode.Array(t, body) {
			m, _ := e.(map[string]any)
			d, ok := m["ok"].(map[string]any)
			if !ok {
				t.Fatalf("open_revs=all element %v, want {ok:doc}", e)
			}
			leaves[str(t, d, "_rev")] = d
		}
		if len(leaves) != 2 || leaves[bA] == nil || leaves[bB] == nil {
			t.Fatalf("open_revs=all: leaves %v, want %s and %s", body, bA, bB)
		}
		jsonEq(t, "open_revs leaf A", leaves[bA], `{"_id":"doc","_rev":"`+bA+`","v":30,"_revisions":{"start":3,"ids":["`+h("a")+`","1`+h("0")[1:]+`","`+r1[2:]+`"]}}`)
		jsonEq(t, "open_revs leaf B", leaves[bB], `{"_id":"doc","_rev":"`+bB+`","v":31,"_revisions":{"start":3,"ids":["`+h("b")+`","`+r2[2:]+`","`+r1[2:]+`"]}}`)

		// The same as multipart/mixed.
		hdr, body := c.Expect(t, http.StatusOK, http.MethodGet, "/rep/doc?open_revs=all&revs=true&latest=true", nil, "Accept", "multipart/mixed")
		mt, params, err := mime.ParseMediaType(hdr.Get("Content-Type"))
		if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
			t.Fatalf("open_revs multipart: Content-Type %q", hdr.Get("Content-Type"))
		}
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		got2 := map[string]map[string]any{}
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("open_revs multipart: %v\n%s", err, body)
			}
			if ct := p.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("open_revs part Content-Type %q, want application/json", ct)
			}
			data, _ := io.ReadAll(p)
			d := testnode.Object(t, data)
			got2[str(t, d, "_rev")] = d
		}
		for rev, want := range leaves {
			jsonEq(t, "multipart open_revs "+rev, got2[rev], mustJSON(t, want))
		}
		if len(got2) != len(leaves) {
			t.Errorf("multipart open_revs: %d parts, want %d", len(got2), len(leaves))
		}

		// _changes style=all_docs shows both leaves.
		var ch changesResp
		c.ExpectJSON(t, http.StatusOK, http.MethodPost, "/rep/_changes?style=all_docs&filter=_doc_ids", map[string]any{"doc_ids": []string{"doc"}}, &ch)
		if len(ch.Results) != 1 || !equalStrings(changeRevs(t, ch.Results[0]), []string{bA, bB}) {
			t.Errorf("_changes style=all_docs after merge: %v, want revs [%s %s]", ch.Results, bA, bB)
		}
	})

	t.Run("LocalCheckpoints", func(t *testing.T) {
		id := "_local/" + h("c")
		_, body := c.Expect(t, http.StatusCreated, http.MethodPut, "/rep/"+id, map[string]any{
			"session_id": "s1", "source_last_seq": "5-abc", "history": []any{map[string]any{"session_id": "s1", "recorded_seq": "5-abc"}},
		})
		jsonEq(t, "PUT checkpoint", body, `{"ok":true,"id":"`+id+`","rev":"0-1"}`)
		doc := c.Get(t, "/rep/"+id)
		if doc["_rev"] != "0-1" || doc["source_last_seq"] != "5-abc" {
			t.Errorf("GET checkpoint: %v", doc)
		}
		var ch changesResp
		c.ExpectJSON(t, http.StatusOK, http.MethodGet, "/rep/_changes", nil, &ch)
		for _, r := range ch.Results {
			if strings.HasPrefix(r["id"].(string), "_local/") {
				t.Errorf("_changes lists a _local doc: %v", r)
			}
		}
		for _, r := range rows(t, c.Get(t, "/rep/_all_docs")) {
			if strings.HasPrefix(r["id"].(string), "_local/") {
				t.Errorf("_all_docs lists a _local doc: %v", r)
			}
		}
		// Replicators read a missing checkpoint as 404.
		expectError(t, c, http.StatusNotFound, "not_found", "", http.MethodGet, "/rep/_local/nope", nil)
		_, body = c.Expect(t, http.StatusOK, http.MethodDelete, "/rep/"+id+"?rev=0-1", nil)
		jsonEq(t, "DELETE checkpoint", body, `{"ok":true,"id":"`+id+`","rev":"0-0"}`)
		expectError(t, c, http.StatusNotFound, "not_found", "", http.MethodGet, "/rep/"+id, nil)
	})

	t.Run("EnsureFullCommit", func(t *testing.T) {
		var res map[string]any
		c.ExpectJSON(t, http.StatusCreated, http.MethodPost, "/rep/_ensure_full_commit", nil, &res, "Content-Type", "application/json")
		if res["ok"] != true {
			t.Errorf("_ensure_full_commit: %v, want ok:true", res)
		}
		if s, ok := res["instance_start_time"].(string); !ok || !digitsRE.MatchString(s) {
			t.Errorf("_ensure_full_commit: instance_start_time %#v, want a string of digits", res["instance_start_time"])
		}
		expectError(t, c, http.StatusNotFound, "not_found", "", http.MethodPost, "/nodb/_ensure_full_commit", nil, "Content-Type", "application/json")
	})
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
