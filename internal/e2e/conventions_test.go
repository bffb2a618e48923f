package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/divandb/divan/internal/testnode"
)

// TestConventions covers CouchDB's HTTP conventions: headers, content type,
// authentication failures, request size limits.
func TestConventions(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c, anon := n.Client(), n.AnonClient()
	createDB(t, c, "conv")
	putDoc(t, c, "conv", "doc", map[string]any{"v": 1})

	t.Run("RequestID", func(t *testing.T) {
		seen := map[string]bool{}
		for _, path := range []string{"/", "/conv", "/conv/doc", "/conv/nope", "/_up"} {
			_, hdr, _ := c.Do(t, http.MethodGet, path, nil)
			id := hdr.Get("X-Couch-Request-ID")
			if !requestID.MatchString(id) {
				t.Errorf("GET %s: X-Couch-Request-ID %q, want 10 lowercase hex", path, id)
			}
			if seen[id] {
				t.Errorf("GET %s: X-Couch-Request-ID %q repeated", path, id)
			}
			seen[id] = true
		}
		// A client-supplied id of at most 36 [0-9A-Za-z_-] is echoed.
		for _, id := range []string{"my-Req_123", strings.Repeat("a", 36)} {
			_, hdr, _ := c.Do(t, http.MethodGet, "/conv", nil, "X-Couch-Request-ID", id)
			if got := hdr.Get("X-Couch-Request-ID"); got != id {
				t.Errorf("sent X-Couch-Request-ID %q, got back %q", id, got)
			}
		}
		for _, id := range []string{"bad id!", strings.Repeat("a", 37), "semi;colon"} {
			_, hdr, _ := c.Do(t, http.MethodGet, "/conv", nil, "X-Couch-Request-ID", id)
			if got := hdr.Get("X-Couch-Request-ID"); got == id || !requestID.MatchString(got) {
				t.Errorf("sent invalid X-Couch-Request-ID %q, got back %q; want a fresh 10-hex id", id, got)
			}
		}
	})

	t.Run("StandardHeaders", func(t *testing.T) {
		for _, tc := range []struct {
			client       *testnode.Client
			method, path string
			body         any
			status       int
		}{
			{c, http.MethodGet, "/", nil, 200},
			{c, http.MethodGet, "/conv", nil, 200},
			{c, http.MethodGet, "/conv/doc", nil, 200},
			{c, http.MethodGet, "/conv/_all_docs", nil, 200},
			{c, http.MethodPut, "/conv/other", map[string]any{}, 201},
			{c, http.MethodGet, "/conv/nope", nil, 404},
			{c, http.MethodGet, "/nodb", nil, 404},
			{c, http.MethodPut, "/conv/doc", map[string]any{}, 409},
			{anon, http.MethodGet, "/conv", nil, 401},
		} {
			status, hdr, body := tc.client.Do(t, tc.method, tc.path, tc.body)
			what := tc.method + " " + tc.path
			if status != tc.status {
				t.Errorf("%s: status %d, want %d; body %s", what, status, tc.status, body)
			}
			if s := hdr.Get("Server"); !strings.HasPrefix(s, "CouchDB/") {
				t.Errorf("%s: Server %q, want CouchDB/<version> (...)", what, s)
			}
			if cc := hdr.Get("Cache-Control"); cc != "must-revalidate" {
				t.Errorf("%s: Cache-Control %q, want must-revalidate", what, cc)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: Content-Type %q, want application/json", what, ct)
			}
			if hdr.Get("Date") == "" {
				t.Errorf("%s: no Date header", what)
			}
		}
	})

	// CouchDB 2.0+ always answers application/json, whatever the Accept
	// header says (apache/couchdb-couch#131, COUCHDB-2905 removed the 1.x
	// text/plain negotiation; couch_httpd:negotiate_content_type/1 only
	// switches to application/javascript for JSONP).
	t.Run("ContentTypeIgnoresAccept", func(t *testing.T) {
		for _, accept := range []string{"", "*/*", "text/html", "text/plain", "application/json", "text/html,application/xhtml+xml;q=0.9"} {
			for _, path := range []string{"/", "/conv", "/conv/doc", "/conv/nope"} {
				_, hdr, body := c.Do(t, http.MethodGet, path, nil, "Accept", accept)
				if ct := hdr.Get("Content-Type"); ct != "application/json" {
					t.Errorf("GET %s with Accept %q: Content-Type %q, want application/json", path, accept, ct)
				}
				testnode.Object(t, body)
			}
		}
	})

	t.Run("Unauthorized", func(t *testing.T) {
		const notAdmin = "You are not a server admin."
		const notMember = "You are not authorized to access this db."
		for _, tc := range []struct {
			method, path string
			body         any
			reason       string
		}{
			{http.MethodGet, "/conv", nil, notMember},
			{http.MethodGet, "/conv/doc", nil, notMember},
			{http.MethodGet, "/conv/_all_docs", nil, notMember},
			{http.MethodPut, "/conv/newdoc", map[string]any{}, notMember},
			{http.MethodPut, "/anondb", nil, notAdmin},
			{http.MethodDelete, "/conv", nil, notAdmin},
			{http.MethodGet, "/_all_dbs", nil, notAdmin},
		} {
			hdr := expectError(t, anon, http.StatusUnauthorized, "unauthorized", tc.reason, tc.method, tc.path, tc.body)
			if w := hdr.Get("WWW-Authenticate"); w != "" {
				t.Errorf("anonymous %s %s: WWW-Authenticate %q, want none (CouchDB sends it only when configured)", tc.method, tc.path, w)
			}
		}
		// Nothing was written by the anonymous requests.
		expectError(t, c, http.StatusNotFound, "not_found", "missing", http.MethodGet, "/conv/newdoc", nil)
		expectError(t, c, http.StatusNotFound, "not_found", "Database does not exist.", http.MethodGet, "/anondb", nil)

		// Bad credentials fail on every endpoint, public ones included.
		const badCreds = "Name or password is incorrect."
		for _, cl := range []*testnode.Client{
			n.ClientAs(n.AdminUser(), "wrong-password"),
			n.ClientAs("nobody", "whatever"),
		} {
			for _, path := range []string{"/conv", "/conv/doc", "/_all_dbs", "/"} {
				expectError(t, cl, http.StatusUnauthorized, "unauthorized", badCreds, http.MethodGet, path, nil)
			}
		}
		// Public endpoints need no credentials.
		for _, path := range []string{"/", "/_up", "/_uuids", "/favicon.ico"} {
			if status, _, body := anon.Do(t, http.MethodGet, path, nil); status != http.StatusOK {
				t.Errorf("anonymous GET %s: status %d, want 200; body %.200s", path, status, body)
			}
		}
	})

	t.Run("DocumentTooLarge", func(t *testing.T) {
		// [couchdb] max_document_size = 8000000 bytes of encoded JSON body.
		big := strings.Repeat("x", 8_000_100)
		expectError(t, c, http.StatusRequestEntityTooLarge, "document_too_large", "big", http.MethodPut, "/conv/big", map[string]any{"_id": "big", "data": big})
		expectError(t, c, http.StatusRequestEntityTooLarge, "document_too_large", "bigbulk", http.MethodPost, "/conv/_bulk_docs",
			map[string]any{"docs": []any{map[string]any{"_id": "small"}, map[string]any{"_id": "bigbulk", "data": big}}})
		expectError(t, c, http.StatusRequestEntityTooLarge, "document_too_large", "bigpost", http.MethodPost, "/conv", map[string]any{"_id": "bigpost", "data": big})
		expectError(t, c, http.StatusNotFound, "not_found", "missing", http.MethodGet, "/conv/big", nil)
		expectError(t, c, http.StatusNotFound, "not_found", "missing", http.MethodGet, "/conv/small", nil)

		// Just under the limit is fine and comes back whole.
		fits := strings.Repeat("y", 7_900_000)
		putDoc(t, c, "conv", "fits", map[string]any{"data": fits})
		doc := c.Get(t, "/conv/fits")
		if s, _ := doc["data"].(string); len(s) != len(fits) {
			t.Errorf("GET /conv/fits: data has %d bytes, want %d", len(s), len(fits))
		}
	})

	t.Run("BadRequests", func(t *testing.T) {
		for _, tc := range []struct {
			method, path string
			body         any
			status       int
			errName, msg string
			headers      []string
		}{
			{http.MethodPut, "/conv/badjson", `{"a":1`, 400, "bad_request", "invalid UTF-8 JSON", nil},
			{http.MethodPut, "/conv/badjson", `{"a":1}garbage`, 400, "bad_request", "invalid UTF-8 JSON", nil},
			{http.MethodPut, "/conv/badjson", "{\"a\":\"\xff\xfe\"}", 400, "bad_request", "invalid UTF-8 JSON", nil},
			{http.MethodPost, "/conv/_bulk_docs", `{"docs":[`, 400, "bad_request", "invalid UTF-8 JSON", nil},
			{http.MethodPost, "/conv", `nope`, 400, "bad_request", "invalid UTF-8 JSON", nil},
			{http.MethodPost, "/conv", `{"a":1}`, 415, "bad_content_type", "Content-Type must be application/json", []string{"Content-Type", "text/plain"}},
			{http.MethodPost, "/conv/_bulk_docs", `{"docs":[]}`, 415, "bad_content_type", "Content-Type must be application/json", []string{"Content-Type", "multipart/form-data"}},
			{http.MethodPut, "/conv/_security", `{"admins":`, 400, "bad_request", "invalid UTF-8 JSON", nil},
		} {
			expectError(t, c, tc.status, tc.errName, tc.msg, tc.method, tc.path, tc.body, tc.headers...)
		}
		expectError(t, c, http.StatusNotFound, "not_found", "missing", http.MethodGet, "/conv/badjson", nil)
	})
}
