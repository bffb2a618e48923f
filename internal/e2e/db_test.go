package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/divandb/divan/internal/testnode"
)

const illegalDBNameReason = "Name: '%s'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, -, and / are allowed. Must begin with a letter."

func illegalDBName(name string) string {
	return strings.Replace(illegalDBNameReason, "%s", name, 1)
}

// TestDatabases covers PUT/GET/HEAD/DELETE /{db}, name rules, db info and
// POST /{db}.
func TestDatabases(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := n.Client()

	t.Run("Lifecycle", func(t *testing.T) {
		status, hdr, body := c.Do(t, http.MethodPut, "/life", nil)
		if status != http.StatusCreated {
			t.Fatalf("PUT /life: status %d, want 201; body %s", status, body)
		}
		jsonEq(t, "PUT /life", body, `{"ok":true}`)
		if loc := hdr.Get("Location"); !strings.HasSuffix(loc, "/life") {
			t.Errorf("PUT /life: Location %q, want .../life", loc)
		}
		expectError(t, c, http.StatusPreconditionFailed, "file_exists", "The database could not be created, the file already exists.", http.MethodPut, "/life", nil)

		status, _, body = c.Do(t, http.MethodHead, "/life", nil)
		if status != http.StatusOK || len(body) != 0 {
			t.Errorf("HEAD /life: status %d body %q, want 200 and no body", status, body)
		}
		c.Get(t, "/life")

		_, body = c.Expect(t, http.StatusOK, http.MethodDelete, "/life", nil)
		jsonEq(t, "DELETE /life", body, `{"ok":true}`)
		expectError(t, c, http.StatusNotFound, "not_found", "Database does not exist.", http.MethodGet, "/life", nil)
		expectError(t, c, http.StatusNotFound, "not_found", "Database does not exist.", http.MethodDelete, "/life", nil)
		status, _, body = c.Do(t, http.MethodHead, "/life", nil)
		if status != http.StatusNotFound || len(body) != 0 {
			t.Errorf("HEAD /life after delete: status %d body %q, want 404 and no body", status, body)
		}

		// A recreated database starts empty.
		createDB(t, c, "life")
		putDoc(t, c, "life", "d", map[string]any{"v": 1})
		c.Expect(t, http.StatusOK, http.MethodDelete, "/life", nil)
		createDB(t, c, "life")
		info := c.Get(t, "/life")
		if got := num(t, info, "doc_count"); got != 0 {
			t.Errorf("recreated db: doc_count %d, want 0", got)
		}
		expectError(t, c, http.StatusNotFound, "not_found", "missing", http.MethodGet, "/life/d", nil)

		expectError(t, c, http.StatusBadRequest, "bad_request",
			"You tried to DELETE a database with a ?=rev parameter. Did you mean to DELETE a document instead?",
			http.MethodDelete, "/life?rev=1-967a00dff5e02add41819138abb3284d", nil)
	})

	t.Run("MissingDatabase", func(t *testing.T) {
		for _, tc := range []struct {
			method, path string
			body         any
		}{
			{http.MethodGet, "/nosuchdb", nil},
			{http.MethodGet, "/nosuchdb/_all_docs", nil},
			{http.MethodGet, "/nosuchdb/doc", nil},
			{http.MethodPut, "/nosuchdb/doc", map[string]any{"a": 1}},
			{http.MethodPost, "/nosuchdb", map[string]any{"a": 1}},
			{http.MethodPost, "/nosuchdb/_bulk_docs", map[string]any{"docs": []any{}}},
			{http.MethodGet, "/nosuchdb/_security", nil},
			{http.MethodGet, "/nosuchdb/_revs_limit", nil},
		} {
			expectError(t, c, http.StatusNotFound, "not_found", "Database does not exist.", tc.method, tc.path, tc.body)
		}
	})

	t.Run("Names", func(t *testing.T) {
		for _, name := range []string{
			"Abc", "1abc", "_foo", "a b", "a.b", "a@b", "aé", "a:b", "-a", "$a", "a*b",
		} {
			expectError(t, c, http.StatusBadRequest, "illegal_database_name", illegalDBName(name), http.MethodPut, dbPath(name), nil)
		}
		for _, name := range []string{"a", "a1", "a_$()+-/b", "with/slash", "z9-_$"} {
			createDB(t, c, name)
			info := c.Get(t, dbPath(name))
			if info["db_name"] != name {
				t.Errorf("GET %s: db_name %v, want %q", dbPath(name), info["db_name"], name)
			}
		}
		var all []string
		c.ExpectJSON(t, http.StatusOK, http.MethodGet, "/_all_dbs", nil, &all)
		for _, name := range []string{"a_$()+-/b", "with/slash"} {
			found := false
			for _, db := range all {
				found = found || db == name
			}
			if !found {
				t.Errorf("GET /_all_dbs = %q: missing %q", all, name)
			}
		}
	})

	t.Run("Info", func(t *testing.T) {
		createDB(t, c, "info")
		before := c.Get(t, "/info")
		checkDBInfo(t, before, "info", 2, 1)
		if num(t, before, "doc_count") != 0 || num(t, before, "doc_del_count") != 0 {
			t.Errorf("fresh db: doc_count/doc_del_count = %v/%v, want 0/0", before["doc_count"], before["doc_del_count"])
		}
		if seqPrefix(t, before["update_seq"]) != 0 {
			t.Errorf("fresh db: update_seq %v, want 0-...", before["update_seq"])
		}

		putDoc(t, c, "info", "a", map[string]any{"v": 1})
		putDoc(t, c, "info", "b", map[string]any{"v": 2})
		rev := putDoc(t, c, "info", "c", map[string]any{"v": 3})
		deleteDoc(t, c, "info", "c", rev)
		putDoc(t, c, "info", "_local/l", map[string]any{"v": 4})
		after := c.Get(t, "/info")
		checkDBInfo(t, after, "info", 2, 1)
		if got := num(t, after, "doc_count"); got != 2 {
			t.Errorf("doc_count %d, want 2 (a, b; _local docs do not count)", got)
		}
		if got := num(t, after, "doc_del_count"); got != 1 {
			t.Errorf("doc_del_count %d, want 1", got)
		}
		if seqPrefix(t, after["update_seq"]) < 4 {
			t.Errorf("update_seq %v after 4 updates, want a sum of at least 4", after["update_seq"])
		}
		if after["instance_start_time"] != before["instance_start_time"] {
			t.Errorf("instance_start_time changed from %v to %v", before["instance_start_time"], after["instance_start_time"])
		}
	})

	t.Run("ShardOptions", func(t *testing.T) {
		createDBQuery(t, c, "qfour", "?q=4&n=1")
		checkDBInfo(t, c.Get(t, "/qfour"), "qfour", 4, 1)
		createDBQuery(t, c, "qone", "?q=1")
		checkDBInfo(t, c.Get(t, "/qone"), "qone", 1, 1)
		// n is capped at the number of nodes.
		createDBQuery(t, c, "nthree", "?n=3")
		checkDBInfo(t, c.Get(t, "/nthree"), "nthree", 2, 1)

		for _, tc := range []struct{ query, param string }{
			{"?q=0", "q"}, {"?q=-2", "q"}, {"?q=abc", "q"}, {"?n=0", "n"}, {"?n=x", "n"},
		} {
			expectError(t, c, http.StatusBadRequest, "bad_request", "The `"+tc.param+"` value should be a positive integer.", http.MethodPut, "/badshards"+tc.query, nil)
		}
		expectError(t, c, http.StatusNotFound, "not_found", "Database does not exist.", http.MethodGet, "/badshards", nil)
	})

	t.Run("PostDocument", func(t *testing.T) {
		createDB(t, c, "post")
		status, hdr, body := c.Do(t, http.MethodPost, "/post", map[string]any{"a": 1})
		if status != http.StatusCreated {
			t.Fatalf("POST /post: status %d, want 201; body %s", status, body)
		}
		m := testnode.Object(t, body)
		id := str(t, m, "id")
		if !hex32RE.MatchString(id) {
			t.Errorf("POST /post: generated id %q, want 32 lowercase hex (a sequential uuid)", id)
		}
		rev := okRev(t, "POST /post", body, id)
		if revPos(t, rev) != 1 {
			t.Errorf("POST /post: rev %q, want 1-...", rev)
		}
		if loc := hdr.Get("Location"); !strings.HasSuffix(loc, "/post/"+id) {
			t.Errorf("POST /post: Location %q, want .../post/%s", loc, id)
		}
		doc := c.Get(t, docPath("post", id))
		if doc["_rev"] != rev || doc["a"] == nil {
			t.Errorf("GET %s = %v, want _rev %s and a:1", id, doc, rev)
		}

		// An explicit _id is used; posting it again conflicts.
		_, body = c.Expect(t, http.StatusCreated, http.MethodPost, "/post", map[string]any{"_id": "given", "b": 2})
		okRev(t, "POST /post with _id", body, "given")
		expectError(t, c, http.StatusConflict, "conflict", "Document update conflict.", http.MethodPost, "/post", map[string]any{"_id": "given", "b": 3})

		// ?batch=ok answers 202 at once and writes soon after.
		_, body = c.Expect(t, http.StatusAccepted, http.MethodPost, "/post?batch=ok", map[string]any{"_id": "batched", "c": 3})
		jsonEq(t, "POST /post?batch=ok", body, `{"ok":true,"id":"batched"}`)
		_, body = c.Expect(t, http.StatusAccepted, http.MethodPost, "/post?batch=ok", map[string]any{"d": 4})
		bid := str(t, testnode.Object(t, body), "id")
		for _, id := range []string{"batched", bid} {
			path := docPath("post", id)
			testnode.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
				status, _, body := c.Do(t, http.MethodGet, path, nil)
				return status == http.StatusOK, "GET " + path + ": " + string(body)
			})
		}

		expectError(t, c, http.StatusUnsupportedMediaType, "bad_content_type", "Content-Type must be application/json", http.MethodPost, "/post", `{"a":1}`, "Content-Type", "text/plain")
		expectError(t, c, http.StatusUnsupportedMediaType, "bad_content_type", "Content-Type must be application/json", http.MethodPost, "/post", `{"a":1}`, "Content-Type", "application/x-www-form-urlencoded")
		expectError(t, c, http.StatusBadRequest, "bad_request", "invalid UTF-8 JSON", http.MethodPost, "/post", `{"a":`)
		expectError(t, c, http.StatusBadRequest, "bad_request", "Document must be a JSON object", http.MethodPost, "/post", `[1,2]`)
		expectError(t, c, http.StatusBadRequest, "illegal_docid", "Only reserved document ids may start with underscore.", http.MethodPost, "/post", map[string]any{"_id": "_bad"})
		// A Content-Type with parameters is still JSON.
		c.Expect(t, http.StatusCreated, http.MethodPost, "/post", `{"e":5}`, "Content-Type", "application/json; charset=utf-8")
	})
}

