package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/couch"
)

// stubBackend answers like a cluster with the databases in dbs and nothing
// in them that these tests read: every method not overridden panics (the
// embedded nil interface), so a test that reaches storage fails loudly.
type stubBackend struct {
	Backend
	dbs []string
}

func (s stubBackend) has(db string) bool {
	for _, d := range s.dbs {
		if d == db {
			return true
		}
	}
	return false
}

// Security answers CouchDB 3's default (admin_only) object.
func (s stubBackend) Security(_ context.Context, db string) ([]byte, error) {
	if !s.has(db) {
		return nil, couch.ErrNoDB
	}
	return []byte(`{"members":{"roles":["_admin"]},"admins":{"roles":["_admin"]}}`), nil
}

// WaitForChange has no feed to follow.
func (s stubBackend) WaitForChange(context.Context, string) (<-chan struct{}, error) {
	return nil, errors.New("stub backend: no changes feed")
}

// OpenDoc finds no documents (and no _users database unless listed).
func (s stubBackend) OpenDoc(_ context.Context, db, _ string, _ fabric.ReadOptions) (*couch.Document, error) {
	if !s.has(db) {
		return nil, couch.ErrNoDB
	}
	return nil, couch.ErrNotFound
}

func (s stubBackend) AllDBs(context.Context) ([]string, error) { return s.dbs, nil }

const (
	testUser = "admin"
	testPass = "pw"
)

