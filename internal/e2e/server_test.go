package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/divandb/divan/internal/testnode"
)

// TestServer covers the server-level endpoints: /, /_up, /_uuids,
// /_all_dbs, /_dbs_info and /favicon.ico.
func TestServer(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	admin, anon := n.Client(), n.AnonClient()

	// Runs first: nothing else on this node has drawn uuids yet.
	t.Run("UUIDs", func(t *testing.T) { testUUIDs(t, admin, anon) })

	t.Run("Welcome", func(t *testing.T) {
		status, hdr, body := anon.Do(t, http.MethodGet, "/", nil)
		if status != http.StatusOK {
			t.Fatalf("GET / (anonymous): status %d, want 200; body %s", status, body)
		}
		m := testnode.Object(t, body)
		if got := str(t, m, "couchdb"); got != "Welcome" {
			t.Errorf(`"couchdb" = %q, want "Welcome"`, got)
		}
		if v := str(t, m, "version"); !regexp.MustCompile(`^3\.\d+\.\d+`).MatchString(v) {
			t.Errorf(`"version" = %q, want a CouchDB 3.x version`, v)
		}
		str(t, m, "git_sha")
		uuid := str(t, m, "uuid")
		if !hex32RE.MatchString(uuid) {
			t.Errorf(`"uuid" = %q, want 32 lowercase hex`, uuid)
		}
		arr(t, m, "features")
		if name := str(t, obj(t, m, "vendor"), "name"); name == "" {
			t.Errorf(`"vendor.name" is empty`)
		}
		if s := hdr.Get("Server"); !strings.HasPrefix(s, "CouchDB/") {
			t.Errorf("Server header %q, want CouchDB/<version> (...)", s)
		}
		// The server uuid is stable.
		again := admin.Get(t, "/")
		if again["uuid"] != uuid {
			t.Errorf("uuid changed between requests: %v then %v", uuid, again["uuid"])
		}
		// HEAD answers like GET without a body.
		status, _, body = anon.Do(t, http.MethodHead, "/", nil)
		if status != http.StatusOK || len(body) != 0 {
			t.Errorf("HEAD /: status %d body %q, want 200 and no body", status, body)
		}
		hdr = expectError(t, admin, http.StatusMethodNotAllowed, "method_not_allowed", "Only GET,HEAD allowed", http.MethodPost, "/", map[string]any{})
		if a := hdr.Get("Allow"); a != "GET,HEAD" {
			t.Errorf("POST /: Allow header %q, want %q", a, "GET,HEAD")
		}
	})

	t.Run("Up", func(t *testing.T) {
		status, _, body := anon.Do(t, http.MethodGet, "/_up", nil)
		if status != http.StatusOK {
			t.Fatalf("GET /_up: status %d, want 200; body %s", status, body)
		}
		m := testnode.Object(t, body)
		if m["status"] != "ok" {
			t.Errorf(`GET /_up: "status" = %v, want "ok"; body %s`, m["status"], body)
		}
		obj(t, m, "seeds")
	})

	t.Run("Favicon", func(t *testing.T) {
		status, hdr, body := anon.Do(t, http.MethodGet, "/favicon.ico", nil)
		if status != http.StatusOK {
			t.Fatalf("GET /favicon.ico: status %d, want 200; body %.200s", status, body)
		}
		if len(body) == 0 {
			t.Errorf("GET /favicon.ico: empty body")
		}
		if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "image/") {
			t.Errorf("GET /favicon.ico: Content-Type %q, want image/*", ct)
		}
		if cc := hdr.Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") {
			t.Errorf("GET /favicon.ico: Cache-Control %q, want public, max-age=31536000", cc)
		}
	})

	t.Run("AllDbs", func(t *testing.T) { testAllDbs(t, admin, anon) })
	t.Run("DbsInfo", func(t *testing.T) { testDbsInfo(t, admin, anon) })
}