func createDBQuery(t testing.TB, c *testnode.Client, db, query string) {
	t.Helper()
	_, body := c.Expect(t, http.StatusCreated, http.MethodPut, dbPath(db)+query, nil)
	jsonEq(t, "PUT /"+db+query, body, `{"ok":true}`)
}

// checkDBInfo checks the shape of GET /{db} on a one-node cluster.
func checkDBInfo(t testing.TB, info map[string]any, db string, q, n int64) {
	t.Helper()
	if info["db_name"] != db {
		t.Errorf("db_name %v, want %q", info["db_name"], db)
	}
	for _, k := range []string{"update_seq", "purge_seq"} {
		if _, ok := info[k]; !ok {
			t.Errorf("db info lacks %q: %v", k, info)
		} else {
			seqPrefix(t, info[k])
		}
	}
	num(t, info, "doc_count")
	num(t, info, "doc_del_count")
	sizes := obj(t, info, "sizes")
	for _, k := range []string{"file", "external", "active"} {
		num(t, sizes, k)
	}
	cluster := obj(t, info, "cluster")
	quorum := n/2 + 1
	for k, want := range map[string]int64{"q": q, "n": n, "w": quorum, "r": quorum} {
		if got := num(t, cluster, k); got != want {
			t.Errorf("%s: cluster.%s = %d, want %d (cluster %v)", db, k, got, want, cluster)
		}
	}
	if ist := str(t, info, "instance_start_time"); !digitsRE.MatchString(ist) || ist == "0" {
		t.Errorf("instance_start_time %q, want the creation time in unix seconds, as a string", ist)
	}
	obj(t, info, "props")
	if info["compact_running"] != false && info["compact_running"] != true {
		t.Errorf("compact_running %#v, want a boolean", info["compact_running"])
	}
}

// escapeAll percent-encodes every byte outside [A-Za-z0-9].
func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' {
			b.WriteByte(ch)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", ch)
	}
	return b.String()
}