func newTestAPI(t *testing.T, mutate func(*Config)) (*API, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	cfg := DefaultConfig()
	cfg.ServerUUID = "0123456789abcdef0123456789abcdef"
	cfg.DivanVersion = "9.9.9"
	cfg.GitSHA = "abc1234"
	cfg.Authenticate = func(u, p string) (bool, bool) {
		ok := u == testUser && p == testPass
		return ok, ok
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := New(cfg, stubBackend{dbs: []string{"_users", "alpha", "beta", "db", "gamma"}})
	if err != nil {
		t.Fatal(err)
	}
	return a, &logs
}

type result struct {
	status int
	header http.Header
	body   string
}

// hdr reads a response header whether it was set under its canonical key
// or, like CouchDB's X-CouchDB-Body-Time and ETag, under its exact spelling.
func (r result) hdr(k string) string {
	if v, ok := r.header[k]; ok && len(v) > 0 {
		return v[0]
	}
	return r.header.Get(k)
}

func (r result) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// call runs one request; headers are name, value pairs. "admin" as the
// first header pair value of "auth" adds admin credentials.
func call(a *API, method, target, body string, headers ...string) result {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "auth" {
			r.SetBasicAuth(testUser, testPass)
			continue
		}
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	return result{status: w.Code, header: w.Header(), body: w.Body.String()}
}

func expectError(t *testing.T, r result, status int, name, reason string) {
	t.Helper()
	want := `{"error":` + quote(name) + `,"reason":` + quote(reason) + "}\n"
	if r.status != status || r.body != want {
		t.Fatalf("got %d %q, want %d %q", r.status, r.body, status, want)
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestWelcomeAndHeaders(t *testing.T) {
	a, logs := newTestAPI(t, nil)
	r := call(a, http.MethodGet, "/", "")
	want := `{"couchdb":"Welcome","version":"3.5.2","git_sha":"abc1234","uuid":"0123456789abcdef0123456789abcdef","features":[],"vendor":{"name":"Divan","version":"9.9.9"}}` + "\n"
	if r.status != 200 || r.body != want {
		t.Fatalf("GET / = %d %s", r.status, r.body)
	}
	for k, v := range map[string]string{
		"Server":              "CouchDB/3.5.2 (Divan/9.9.9)",
		"Cache-Control":       "must-revalidate",
		"Content-Type":        "application/json",
		"X-CouchDB-Body-Time": "0",
		"Content-Length":      strconv.Itoa(len(want)),
	} {
		if got := r.hdr(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{10}$`).MatchString(r.hdr("X-Couch-Request-ID")) {
		t.Errorf("X-Couch-Request-ID %q", r.hdr("X-Couch-Request-ID"))
	}
	// One log line per request, with its fields.
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", logs.String(), err)
	}
	if line["msg"] != "request" || line["method"] != "GET" || line["path"] != "/" || line["status"] != 200.0 ||
		line["req_id"] != r.hdr("X-Couch-Request-ID") || line["duration"] == nil {
		t.Errorf("log line %v", line)
	}

	h := call(a, http.MethodHead, "/", "")
	if h.status != 200 || h.body != "" || h.hdr("Content-Length") != strconv.Itoa(len(want)) {
		t.Errorf("HEAD / = %d %q len %s", h.status, h.body, h.header.Get("Content-Length"))
	}
	r = call(a, http.MethodPost, "/", "")
	expectError(t, r, 405, "method_not_allowed", "Only GET,HEAD allowed")
	if r.header.Get("Allow") != "GET,HEAD" {
		t.Errorf("Allow %q", r.header.Get("Allow"))
	}
	if got := call(a, http.MethodGet, "/", "", "X-Couch-Request-ID", "client-id_1").hdr("X-Couch-Request-ID"); got != "client-id_1" {
		t.Errorf("client request id not echoed: %q", got)
	}
}

func TestUpUUIDsFavicon(t *testing.T) {
	a, _ := newTestAPI(t, func(c *Config) { c.UUIDMaxCount = 10 })
	if r := call(a, http.MethodGet, "/_up", ""); r.status != 200 || r.body != `{"status":"ok","seeds":{}}`+"\n" {
		t.Errorf("/_up = %d %s", r.status, r.body)
	}
	r := call(a, http.MethodGet, "/_uuids?count=3", "")
	var u struct{ UUIDs []string }
	if err := json.Unmarshal([]byte(r.body), &u); err != nil || len(u.UUIDs) != 3 || !hex32.MatchString(u.UUIDs[0]) {
		t.Fatalf("/_uuids?count=3 = %s", r.body)
	}
	for k, v := range map[string]string{"Cache-Control": "no-cache", "Pragma": "no-cache", "Expires": "Mon, 01 Jan 1990 00:00:00 GMT"} {
		if r.header.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, r.header.Get(k), v)
		}
	}
	if et := r.hdr("ETag"); et != makeETag(etfBinaryList(u.UUIDs)) {
		t.Errorf("ETag %q", et)
	}
	if r := call(a, http.MethodGet, "/_uuids", ""); !strings.HasPrefix(r.body, `{"uuids":["`) || strings.Count(r.body, ",") != 0 {
		t.Errorf("/_uuids default count: %s", r.body)
	}
	if r := call(a, http.MethodGet, "/_uuids?count=0", ""); r.body != `{"uuids":[]}`+"\n" {
		t.Errorf("count=0: %s", r.body)
	}
	expectError(t, call(a, http.MethodGet, "/_uuids?count=11", ""), 400, "bad_request", "count parameter too large")
	expectError(t, call(a, http.MethodGet, "/_uuids?count=-1", ""), 400, "bad_request", "count must be a positive integer")
	expectError(t, call(a, http.MethodGet, "/_uuids?count=x", ""), 400, "bad_request", "count must be a positive integer")
	expectError(t, call(a, http.MethodPost, "/_uuids", ""), 405, "method_not_allowed", "Only GET allowed")

	f := call(a, http.MethodGet, "/favicon.ico", "")
	if f.status != 200 || f.header.Get("Content-Type") != "image/x-icon" || f.body != string(favicon) ||
		f.header.Get("Cache-Control") != "public, max-age=31536000" || f.header.Get("Expires") == "" {
		t.Errorf("favicon: %d %v", f.status, f.header)
	}
}

func TestAuthentication(t *testing.T) {
	a, _ := newTestAPI(t, nil)
	bad := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:wrong"))
	expectError(t, call(a, http.MethodGet, "/", "", "Authorization", bad), 401, "unauthorized", "Name or password is incorrect.")
	if r := call(a, http.MethodGet, "/", "", "Authorization", bad); r.header.Get("WWW-Authenticate") != "" {
		t.Error("401 must not carry WWW-Authenticate by default")
	}
	expectError(t, call(a, http.MethodGet, "/", "", "Authorization", "Basic !!!"), 400, "bad_request", "Authorization header has invalid base64 value")

	expectError(t, call(a, http.MethodGet, "/_all_dbs", ""), 401, "unauthorized", "You are not a server admin.")
	expectError(t, call(a, http.MethodGet, "/_membership", ""), 401, "unauthorized", "You are not a server admin.")
	expectError(t, call(a, http.MethodPut, "/newdb", ""), 401, "unauthorized", "You are not a server admin.")
	expectError(t, call(a, http.MethodGet, "/db", ""), 401, "unauthorized", "You are not authorized to access this db.")
	expectError(t, call(a, http.MethodGet, "/db/doc", ""), 401, "unauthorized", "You are not authorized to access this db.")
	expectError(t, call(a, http.MethodPost, "/db/_compact", ""), 401, "unauthorized", "You are not a server or db admin.")
	expectError(t, call(a, http.MethodGet, "/nodb", ""), 404, "not_found", "Database does not exist.")

	r := call(a, http.MethodGet, "/_session", "")
	if r.body != `{"ok":true,"userCtx":{"name":null,"roles":[]},"info":{"authentication_handlers":["default"],"authentication_db":"_users"}}`+"\n" {
		t.Errorf("anonymous session %s", r.body)
	}
	r = call(a, http.MethodGet, "/_session", "", "auth", "")
	if r.body != `{"ok":true,"userCtx":{"name":"admin","roles":["_admin"]},"info":{"authentication_handlers":["default"],"authenticated":"default","authentication_db":"_users"}}`+"\n" {
		t.Errorf("admin session %s", r.body)
	}
	expectError(t, call(a, http.MethodGet, "/_session?basic=true", ""), 401, "unauthorized", "Please login.")

	r = call(a, http.MethodGet, "/_all_dbs", "", "X-CouchDB-WWW-Authenticate", "Basic realm=\"x\"")
	if r.status != 401 || r.header.Get("WWW-Authenticate") != `Basic realm="x"` {
		t.Errorf("X-CouchDB-WWW-Authenticate not echoed: %d %v", r.status, r.header)
	}
	r = call(a, http.MethodGet, "/_all_dbs", "", "Accept", "text/html")
	if r.status != 302 || r.header.Get("Location") != "http://example.com/_utils/session.html?return=%2F_all_dbs&reason=You%20are%20not%20a%20server%20admin." {
		t.Errorf("browser redirect: %d %q", r.status, r.header.Get("Location"))
	}

	// Non-admin users authenticate but are not server admins.
	b, _ := newTestAPI(t, func(c *Config) {
		c.Authenticate = func(u, p string) (bool, bool) { return u == "bob" && p == "pw", false }
	})
	bob := "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:pw"))
	expectError(t, call(b, http.MethodGet, "/db", "", "Authorization", bob), 403, "forbidden", "You are not allowed to access this db.")
	expectError(t, call(b, http.MethodGet, "/_all_dbs", "", "Authorization", bob), 401, "unauthorized", "You are not a server admin.")

	c, _ := newTestAPI(t, func(c *Config) { c.AdminOnlyAllDBs = false })
	if r := call(c, http.MethodGet, "/_all_dbs", ""); r.status != 200 {
		t.Errorf("admin_only_all_dbs=false: %d %s", r.status, r.body)
	}
}

func TestAllDBs(t *testing.T) {
	a, _ := newTestAPI(t, nil)
	for query, want := range map[string]string{
		"":                            `["_users","alpha","beta","db","gamma"]`,
		`?startkey="b"`:               `["beta","db","gamma"]`,
		`?start_key="b"&end_key="db"`: `["beta","db"]`,
		`?startkey="b"&endkey="db"&inclusive_end=false`: `["beta"]`,
		`?descending=true&limit=2`:                      `["gamma","db"]`,
		`?descending=true&startkey="d"`:                 `["beta","alpha","_users"]`,
		`?skip=1&limit=2`:                               `["alpha","beta"]`,
		`?limit=0`:                                      `[]`,
	} {
		r := call(a, http.MethodGet, "/_all_dbs"+query, "", "auth", "")
		if r.status != 200 || r.body != want+"\n" {
			t.Errorf("_all_dbs%s = %d %s, want %s", query, r.status, r.body, want)
		}
	}
	expectError(t, call(a, http.MethodGet, "/_all_dbs?limit=x", "", "auth", ""), 400, "query_parse_error", `Invalid value for integer: "x"`)
	expectError(t, call(a, http.MethodPost, "/_all_dbs", "", "auth", ""), 405, "method_not_allowed", "Only GET,HEAD allowed")
	r := call(a, http.MethodGet, "/_all_dbs", "", "auth", "")
	if et := r.hdr("ETag"); et == "" || call(a, http.MethodGet, "/_all_dbs", "", "auth", "", "If-None-Match", et).status != 304 {
		t.Errorf("_all_dbs ETag %q does not give 304", et)
	}
}

func TestDBsInfoErrors(t *testing.T) {
	a, _ := newTestAPI(t, func(c *Config) { c.MaxDBsInfo = 2 })
	ct := "Content-Type"
	expectError(t, call(a, http.MethodPost, "/_dbs_info", `{"keys":["a"]}`, "auth", ""), 415, "bad_content_type", "Content-Type must be application/json")
	expectError(t, call(a, http.MethodPost, "/_dbs_info", `{}`, "auth", "", ct, "application/json"), 400, "bad_request", "`keys` member must exist.")
	expectError(t, call(a, http.MethodPost, "/_dbs_info", `{"keys":1}`, "auth", "", ct, "application/json"), 400, "bad_request", "`keys` member must be an array.")
	expectError(t, call(a, http.MethodPost, "/_dbs_info", `{"keys":["a","b","c"]}`, "auth", "", ct, "application/json"), 400, "bad_request", "too_many_keys")
	expectError(t, call(a, http.MethodPost, "/_dbs_info", `[1]`, "auth", "", ct, "application/json"), 400, "bad_request", "Request body must be a JSON object")
	expectError(t, call(a, http.MethodPost, "/_dbs_info", `{"keys":`, "auth", "", ct, "application/json"), 400, "bad_request", "invalid UTF-8 JSON")
	expectError(t, call(a, http.MethodPut, "/_dbs_info", ``, "auth", ""), 405, "method_not_allowed", "Only GET,HEAD,POST allowed")
}

func TestDatabaseRequestErrors(t *testing.T) {
	a, _ := newTestAPI(t, func(c *Config) {
		c.MaxRequestSize = 200
		c.MaxDocumentSize = 20
	})
	ct := []string{"auth", "", "Content-Type", "application/json"}
	with := func(extra ...string) []string { return append(append([]string{}, ct...), extra...) }

	illegal := "Name: 'Bad'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, -, and / are allowed. Must begin with a letter."
	expectError(t, call(a, http.MethodPut, "/Bad", "", "auth", ""), 400, "illegal_database_name", illegal)
	expectError(t, call(a, http.MethodPut, "/newdb?q=0", "", "auth", ""), 400, "bad_request", "The `q` value should be a positive integer.")
	expectError(t, call(a, http.MethodPut, "/newdb?q=0&n=x", "", "auth", ""), 400, "bad_request", "The `n` value should be a positive integer.")
	expectError(t, call(a, http.MethodPut, "/newdb?placement=x", "", "auth", ""), 400, "bad_request", "The `placement` value should be in a format `zone:n`.")
	expectError(t, call(a, http.MethodPut, "/newdb?partitioned=maybe", "", "auth", ""), 400, "bad_request", "Invalid `partitioned` parameter")
	expectError(t, call(a, http.MethodDelete, "/db?rev=1-x", "", "auth", ""), 400, "bad_request",
		"You tried to DELETE a database with a ?=rev parameter. Did you mean to DELETE a document instead?")
	expectError(t, call(a, http.MethodPost, "/db?rev=1-x", "", "auth", "", "X-HTTP-Method-Override", "DELETE"), 400, "bad_request",
		"You tried to DELETE a database with a ?=rev parameter. Did you mean to DELETE a document instead?")
	expectError(t, call(a, "PATCH", "/db", "", "auth", ""), 405, "method_not_allowed", "Only DELETE,GET,HEAD,POST allowed")
	// A missing database wins over request errors, as CouchDB opens it first.
	expectError(t, call(a, "PATCH", "/nodb", "", "auth", ""), 404, "not_found", "Database does not exist.")
	expectError(t, call(a, http.MethodPost, "/nodb/_bulk_docs", "{}", "auth", ""), 404, "not_found", "Database does not exist.")
	expectError(t, call(a, http.MethodPut, "/nodb/_foo", "{}", "auth", ""), 404, "not_found", "Database does not exist.")

	expectError(t, call(a, http.MethodPost, "/db/_bulk_docs", "{}", "auth", "", "Content-Type", "text/plain"), 415, "bad_content_type", "Content-Type must be application/json")
	expectError(t, call(a, http.MethodPost, "/db/_bulk_docs", "{}", "auth", "", "Content-Type", "application/json-patch"), 415, "bad_content_type", "Content-Type must be application/json")
	expectError(t, call(a, http.MethodPost, "/db/_bulk_docs", "{}", with("Content-Type", "application/json; charset=utf-8")...), 400, "bad_request", "POST body must include `docs` parameter.")
	expectError(t, call(a, http.MethodPost, "/db/_bulk_docs", `{"docs":{}}`, ct...), 400, "bad_request", "`docs` parameter must be an array.")
	expectError(t, call(a, http.MethodPost, "/db/_bulk_docs", `{"docs":[1]}`, ct...), 400, "bad_request", "Document must be a JSON object")
	expectError(t, call(a, http.MethodPost, "/db/_bulk_docs", `{"docs":[{"_id":"x"}],"new_edits":false}`, ct...), 400, "bad_request",
		"When `new_edits: false`, the document needs `_rev` or `_revisions` specified")
	expectError(t, call(a, http.MethodPost, "/db/_bulk_docs", `{"docs":[],"new_edits":"no"}`, ct...), 400, "bad_request", "`new_edits` parameter must be a boolean.")
	expectError(t, call(a, http.MethodGet, "/db/_bulk_docs", ``, "auth", ""), 405, "method_not_allowed", "Only POST allowed")
	r := call(a, http.MethodPost, "/db/_bulk_docs", `{"docs":[{"_id":"a"},{"_rev":"1-abc"}],"all_or_nothing":true}`, ct...)
	if r.status != 417 || !strings.HasPrefix(r.body, `[{"id":"a","rev":"0-","error":"not_implemented","reason":"all_or_nothing is not supported"},{"id":"`) {
		t.Errorf("all_or_nothing: %d %s", r.status, r.body)
	}

	expectError(t, call(a, http.MethodPut, "/db/_foo", "{}", "auth", ""), 400, "illegal_docid", "Only reserved document ids may start with underscore.")
	expectError(t, call(a, http.MethodPut, "/db/doc", `{"a":`, "auth", ""), 400, "bad_request", "invalid UTF-8 JSON")
	expectError(t, call(a, http.MethodPut, "/db/doc", ``, "auth", ""), 400, "bad_request", "invalid UTF-8 JSON")
	expectError(t, call(a, http.MethodPut, "/db/doc", `[]`, "auth", ""), 400, "bad_request", "Document must be a JSON object")
	expectError(t, call(a, http.MethodPut, "/db/doc", `{"_foo":1}`, "auth", ""), 400, "doc_validation", "Bad special document member: _foo")
	expectError(t, call(a, http.MethodPut, "/db/doc", `{"_id":"_bad"}`, "auth", ""), 400, "illegal_docid", "Only reserved document ids may start with underscore.")
	expectError(t, call(a, http.MethodPut, "/db/doc", `{"_id":""}`, "auth", ""), 400, "illegal_docid", "Document id must not be empty")
	expectError(t, call(a, http.MethodPut, "/db/doc", `{"_id":"big","v":"0123456789012345678901234567890"}`, "auth", ""), 413, "document_too_large", "big")
	r = call(a, http.MethodPut, "/db/doc", `{"v":"`+strings.Repeat("x", 300)+`"}`, "auth", "")
	expectError(t, r, 413, "too_large", "the request entity is too large")
	if r.header.Get("Connection") != "close" {
		t.Error("413 must close the connection")
	}
	expectError(t, call(a, http.MethodPut, "/db/doc?rev=1-a", `{"_rev":"1-b"}`, "auth", ""), 400, "bad_request",
		"Document rev from request body and query string have different values")
	expectError(t, call(a, http.MethodPut, "/db/doc", `{"_rev":"1-b"}`, "auth", "", "If-Match", `"1-a"`), 400, "bad_request",
		"Document rev and etag have different values")
	expectError(t, call(a, http.MethodPut, "/db/doc?rev=1-b", `{}`, "auth", "", "If-Match", `"1-a"`), 400, "bad_request",
		"Document rev and etag have different values")
	expectError(t, call(a, http.MethodPut, "/db/doc?rev=junk", `{}`, "auth", ""), 400, "bad_request", "Invalid rev format")
	expectError(t, call(a, http.MethodPut, "/db/doc?new_edits=false", `{}`, "auth", ""), 400, "bad_request",
		"When `new_edits: false`, the document needs `_rev` or `_revisions` specified")
	expectError(t, call(a, http.MethodPost, "/db", `{}`, "auth", ""), 415, "bad_content_type", "Content-Type must be application/json")
	expectError(t, call(a, "PATCH", "/db/doc", ``, "auth", ""), 405, "method_not_allowed", "Only DELETE,GET,HEAD,POST,PUT,COPY allowed")

	expectError(t, call(a, http.MethodGet, "/db/_local", "", "auth", ""), 400, "bad_request", "Invalid _local document id.")
	expectError(t, call(a, http.MethodGet, "/db/_local%2F", "", "auth", ""), 400, "bad_request", "Invalid _local document id.")
	expectError(t, call(a, http.MethodGet, "/db/_local/x/y", "", "auth", ""), 400, "bad_request", "_local documents do not accept attachments.")
	expectError(t, call(a, http.MethodGet, "/db/_explain", "", "auth", ""), 501, "not_implemented", "this feature is not yet implemented")
	expectError(t, call(a, http.MethodGet, "/db/_changes?feed=bogus", "", "auth", ""), 400, "bad_request", "Supported `feed` types: normal, continuous, live, longpoll, eventsource")
	expectError(t, call(a, http.MethodPost, "/db/_compact", "", "auth", ""), 415, "bad_content_type", "Content-Type must be application/json")
	expectError(t, call(a, http.MethodGet, "/db/_compact", "", "auth", ""), 405, "method_not_allowed", "Only POST allowed")
	expectError(t, call(a, http.MethodPost, "/db/_revs_limit", "", "auth", ""), 405, "method_not_allowed", "Only PUT,GET allowed")
	expectError(t, call(a, http.MethodPut, "/db/_purged_infos_limit", "0", "auth", ""), 400, "bad_request", "`purge_infos_limit` must be positive integer")
	expectError(t, call(a, http.MethodPut, "/_users/_security", "{}", "auth", ""), 403, "forbidden", "You can't edit the security object of the user database.")
	expectError(t, call(a, http.MethodPut, "/db/_security", `{"admins":[]}`, "auth", ""), 500, "error", "no_majority")

	r = call(a, http.MethodGet, "/db/_design%2Fapp?rev=1-a", "", "auth", "")
	if r.status != 301 || r.header.Get("Location") != "http://example.com/db/_design/app?rev=1-a" {
		t.Errorf("design redirect: %d %q", r.status, r.header.Get("Location"))
	}
}

func TestURITooLong(t *testing.T) {
	a, _ := newTestAPI(t, func(c *Config) { c.MaxURILength = 50 })
	expectError(t, call(a, http.MethodGet, "/db/"+strings.Repeat("x", 60), "", "auth", ""), 414, "too_long", "the request uri is too long")
}

func TestDrain(t *testing.T) {
	a, _ := newTestAPI(t, nil)
	a.Drain()
	r := call(a, http.MethodGet, "/_up", "")
	expectError(t, r, 503, "service unavailable", "The node is shutting down.")
	if r.header.Get("Connection") != "close" {
		t.Error("draining responses must close the connection")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown with no batch writes: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.UUIDAlgorithm = "nope"
	c.ServerUUID = "xyz"
	if err := c.Validate(); err == nil {
		t.Fatal("Validate accepted a bad algorithm and uuid")
	}
	if _, err := New(DefaultConfig(), nil); err == nil {
		t.Fatal("New accepted a nil backend")
	}
	a, err := New(Config{}, stubBackend{})
	if err != nil {
		t.Fatal(err)
	}
	if a.conf().MaxDocumentSize != 8000000 || a.conf().UUIDAlgorithm != UUIDSequential || !isLowerHex(a.conf().ServerUUID, 32) {
		t.Errorf("zero config not defaulted: %+v", a.conf())
	}
}
