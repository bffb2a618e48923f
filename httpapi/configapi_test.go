package httpapi

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/divandb/divan/internal/config"
)

func newConfigAPI(t *testing.T) (*API, *config.Store, string) {
	t.Helper()
	local := filepath.Join(t.TempDir(), "local.ini")
	st, err := config.Open(context.Background(), config.Options{LocalFile: local})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := newTestAPI(t, func(c *Config) { c.ConfigStore = st })
	return a, st, local
}

func TestConfigEndpoints(t *testing.T) {
	a, st, local := newConfigAPI(t)
	const base = "/_node/_local/_config"

	if r := call(a, "GET", base, ""); r.status != http.StatusUnauthorized {
		t.Fatalf("anonymous GET _config: %d", r.status)
	}
	r := call(a, "GET", base, "", "auth", "")
	if r.status != 200 || !strings.Contains(r.body, `"uuids":{"algorithm":"sequential","max_count":"1000"}`) {
		t.Fatalf("GET _config: %d %s", r.status, r.body)
	}
	// The node's own name is an alias of _local.
	if r := call(a, "GET", "/_node/divan@127.0.0.1/_config/uuids", "", "auth", ""); r.body != `{"algorithm":"sequential","max_count":"1000"}`+"\n" {
		t.Fatalf("GET section: %d %s", r.status, r.body)
	}
	if r := call(a, "GET", base+"/nosuchsection", "", "auth", ""); r.status != 200 || r.body != "{}\n" {
		t.Fatalf("GET empty section: %d %s", r.status, r.body)
	}
	expectError(t, call(a, "GET", base+"/test/foo", "", "auth", ""), 404, "not_found", "unknown_config_value")

	// PUT answers the old value, "" when new; values are trimmed.
	if r := call(a, "PUT", base+"/test/foo", `"bar"`, "auth", ""); r.status != 200 || r.body != "\"\"\n" {
		t.Fatalf("PUT new: %d %s", r.status, r.body)
	}
	if r := call(a, "PUT", base+"/test/foo", `" baz\n"`, "auth", ""); r.status != 200 || r.body != "\"bar\"\n" {
		t.Fatalf("PUT again: %d %s", r.status, r.body)
	}
	if r := call(a, "GET", base+"/test/foo", "", "auth", ""); r.body != "\"baz\"\n" {
		t.Fatalf("GET key: %s", r.body)
	}
	if b, _ := os.ReadFile(local); !strings.Contains(string(b), "foo") {
		t.Fatalf("not persisted:\n%s", b)
	}
	// X-Couch-Persist: false keeps it in memory only.
	call(a, "PUT", base+"/test/mem", `"v"`, "auth", "", "X-Couch-Persist", "false")
	if v, _ := st.Get("test", "mem"); v != "v" {
		t.Fatal("unpersisted value not set")
	}
	if b, _ := os.ReadFile(local); strings.Contains(string(b), "mem") {
		t.Fatalf("X-Couch-Persist: false was persisted:\n%s", b)
	}

	for _, body := range []string{"true", "11", "{}", `{"testing": [1, 2, 3]}`, "null"} {
		expectError(t, call(a, "PUT", base+"/a/b", body, "auth", ""), 400, "bad_request", "a JSON string expected")
	}
	expectError(t, call(a, "PUT", base+"/a/b", `"x`, "auth", ""), 400, "bad_request", "invalid UTF-8 JSON")
	expectError(t, call(a, "PUT", base+"/a/b", `"x\ny"`, "auth", ""), 400, "bad_request", "Invalid configuration value")
	expectError(t, call(a, "PUT", base+"/a%5B/b", `"x"`, "auth", ""), 400, "bad_request", "Invalid configuration section")
	for _, sec := range []string{"daemons", "external", "httpd_design_handlers", "httpd_db_handlers", "native_query_servers", "os_daemons", "query_servers"} {
		expectError(t, call(a, "PUT", base+"/"+sec+"/wohali", `"rules"`, "auth", ""), 403, "forbidden", "Config section blacklisted for modification over HTTP API.")
		expectError(t, call(a, "DELETE", base+"/"+sec+"/wohali", "", "auth", ""), 403, "forbidden", "Config section blacklisted for modification over HTTP API.")
	}

	// DELETE answers the old value; a missing key is 404.
	if r := call(a, "DELETE", base+"/test/foo", "", "auth", ""); r.status != 200 || r.body != "\"baz\"\n" {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	expectError(t, call(a, "DELETE", base+"/test/foo", "", "auth", ""), 404, "not_found", "unknown_config_value")

	// Methods.
	expectError(t, call(a, "POST", base, "", "auth", ""), 405, "method_not_allowed", "Only GET allowed")
	expectError(t, call(a, "PUT", base+"/test", "", "auth", ""), 405, "method_not_allowed", "Only GET allowed")
	expectError(t, call(a, "POST", base+"/test/foo", "", "auth", ""), 405, "method_not_allowed", "Only GET,PUT,DELETE allowed")
	expectError(t, call(a, "GET", base+"/_reload", "", "auth", ""), 405, "method_not_allowed", "Only POST allowed")
	expectError(t, call(a, "GET", base+"/a/b/c", "", "auth", ""), 404, "not_found", "missing")

	// _reload drops what was not persisted.
	if r := call(a, "POST", base+"/_reload", "", "auth", ""); r.status != 200 || r.body != "{\"ok\":true}\n" {
		t.Fatalf("_reload: %d %s", r.status, r.body)
	}
	if _, ok := st.Get("test", "mem"); ok {
		t.Fatal("_reload kept an unpersisted value")
	}

	// CouchDB 3 has no top-level /_config: it is just a missing database.
	expectError(t, call(a, "GET", "/_config", "", "auth", ""), 404, "not_found", "Database does not exist.")
}
