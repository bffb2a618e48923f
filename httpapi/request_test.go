package httpapi

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"testing"
)

func TestSplitPath(t *testing.T) {
	for _, tc := range []struct {
		name    string
		raw     string
		want    []string
		wantErr bool
	}{
		{name: "root", raw: "/", want: nil},
		{name: "db", raw: "/db", want: []string{"db"}},
		{name: "trailing slash", raw: "/db/", want: []string{"db"}},
		{name: "empty segments dropped", raw: "//db//doc/", want: []string{"db", "doc"}},
		{name: "encoded slash in db", raw: "/a%2Fb/doc", want: []string{"a/b", "doc"}},
		{name: "encoded slash in id", raw: "/db/x%2Fy", want: []string{"db", "x/y"}},
		{name: "plus is literal", raw: "/db/a+b", want: []string{"db", "a+b"}},
		{name: "encoded plus and space", raw: "/db/a%2Bb%20c", want: []string{"db", "a+b c"}},
		{name: "percent", raw: "/db/100%25", want: []string{"db", "100%"}},
		{name: "utf-8", raw: "/db/%C3%A9t%C3%A9", want: []string{"db", "été"}},
		{name: "design unescaped", raw: "/db/_design/app", want: []string{"db", "_design", "app"}},
		{name: "design escaped", raw: "/db/_design%2Fapp", want: []string{"db", "_design/app"}},
		{name: "bad escape", raw: "/db/%zz", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := splitPath(tc.raw, nil)
			if (err != nil) != tc.wantErr {
				t.Fatalf("splitPath(%q) error %v, want error %v", tc.raw, err, tc.wantErr)
			}
			if !tc.wantErr && !slices.Equal(got, tc.want) {
				t.Fatalf("splitPath(%q) = %q, want %q", tc.raw, got, tc.want)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	gen := regexp.MustCompile(`^[0-9a-f]{10}$`)
	for _, tc := range []struct {
		name, client string
		keep         bool
	}{
		{"none", "", false},
		{"valid", "my-req_ID-42", true},
		{"36 chars", "abcdefghijklmnopqrstuvwxyz0123456789", true},
		{"37 chars", "abcdefghijklmnopqrstuvwxyz0123456789a", false},
		{"bad char", "abc def", false},
		{"dot", "a.b", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := requestID(tc.client)
			if tc.keep && got != tc.client {
				t.Fatalf("requestID(%q) = %q, want the client's id", tc.client, got)
			}
			if !tc.keep && !gen.MatchString(got) {
				t.Fatalf("requestID(%q) = %q, want 10 hex digits", tc.client, got)
			}
		})
	}
	if requestID("") == requestID("") {
		t.Fatal("two generated request ids are equal")
	}
}

func TestQueryParams(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, `/db/_all_docs?startkey=%22a%22&limit=5;skip=1&flag&plus=a+b&key=%2B&limit=7`, nil)
	rq := &request{r: r}
	want := []qparam{
		{"startkey", `"a"`}, {"limit", "5"}, {"skip", "1"}, {"flag", ""},
		{"plus", "a b"}, {"key", "+"}, {"limit", "7"},
	}
	if got := rq.params(); !slices.Equal(got, want) {
		t.Fatalf("params() = %q, want %q", got, want)
	}
	if v, ok := rq.qs("limit"); !ok || v != "5" {
		t.Fatalf("qs(limit) = %q, %v; want the first value 5", v, ok)
	}
	if _, ok := rq.qs("missing"); ok {
		t.Fatal("qs(missing) reported a value")
	}
	if n := rq.qsInt("skip", 0); n != 1 {
		t.Fatalf("qsInt(skip) = %d", n)
	}
	if n := rq.qsInt("plus", 9); n != 9 {
		t.Fatalf("qsInt of a non-integer = %d, want the default", n)
	}
}

func TestAccepts(t *testing.T) {
	for _, tc := range []struct {
		accept, ctype string
		want          bool
	}{
		{"", "multipart/mixed", true}, // no Accept header accepts everything
		{"*/*", "application/json", true},
		{"application/json", "multipart/mixed", false},
		{"application/json", "application/json", true},
		{"multipart/*", "multipart/mixed", true},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "application/json", true},
		{"text/html", "application/json", false},
		{"text/html", "text/html", true},
		{"*/*, application/json;q=0", "application/json", false},
		{"multipart/mixed;q=0", "multipart/mixed", false},
		{"application/json;q=abc", "application/json", false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.accept != "" {
			r.Header.Set("Accept", tc.accept)
		}
		if got := accepts(r, tc.ctype); got != tc.want {
			t.Errorf("accepts(Accept: %q, %q) = %v, want %v", tc.accept, tc.ctype, got, tc.want)
		}
	}
}

func TestCouchURLEncode(t *testing.T) {
	for in, want := range map[string]string{
		"db":          "db",
		"a/b":         "a%2Fb",
		"_design/app": "_design%2Fapp",
		"a b+c":       "a%20b%2Bc",
		"x.y-z_1:2":   "x.y-z_1:2",
		"é":           "%C3%A9",
		"$()":         "%24%28%29",
	} {
		if got := couchURLEncode(in); got != want {
			t.Errorf("couchURLEncode(%q) = %q, want %q", in, got, want)
		}
	}
}
