package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/divandb/divan/internal/testnode"
)

// TestRevisions covers the revision-tree views of a document: revs,
// revs_info, conflicts, deleted_conflicts, open_revs (JSON and multipart),
// latest, local_seq and meta.
func TestRevisions(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := n.Client()
	createDB(t, c, "revs")

	// Tree of "t":  1 ── 2-aaa (deleted)
	//                 ├─ 2-bbb
	//                 └─ 2-ccc ── (winner: highest live leaf at pos 2)
	rev1 := putDoc(t, c, "revs", "t", map[string]any{"v": 1})
	h := func(ch string) string { return strings.Repeat(ch, 32) }
	aaa, bbb, ccc := "2-"+h("a"), "2-"+h("b"), "2-"+h("c")
	bulkNoNewEdits(t, c, "revs",
		branchDoc("t", rev1, bbb, false),
		branchDoc("t", rev1, ccc, false),
		branchDoc("t", rev1, aaa, true),
	)
	hash1 := rev1[2:]

	t.Run("Winner", func(t *testing.T) {
		doc := c.Get(t, "/revs/t")
		jsonEq(t, "GET /revs/t", doc, `{"_id":"t","_rev":"`+ccc+`","branch":"`+ccc+`"}`)
	})

	t.Run("Revs", func(t *testing.T) {
		doc := c.Get(t, "/revs/t?revs=true")
		jsonEq(t, "_revisions", doc["_revisions"], `{"start":2,"ids":["`+h("c")+`","`+hash1+`"]}`)
		doc = c.Get(t, "/revs/t?rev="+bbb+"&revs=true")
		jsonEq(t, "_revisions of "+bbb, doc["_revisions"], `{"start":2,"ids":["`+h("b")+`","`+hash1+`"]}`)
		if _, ok := c.Get(t, "/revs/t")["_revisions"]; ok {
			t.Errorf("_revisions present without revs=true")
		}
	})

	t.Run("RevsInfo", func(t *testing.T) {
		doc := c.Get(t, "/revs/t?revs_info=true")
		infos, _ := doc["_revs_info"].([]any)
		if len(infos) != 2 {
			t.Fatalf("_revs_info = %v, want 2 entries (winner path)", doc["_revs_info"])
		}
		jsonEq(t, "_revs_info[0]", infos[0], `{"rev":"`+ccc+`","status":"available"}`)
		first, _ := infos[1].(map[string]any)
		if first["rev"] != rev1 {
			t.Errorf("_revs_info[1] = %v, want rev %s", infos[1], rev1)
		}
		if s := first["status"]; s != "available" && s != "missing" {
			t.Errorf("_revs_info[1].status = %v, want available or missing", s)
		}
	})

	t.Run("Conflicts", func(t *testing.T) {
		doc := c.Get(t, "/revs/t?conflicts=true")
		jsonEq(t, "_conflicts", doc["_conflicts"], `["`+bbb+`"]`)
		if _, ok := doc["_deleted_conflicts"]; ok {
			t.Errorf("_deleted_conflicts present without deleted_conflicts=true: %v", doc)
		}
		doc = c.Get(t, "/revs/t?deleted_conflicts=true")
		jsonEq(t, "_deleted_conflicts", doc["_deleted_conflicts"], `["`+aaa+`"]`)
		if _, ok := doc["_conflicts"]; ok {
			t.Errorf("_conflicts present without conflicts=true: %v", doc)
		}
		doc = c.Get(t, "/revs/t?meta=true")
		jsonEq(t, "meta _conflicts", doc["_conflicts"], `["`+bbb+`"]`)
		jsonEq(t, "meta _deleted_conflicts", doc["_deleted_conflicts"], `["`+aaa+`"]`)
		if _, ok := doc["_revs_info"].([]any); !ok {
			t.Errorf("meta=true: no _revs_info in %v", doc)
		}
		// A non-conflicted doc reports no _conflicts at all.
		putDoc(t, c, "revs", "single", map[string]any{})
		if doc := c.Get(t, "/revs/single?conflicts=true&deleted_conflicts=true"); doc["_conflicts"] != nil || doc["_deleted_conflicts"] != nil {
			t.Errorf("GET /revs/single?conflicts=true = %v, want no _conflicts/_deleted_conflicts", doc)
		}

		// Resolving: deleting the loser leaves no conflict; the winner stays.
		del := deleteDoc(t, c, "revs", "t", bbb)
		if revPos(t, del) != 3 {
			t.Errorf("deleting %s gave %s, want 3-...", bbb, del)
		}
		doc = c.Get(t, "/revs/t?conflicts=true&deleted_conflicts=true")
		if doc["_rev"] != ccc || doc["_conflicts"] != nil {
			t.Errorf("after deleting the loser: %v, want winner %s and no _conflicts", doc, ccc)
		}
		dc := strs(t, arr(t, doc, "_deleted_conflicts"))
		slices.Sort(dc)
		if !equalStrings(dc, []string{aaa, del}) {
			t.Errorf("_deleted_conflicts %q, want [%s %s]", dc, aaa, del)
		}
	})

	t.Run("OpenRevsJSON", func(t *testing.T) {
		openRevs := func(t *testing.T, query string) map[string]map[string]any {
			t.Helper()
			_, body := c.Expect(t, http.StatusOK, http.MethodGet, "/revs/t?"+query, nil, "Accept", "application/json")
			out := map[string]map[string]any{}
			for i, e := range testnode.Array(t, body) {
				m, _ := e.(map[string]any)
				switch {
				case m["ok"] != nil:
					d := m["ok"].(map[string]any)
					out[d["_rev"].(string)] = d
				case m["missing"] != nil:
					out["missing:"+m["missing"].(string)] = nil
				default:
					t.Fatalf("GET ?%s: element %d is %v, want {ok:doc} or {missing:rev}", query, i, e)
				}
			}
			return out
		}
		keys := func(m map[string]map[string]any) []string {
			var k []string
			for key := range m {
				k = append(k, key)
			}
			slices.Sort(k)
			return k
		}
		del3 := "3-"
		all := openRevs(t, "open_revs=all")
		for rev := range all {
			if strings.HasPrefix(rev, "3-") {
				del3 = rev
			}
		}
		if got, want := keys(all), []string{aaa, ccc, del3}; !equalStrings(got, want) {
			t.Fatalf("open_revs=all: revs %q, want the leaves %q", got, want)
		}
		jsonEq(t, "open_revs=all "+ccc, all[ccc], `{"_id":"t","_rev":"`+ccc+`","branch":"`+ccc+`"}`)
		if all[aaa]["_deleted"] != true {
			t.Errorf("open_revs=all: deleted leaf %s = %v, want _deleted:true", aaa, all[aaa])
		}

		missing := "3-" + h("d")
		got := openRevs(t, "open_revs="+jsonQuery([]string{ccc, missing}))
		if want := []string{ccc, "missing:" + missing}; !equalStrings(keys(got), want) {
			t.Errorf("open_revs=[%s %s]: %q, want %q", ccc, missing, keys(got), want)
		}
		// revs=true adds _revisions to each.
		got = openRevs(t, "revs=true&open_revs="+jsonQuery([]string{ccc}))
		jsonEq(t, "open_revs revs=true _revisions", got[ccc]["_revisions"], `{"start":2,"ids":["`+h("c")+`","`+hash1+`"]}`)
		// latest=true replaces a rev by the leaves descending from it.
		got = openRevs(t, "latest=true&open_revs="+jsonQuery([]string{rev1}))
		if want := []string{aaa, ccc, del3}; !equalStrings(keys(got), want) {
			t.Errorf("open_revs=[%s]&latest=true: %q, want the leaves %q", rev1, keys(got), want)
		}
		got = openRevs(t, "latest=true&open_revs="+jsonQuery([]string{ccc}))
		if want := []string{ccc}; !equalStrings(keys(got), want) {
			t.Errorf("open_revs=[%s]&latest=true: %q, want %q", ccc, keys(got), want)
		}

		expectError(t, c, http.StatusNotFound, "not_found", "missing", http.MethodGet, "/revs/nope?open_revs=all", nil, "Accept", "application/json")
		expectError(t, c, http.StatusBadRequest, "bad_request", "Invalid rev format", http.MethodGet, "/revs/t?open_revs="+jsonQuery([]string{"bogus"}), nil, "Accept", "application/json")
	})

	t.Run("OpenRevsMultipart", func(t *testing.T) {
		for _, accept := range []string{"", "multipart/mixed", "*/*"} {
			status, hdr, body := c.Do(t, http.MethodGet, "/revs/t?open_revs=all", nil, "Accept", accept)
			if status != http.StatusOK {
				t.Fatalf("GET ?open_revs=all (Accept %q): status %d; body %.300s", accept, status, body)
			}
			mt, params, err := mime.ParseMediaType(hdr.Get("Content-Type"))
			if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
				t.Fatalf("GET ?open_revs=all (Accept %q): Content-Type %q, want multipart/mixed with a boundary", accept, hdr.Get("Content-Type"))
			}
			mr := multipart.NewReader(strings.NewReader(string(body)), params["boundary"])
			var revs []string
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("GET ?open_revs=all (Accept %q): bad multipart body: %v\n%s", accept, err, body)
				}
				if ct := p.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("part Content-Type %q, want application/json", ct)
				}
				data, _ := io.ReadAll(p)
				var d map[string]any
				if err := json.Unmarshal(data, &d); err != nil {
					t.Fatalf("part is not JSON: %q", data)
				}
				revs = append(revs, d["_rev"].(string))
			}
			slices.Sort(revs)
			if len(revs) != 3 || revs[0] != aaa || revs[1] != ccc || !strings.HasPrefix(revs[2], "3-") {
				t.Errorf("multipart open_revs=all (Accept %q): revs %q, want %s, %s and the 3- tombstone", accept, revs, aaa, ccc)
			}
		}
	})

	t.Run("LocalSeq", func(t *testing.T) {
		doc := c.Get(t, "/revs/single?local_seq=true")
		if _, ok := doc["_local_seq"].(json.Number); !ok {
			t.Errorf("local_seq=true: _local_seq = %#v, want a number", doc["_local_seq"])
		}
		if _, ok := c.Get(t, "/revs/single")["_local_seq"]; ok {
			t.Errorf("_local_seq present without local_seq=true")
		}
	})

	t.Run("Latest", func(t *testing.T) {
		r1 := putDoc(t, c, "revs", "lat", map[string]any{"v": 1})
		r2 := putDoc(t, c, "revs", "lat", map[string]any{"_rev": r1, "v": 2})
		doc := c.Get(t, "/revs/lat?rev="+url.QueryEscape(r1)+"&latest=true")
		if doc["_rev"] != r2 {
			t.Errorf("GET ?rev=%s&latest=true: _rev %v, want the leaf %s", r1, doc["_rev"], r2)
		}
	})
}

