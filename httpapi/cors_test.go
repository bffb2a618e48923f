package httpapi

import (
	"net/http"
	"testing"
)

func corsAPI(t *testing.T, c CORSConfig) *API {
	t.Helper()
	a, _ := newTestAPI(t, func(cfg *Config) { cfg.CORS = c })
	return a
}

func TestCORSPreflight(t *testing.T) {
	a := corsAPI(t, CORSConfig{Enabled: true, Origins: []string{"http://a.example"}})
	r := call(a, "OPTIONS", "/db", "", "Origin", "http://a.example",
		"Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "Content-Type, X-Couch-Persist")
	if r.status != http.StatusNoContent {
		t.Fatalf("preflight: %d %s", r.status, r.body)
	}
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":  "http://a.example",
		"Access-Control-Max-Age":       "600",
		"Access-Control-Allow-Methods": "CONNECT, COPY, DELETE, GET, HEAD, OPTIONS, POST, PUT, TRACE",
		"Access-Control-Allow-Headers": "Content-Type, X-Couch-Persist",
	} {
		if got := r.hdr(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"Access-Control-Allow-Credentials", "Access-Control-Expose-Headers"} {
		if _, ok := r.header[k]; ok {
			t.Errorf("preflight has %s", k)
		}
	}

	// Not a preflight: an unknown origin, a method or header not allowed,
	// no request method. They go on as normal (here unauthenticated) requests.
	for _, h := range [][]string{
		{"Origin", "http://b.example", "Access-Control-Request-Method", "PUT"},
		{"Origin", "http://a.example", "Access-Control-Request-Method", "PATCH"},
		{"Origin", "http://a.example", "Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "X-Evil"},
		{"Origin", "http://a.example"},
	} {
		if r := call(a, "OPTIONS", "/db", "", h...); r.status == http.StatusNoContent || r.hdr("Access-Control-Max-Age") != "" {
			t.Errorf("%v answered as a preflight: %d", h, r.status)
		}
	}
	// Disabled CORS: no preflight at all.
	off := corsAPI(t, CORSConfig{Enabled: false, Origins: []string{"*"}})
	if r := call(off, "OPTIONS", "/db", "", "Origin", "http://a.example", "Access-Control-Request-Method", "GET"); r.status == http.StatusNoContent {
		t.Fatal("preflight answered with CORS disabled")
	}
}

func TestCORSSimpleRequests(t *testing.T) {
	a := corsAPI(t, CORSConfig{Enabled: true, Origins: []string{"http://a.example"}, Credentials: true})
	r := call(a, "GET", "/", "", "Origin", "http://a.example")
	if r.status != 200 || r.hdr("Access-Control-Allow-Origin") != "http://a.example" || r.hdr("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("simple GET: %d %v", r.status, r.header)
	}
	want := "content-type, cache-control, accept-ranges, etag, server, x-couch-request-id, x-couch-update-newrev, x-couchdb-body-time"
	if got := r.hdr("Access-Control-Expose-Headers"); got != want {
		t.Fatalf("expose = %q, want %q", got, want)
	}
	// Errors carry the headers too.
	if r := call(a, "GET", "/_all_dbs", "", "Origin", "http://a.example"); r.status != 401 || r.hdr("Access-Control-Allow-Origin") != "http://a.example" {
		t.Fatalf("error response: %d %v", r.status, r.header)
	}
	if r := call(a, "GET", "/", "", "Origin", "http://other.example"); r.hdr("Access-Control-Allow-Origin") != "" {
		t.Fatal("unlisted origin got CORS headers")
	}
	if r := call(a, "GET", "/", ""); r.hdr("Access-Control-Allow-Origin") != "" {
		t.Fatal("request without Origin got CORS headers")
	}

	// "*" accepts any origin and echoes it; credentials are never allowed
	// for the literal origin "*" (chttpd_cors:allow_credentials).
	star := corsAPI(t, CORSConfig{Enabled: true, Origins: []string{"*"}, Credentials: true})
	if r := call(star, "GET", "/", "", "Origin", "http://x.example"); r.hdr("Access-Control-Allow-Origin") != "http://x.example" || r.hdr("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("wildcard: %v", r.header)
	}
	if r := call(star, "GET", "/", "", "Origin", "*"); r.hdr("Access-Control-Allow-Origin") != "*" || r.hdr("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("origin *: %v", r.header)
	}

	// Configured methods, headers and max_age.
	c := corsAPI(t, CORSConfig{Enabled: true, Origins: []string{"http://a.example"}, Methods: []string{"GET", "POST"}, Headers: []string{"x-foo"}, MaxAge: "42"})
	r = call(c, "OPTIONS", "/", "", "Origin", "http://a.example", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "X-Foo")
	if r.status != 204 || r.hdr("Access-Control-Allow-Methods") != "GET, POST" || r.hdr("Access-Control-Max-Age") != "42" {
		t.Fatalf("configured preflight: %d %v", r.status, r.header)
	}
	if r := call(c, "OPTIONS", "/", "", "Origin", "http://a.example", "Access-Control-Request-Method", "PUT"); r.status == 204 {
		t.Fatal("method outside [cors] methods accepted")
	}
}

func TestSplitCORSList(t *testing.T) {
	for in, want := range map[string]string{
		"":              "[]",
		"a":             "[a]",
		"a , b,c":       "[a b c]",
		"http://x, *, ": "[http://x *]",
	} {
		if got := fmtList(SplitCORSList(in)); got != want {
			t.Errorf("SplitCORSList(%q) = %s, want %s", in, got, want)
		}
	}
}

func fmtList(l []string) string {
	s := "["
	for i, v := range l {
		if i > 0 {
			s += " "
		}
		s += v
	}
	return s + "]"
}
