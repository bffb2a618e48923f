package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// seenRequest is what a node-local handler or a remote node received.
type seenRequest struct {
	method, path, rawPath, query, auth, body string
}

func recordingHandler(seen *seenRequest, status int, reply string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*seen = seenRequest{r.Method, r.URL.Path, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"), string(b)}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Server", "remote")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, reply)
	})
}

func TestNodeLocalSelf(t *testing.T) {
	var seen seenRequest
	fc := &fakeCluster{self: NodeInfo{Name: "n1@127.0.0.1", GossipAddr: "127.0.0.1:7946", Zone: "z1"}}
	a := newClusterAPI(t, stubBackend{}, func(c *Config) {
		c.Cluster = fc
		c.NodeLocal = recordingHandler(&seen, 201, `{"ok":true}`)
	})
	expectError(t, call(a, http.MethodGet, "/_node", "", "auth", ""), 400, "bad_request", "Incomplete path to _node request")
	expectBody(t, call(a, http.MethodGet, "/_node/_local", "", "auth", ""), 200, `{"name":"n1@127.0.0.1"}`)
	expectError(t, call(a, http.MethodGet, "/_node/_local", ""), 401, "unauthorized", "You are not a server admin.")
	expectBody(t, call(a, http.MethodGet, "/_node/_local/_divan", "", "auth", ""), 200,
		`{"name":"n1@127.0.0.1","gossip_addr":"127.0.0.1:7946","zone":"z1"}`)
	expectError(t, call(a, http.MethodPut, "/_node/_local/_divan", "", "auth", ""), 405, "method_not_allowed", "Only GET allowed")
	expectError(t, call(a, http.MethodGet, "/_node/_local/_config", "", "auth", ""), 501, "not_implemented", "this feature is not yet implemented")

	for _, tc := range []struct{ target, path, raw string }{
		{"/_node/_local/_nodes/n2@h?rev=1-a", "/_nodes/n2@h", "/_nodes/n2@h"},
		{"/_node/n1@127.0.0.1/shards%2F00000000-7fffffff%2Fdb.1234567890/doc", "/shards/00000000-7fffffff/db.1234567890/doc", "/shards%2F00000000-7fffffff%2Fdb.1234567890/doc"},
		{"/_node/_local//_dbs/", "/_dbs", "/_dbs"},
		{"/_node/n1@127.0.0.1", "/", "/"},
	} {
		r := call(a, http.MethodPut, tc.target, `{"a":1}`, "auth", "")
		if r.status != 201 || r.body != `{"ok":true}` {
			t.Fatalf("%s: %d %s", tc.target, r.status, r.body)
		}
		if seen.method != http.MethodPut || seen.path != tc.path || seen.rawPath != tc.raw || seen.body != `{"a":1}` || !strings.HasPrefix(seen.auth, "Basic ") {
			t.Errorf("%s: node-local saw %+v", tc.target, seen)
		}
		if strings.Contains(tc.target, "?") && seen.query != "rev=1-a" {
			t.Errorf("query %q", seen.query)
		}
	}

	none := newClusterAPI(t, stubBackend{}, nil)
	expectError(t, call(none, http.MethodGet, "/_node/_local/_dbs", "", "auth", ""), 404, "not_found", "missing")
	expectBody(t, call(none, http.MethodGet, "/_node/_local/_divan", "", "auth", ""), 200, `{"name":"n1@127.0.0.1","gossip_addr":""}`)
	expectError(t, call(none, http.MethodGet, "/_node/n2@h/_dbs", "", "auth", ""), 404, "not_found", "no such node: n2@h")
}

func TestNodeLocalProxy(t *testing.T) {
	var seen seenRequest
	remote := httptest.NewServer(recordingHandler(&seen, 202, `{"remote":true}`))
	defer remote.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedAddr := strings.TrimPrefix(closed.URL, "http://")
	closed.Close()

	fc := &fakeCluster{
		addrs: map[string]string{"n2@h": strings.TrimPrefix(remote.URL, "http://"), "n3@h": "127.0.0.1:1", "n4@h": closedAddr},
		down:  map[string]bool{"n3@h": true},
	}
	a := newClusterAPI(t, stubBackend{}, func(c *Config) { c.Cluster = fc })
	r := call(a, http.MethodPost, "/_node/n2@h/shards%2F00000000-7fffffff%2Fdb.1234567890/_bulk_docs?w=1", `{"docs":[]}`, "auth", "")
	if r.status != 202 || r.body != `{"remote":true}` || r.header.Values("Server")[0] != "remote" || len(r.header.Values("Server")) != 1 {
		t.Fatalf("proxied: %d %s %v", r.status, r.body, r.header)
	}
	want := seenRequest{http.MethodPost, "/_node/_local/shards/00000000-7fffffff/db.1234567890/_bulk_docs",
		"/_node/_local/shards%2F00000000-7fffffff%2Fdb.1234567890/_bulk_docs", "w=1", seen.auth, `{"docs":[]}`}
	if seen != want || !strings.HasPrefix(seen.auth, "Basic ") {
		t.Errorf("remote saw %+v, want %+v", seen, want)
	}
	call(a, http.MethodGet, "/_node/n2@h", "", "auth", "")
	if seen.path != "/_node/n2@h" {
		t.Errorf("bare node path proxied as %q", seen.path)
	}
	expectError(t, call(a, http.MethodGet, "/_node/n3@h/_dbs", "", "auth", ""), 412, "nodedown", "n3@h is down")
	r = call(a, http.MethodGet, "/_node/n4@h/_dbs", "", "auth", "")
	expectError(t, r, 412, "nodedown", "n4@h is down")
	if r.hdr("Server") == "" {
		t.Error("proxy failure lost the Server header")
	}
	expectError(t, call(a, http.MethodGet, "/_node/n9@h/_dbs", "", "auth", ""), 404, "not_found", "no such node: n9@h")
}