// TestOldRevisionBodies checks that, as in CouchDB, the body of a replaced
// (non-leaf) revision stays readable by ?rev=, open_revs and COPY until the
// database is compacted, and is gone afterwards.
func TestOldRevisionBodies(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := n.Client()
	createDB(t, c, "old")
	r1 := putDoc(t, c, "old", "d", map[string]any{"v": 1})
	r2 := putDoc(t, c, "old", "d", map[string]any{"_rev": r1, "v": 2})

	status, _, body := c.Do(t, http.MethodGet, "/old/d?rev="+r1, nil)
	if status != http.StatusOK {
		t.Errorf("GET /old/d?rev=%s (replaced by %s, not compacted): status %d, want 200 with the old body; body %s", r1, r2, status, body)
	} else {
		jsonEq(t, "GET ?rev=<replaced rev>", body, `{"_id":"d","_rev":"`+r1+`","v":1}`)
	}
	doc := c.Get(t, "/old/d?revs_info=true")
	jsonEq(t, "_revs_info before compaction", doc["_revs_info"], `[{"rev":"`+r2+`","status":"available"},{"rev":"`+r1+`","status":"available"}]`)
	_, body = c.Expect(t, http.StatusOK, http.MethodGet, "/old/d?open_revs="+jsonQuery([]string{r1}), nil, "Accept", "application/json")
	jsonEq(t, "open_revs=[<replaced rev>]", body, `[{"ok":{"_id":"d","_rev":"`+r1+`","v":1}}]`)
	if status, _, body := c.Do(t, "COPY", "/old/d?rev="+r1, nil, "Destination", "copy"); status != http.StatusCreated {
		t.Errorf("COPY /old/d?rev=%s: status %d, want 201; body %s", r1, status, body)
	}

	c.Expect(t, http.StatusAccepted, http.MethodPost, "/old/_compact", nil, "Content-Type", "application/json")
	testnode.Eventually(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		status, _, body := c.Do(t, http.MethodGet, "/old/d?rev="+r1, nil)
		return status == http.StatusNotFound, fmt.Sprintf("GET /old/d?rev=%s after _compact: %d %s, want 404 once compaction ran", r1, status, body)
	})
	expectError(t, c, http.StatusNotFound, "not_found", "missing", http.MethodGet, "/old/d?rev="+r1, nil)
	doc = c.Get(t, "/old/d?revs_info=true")
	jsonEq(t, "_revs_info after compaction", doc["_revs_info"], `[{"rev":"`+r2+`","status":"available"},{"rev":"`+r1+`","status":"missing"}]`)
	jsonEq(t, "GET /old/d after compaction", c.Get(t, "/old/d"), `{"_id":"d","_rev":"`+r2+`","v":2}`)
}