func testUUIDs(t *testing.T, admin, anon *testnode.Client) {
	var all []string
	get := func(t *testing.T, c *testnode.Client, query string, want int) []string {
		t.Helper()
		var m map[string]any
		hdr := c.ExpectJSON(t, http.StatusOK, http.MethodGet, "/_uuids"+query, nil, &m)
		ids := strs(t, arr(t, m, "uuids"))
		if len(ids) != want {
			t.Fatalf("GET /_uuids%s: %d uuids, want %d", query, len(ids), want)
		}
		for _, id := range ids {
			if !hex32RE.MatchString(id) {
				t.Fatalf("GET /_uuids%s: uuid %q is not 32 lowercase hex", query, id)
			}
		}
		for h, want := range map[string]string{
			"Cache-Control": "no-cache",
			"Pragma":        "no-cache",
			"Expires":       "Mon, 01 Jan 1990 00:00:00 GMT",
		} {
			if got := hdr.Get(h); got != want {
				t.Errorf("GET /_uuids%s: %s header %q, want %q", query, h, got, want)
			}
		}
		if hdr.Get("ETag") == "" {
			t.Errorf("GET /_uuids%s: no ETag header", query)
		}
		all = append(all, ids...)
		return ids
	}

	t.Run("Default", func(t *testing.T) { get(t, anon, "", 1) })
	t.Run("Count", func(t *testing.T) { get(t, admin, "?count=10", 10) })
	t.Run("MaxCount", func(t *testing.T) { get(t, anon, "?count=1000", 1000) })
	t.Run("Again", func(t *testing.T) { get(t, admin, "?count=5", 5) })
	t.Run("Sequential", func(t *testing.T) { checkSequentialUUIDs(t, all) })

	t.Run("Errors", func(t *testing.T) {
		for _, tc := range []struct{ query, reason string }{
			{"?count=1001", "count parameter too large"},
			{"?count=100000", "count parameter too large"},
			{"?count=-1", "count must be a positive integer"},
			{"?count=abc", "count must be a positive integer"},
			{"?count=1.5", "count must be a positive integer"},
		} {
			expectError(t, anon, http.StatusBadRequest, "bad_request", tc.reason, http.MethodGet, "/_uuids"+tc.query, nil)
		}
	})
}

// checkSequentialUUIDs checks CouchDB's default "sequential" algorithm over
// ids drawn in order from one node: a 26-hex prefix shared until the 6-hex
// counter passes 0xfff000, and a counter that grows by 1..0xffd per id.
func checkSequentialUUIDs(t *testing.T, ids []string) {
	t.Helper()
	for i := 1; i < len(ids); i++ {
		prevPrefix, prevSuffix := ids[i-1][:26], ids[i-1][26:]
		prefix, suffix := ids[i][:26], ids[i][26:]
		p, _ := strconv.ParseUint(prevSuffix, 16, 32)
		c, _ := strconv.ParseUint(suffix, 16, 32)
		if prefix != prevPrefix {
			if p < 0xfff000 || c < 1 || c > 0xffd {
				t.Fatalf("uuid %d %s: prefix changed from %s although the counter %s had not rolled over (sequential ids share a 26-hex prefix)", i, ids[i], prevPrefix, prevSuffix)
			}
			continue
		}
		if c <= p || c-p > 0xffd {
			t.Fatalf("uuid %d: %s follows %s; the 6-hex counter must grow by 1..4093", i, ids[i], ids[i-1])
		}
	}
}

func testAllDbs(t *testing.T, admin, anon *testnode.Client) {
	mine := []string{"alldbs-a", "alldbs-b", "alldbs-c", "zz-other"}
	for _, db := range []string{"alldbs-b", "zz-other", "alldbs-a", "alldbs-c"} {
		createDB(t, admin, db)
	}
	var full []string
	admin.ExpectJSON(t, http.StatusOK, http.MethodGet, "/_all_dbs", nil, &full)
	if !slices.IsSorted(full) {
		t.Errorf("GET /_all_dbs is not sorted: %q", full)
	}
	var users []string
	for _, db := range full {
		if !strings.HasPrefix(db, "_") {
			users = append(users, db)
		}
	}
	if !equalStrings(users, mine) {
		t.Fatalf("GET /_all_dbs = %q, want %q (plus system dbs)", full, mine)
	}
	rev := slices.Clone(full)
	slices.Reverse(rev)

	q := func(v string) string { return jsonQuery(v) }
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"?startkey=" + q("alldbs-a") + "&endkey=" + q("alldbs-b"), []string{"alldbs-a", "alldbs-b"}},
		{"?start_key=" + q("alldbs-b") + "&end_key=" + q("alldbs-c"), []string{"alldbs-b", "alldbs-c"}},
		{"?startkey=" + q("alldbs-") + "&endkey=" + q("alldbs-\ufff0"), []string{"alldbs-a", "alldbs-b", "alldbs-c"}},
		{"?startkey=" + q("alldbs-a") + "&endkey=" + q("alldbs-c") + "&inclusive_end=false", []string{"alldbs-a", "alldbs-b"}},
		{"?limit=2", full[:2]},
		{"?skip=1&limit=2", full[1:3]},
		{"?skip=100", []string{}},
		{"?descending=true", rev},
		{"?descending=true&startkey=" + q("alldbs-c") + "&endkey=" + q("alldbs-a"), []string{"alldbs-c", "alldbs-b", "alldbs-a"}},
		{"?descending=true&limit=1", rev[:1]},
	} {
		var got []string
		admin.ExpectJSON(t, http.StatusOK, http.MethodGet, "/_all_dbs"+tc.query, nil, &got)
		if !equalStrings(got, tc.want) {
			t.Errorf("GET /_all_dbs%s = %q, want %q", tc.query, got, tc.want)
		}
	}

	expectError(t, anon, http.StatusUnauthorized, "unauthorized", "You are not a server admin.", http.MethodGet, "/_all_dbs", nil)
	expectError(t, admin, http.StatusMethodNotAllowed, "method_not_allowed", "Only GET,HEAD allowed", http.MethodPost, "/_all_dbs", map[string]any{})
	expectError(t, admin, http.StatusBadRequest, "query_parse_error", `Invalid value for integer: "abc"`, http.MethodGet, "/_all_dbs?limit=abc", nil)
	expectError(t, admin, http.StatusBadRequest, "query_parse_error", `Invalid value for positive integer: "-1"`, http.MethodGet, "/_all_dbs?skip=-1", nil)
	expectError(t, admin, http.StatusBadRequest, "query_parse_error", `Invalid boolean parameter: "maybe"`, http.MethodGet, "/_all_dbs?descending=maybe", nil)
}

func testDbsInfo(t *testing.T, admin, anon *testnode.Client) {
	for _, db := range []string{"info-a", "info-b"} {
		createDB(t, admin, db)
	}
	putDoc(t, admin, "info-b", "d1", map[string]any{"x": 1})

	var res []map[string]any
	admin.ExpectJSON(t, http.StatusOK, http.MethodPost, "/_dbs_info", map[string]any{"keys": []string{"info-b", "nope", "info-a"}}, &res)
	if len(res) != 3 {
		t.Fatalf("POST /_dbs_info: %d results, want 3: %v", len(res), res)
	}
	for i, want := range []string{"info-b", "nope", "info-a"} {
		if res[i]["key"] != want {
			t.Errorf("POST /_dbs_info: result %d key %v, want %q", i, res[i]["key"], want)
		}
	}
	infoB := obj(t, res[0], "info")
	if infoB["db_name"] != "info-b" || num(t, infoB, "doc_count") != 1 {
		t.Errorf("POST /_dbs_info: info for info-b = %v, want db_name info-b and doc_count 1", infoB)
	}
	if _, ok := res[0]["error"]; ok {
		t.Errorf("POST /_dbs_info: unexpected error for an existing db: %v", res[0])
	}
	jsonEq(t, "POST /_dbs_info missing db entry", res[1], `{"key":"nope","error":"not_found"}`)
	if obj(t, res[2], "info")["db_name"] != "info-a" {
		t.Errorf("POST /_dbs_info: info for info-a = %v", res[2])
	}

	// The limit is [chttpd] max_db_number_for_dbs_info_req = 100.
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("missing-%03d", i)
	}
	var hundred []any
	admin.ExpectJSON(t, http.StatusOK, http.MethodPost, "/_dbs_info", map[string]any{"keys": keys}, &hundred)
	if len(hundred) != 100 {
		t.Errorf("POST /_dbs_info with 100 keys: %d results, want 100", len(hundred))
	}
	expectError(t, admin, http.StatusBadRequest, "bad_request", "too_many_keys", http.MethodPost, "/_dbs_info", map[string]any{"keys": append(keys, "one-more")})

	expectError(t, admin, http.StatusBadRequest, "bad_request", "`keys` member must exist.", http.MethodPost, "/_dbs_info", map[string]any{})
	expectError(t, admin, http.StatusBadRequest, "bad_request", "invalid UTF-8 JSON", http.MethodPost, "/_dbs_info", `{"keys":[`)
	expectError(t, admin, http.StatusUnsupportedMediaType, "bad_content_type", "Content-Type must be application/json", http.MethodPost, "/_dbs_info", `{"keys":["info-a"]}`, "Content-Type", "text/plain")
	expectError(t, anon, http.StatusUnauthorized, "unauthorized", "You are not a server admin.", http.MethodPost, "/_dbs_info", map[string]any{"keys": []string{"info-a"}})
}
