package httpapi

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/divandb/divan/internal/couch"
)

func TestParseScalars(t *testing.T) {
	q := func(s string) paramVal { return paramVal{text: s} }
	j := func(s string) paramVal { return paramVal{json: []byte(s), decoded: true} }

	for _, tc := range []struct {
		v       paramVal
		want    bool
		wantErr string
	}{
		{q("true"), true, ""},
		{q("FALSE"), false, ""},
		{q("True"), true, ""},
		{q("yes"), false, `Invalid boolean parameter: "yes"`},
		{q(`a"b`), false, `Invalid boolean parameter: "a\"b"`},
		{j("true"), true, ""},
		{j(`"false"`), false, ""},
		{j("1"), false, "Invalid boolean parameter: 1"},
	} {
		got, err := parseBoolean(tc.v)
		checkParse(t, "parseBoolean", tc.v, got, tc.want, err, tc.wantErr)
	}
	for _, tc := range []struct {
		v       paramVal
		want    int
		wantErr string
	}{
		{q("10"), 10, ""},
		{q("0"), 0, ""},
		{q("-1"), 0, `Invalid value for positive integer: "-1"`},
		{q("x"), 0, `Invalid value for integer: "x"`},
		{q("1.5"), 0, `Invalid value for integer: "1.5"`},
		{j("25"), 25, ""},
		{j("-3"), 0, "Invalid value for positive integer: -3"},
		{j(`"5"`), 0, `Invalid value for integer: "5"`},
	} {
		got, err := parsePosInt(tc.v)
		checkParse(t, "parsePosInt", tc.v, got, tc.want, err, tc.wantErr)
	}
}

func checkParse[T comparable](t *testing.T, fn string, v paramVal, got, want T, err error, wantErr string) {
	t.Helper()
	if wantErr != "" {
		var ce *couch.Error
		if err == nil || !asCouch(err, &ce) || ce.Code != couch.CodeQueryParse || ce.Reason != wantErr {
			t.Errorf("%s(%+v) error %v, want query_parse_error %q", fn, v, err, wantErr)
		}
		return
	}
	if err != nil || got != want {
		t.Errorf("%s(%+v) = %v, %v; want %v", fn, v, got, err, want)
	}
}

func asCouch(err error, target **couch.Error) bool {
	ce, ok := err.(*couch.Error)
	if ok {
		*target = ce
	}
	return ok
}

func newTestRequest(method, target string) *request {
	return &request{r: httptest.NewRequest(method, target, nil)}
}

func TestParseDocQuery(t *testing.T) {
	rq := newTestRequest(http.MethodGet, `/db/doc?rev=2-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&revs=true&revs_info=yes&meta=true&latest=true&r=2&w=x&new_edits=false&open_revs=%5B%221-abc%22%2C%222-def%22%5D&atts_since=%5B%5D`)
	q, err := parseDocQuery(rq)
	if err != nil {
		t.Fatal(err)
	}
	if q.rev != (couch.Rev{Pos: 2, ID: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
		t.Errorf("rev = %v", q.rev)
	}
	if !q.revs || !q.revsInfo || !q.conflicts || !q.deletedConflicts || !q.latest {
		t.Errorf("booleans = %+v; meta=true must set revs_info, conflicts, deleted_conflicts", q)
	}
	if q.localSeq || q.attachments {
		t.Errorf("options not asked for are set: %+v", q)
	}
	if q.r != 2 || q.w != 0 || q.newEdits {
		t.Errorf("r=%d w=%d new_edits=%v", q.r, q.w, q.newEdits)
	}
	if !q.hasOpenRevs || q.openAll || !slices.Equal(q.openRevs, []couch.Rev{{Pos: 1, ID: "abc"}, {Pos: 2, ID: "def"}}) {
		t.Errorf("open_revs = %v all=%v", q.openRevs, q.openAll)
	}
	if q.attsSince == nil || len(q.attsSince) != 0 {
		t.Errorf("atts_since = %v, want an empty non-nil list", q.attsSince)
	}

	for _, tc := range []struct{ target, want string }{
		{"/db/doc?rev=bad", "Invalid rev format"},
		{"/db/doc?open_revs=[1]", "Invalid rev format"},
		{"/db/doc?open_revs=[", "invalid UTF-8 JSON"},
		{"/db/doc?atts_since=%5B%22x%22%5D", "Invalid rev format"},
	} {
		if _, err := parseDocQuery(newTestRequest(http.MethodGet, tc.target)); err == nil || err.(*couch.Error).Reason != tc.want {
			t.Errorf("parseDocQuery(%s) error %v, want %q", tc.target, err, tc.want)
		}
	}

	q, _ = parseDocQuery(newTestRequest(http.MethodGet, "/db/doc?open_revs=all"))
	if !q.hasOpenRevs || !q.openAll {
		t.Errorf("open_revs=all: %+v", q)
	}
	q, _ = parseDocQuery(newTestRequest(http.MethodGet, "/db/doc?open_revs=%5B%5D"))
	if q.hasOpenRevs {
		t.Error("open_revs=[] must read the document normally")
	}
}

func TestViewArgs(t *testing.T) {
	parse := func(query string) (viewArgs, error) {
		va := newViewArgs()
		rq := newTestRequest(http.MethodGet, "/db/_all_docs?"+query)
		if err := va.setQuery(rq.params()); err != nil {
			return va, err
		}
		return va, va.validate()
	}
	str := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	for _, tc := range []struct {
		name, query            string
		start, end, wantErr    string
		limit, skip            int
		descending, inclusive  bool
		includeDocs, updateSeq bool
	}{
		{name: "defaults", start: "<nil>", end: "<nil>", limit: -1, inclusive: true},
		{name: "range", query: `startkey="a"&endkey="c"&inclusive_end=false&limit=3&skip=2`, start: "a", end: "c", limit: 3, skip: 2},
		{name: "aliases", query: `start_key="a"&end_key="c"`, start: "a", end: "c", limit: -1, inclusive: true},
		{name: "key sets both", query: `key="k"`, start: "k", end: "k", limit: -1, inclusive: true},
		{name: "later wins (key last)", query: `endkey="b"&key="c"`, start: "c", end: "c", limit: -1, inclusive: true},
		{name: "later wins (endkey last)", query: `key="a"&endkey="b"`, start: "a", end: "b", limit: -1, inclusive: true},
		{name: "docid fallback", query: `startkey_docid=x&endkey_docid=y`, start: "x", end: "y", limit: -1, inclusive: true},
		{name: "string key beats docid", query: `startkey="a"&startkey_docid=x`, start: "a", end: "<nil>", limit: -1, inclusive: true},
		{name: "non-string key falls back", query: `startkey=1&endkey=null&start_key_doc_id=q`, start: "q", end: "<nil>", limit: -1, inclusive: true},
		{name: "flags", query: `descending=true&include_docs=true&update_seq=true&conflicts=false`, start: "<nil>", end: "<nil>", limit: -1, inclusive: true, descending: true, includeDocs: true, updateSeq: true},
		{name: "unknown ignored", query: `foo=bar&callback=x&stale=ok&stable=true&update=lazy&sorted=false`, start: "<nil>", end: "<nil>", limit: -1, inclusive: true},
		{name: "bad json", query: `startkey=abc`, wantErr: "invalid UTF-8 JSON"},
		{name: "bad limit", query: `limit=-1`, wantErr: `Invalid value for positive integer: "-1"`},
		{name: "bad bool", query: `descending=1`, wantErr: `Invalid boolean parameter: "1"`},
		{name: "bad stale", query: `stale=now`, wantErr: "Invalid value for `stale`."},
		{name: "bad stable", query: `stable=x`, wantErr: "Invalid value for `stable`."},
		{name: "bad update", query: `update=x`, wantErr: "Invalid value for `update`."},
		{name: "keys with key", query: `keys=["a"]&key="b"`, wantErr: "`keys` is incompatible with `key`, `start_key` and `end_key`"},
		{name: "keys with startkey", query: `startkey="b"&keys=["a"]`, wantErr: "`keys` is incompatible with `key`, `start_key` and `end_key`"},
		{name: "empty keys with key", query: `keys=[]&key="b"`, start: "b", end: "b", limit: -1, inclusive: true},
		{name: "keys not array", query: `keys={}`, wantErr: "`keys` must be an array of strings."},
		{name: "reduce", query: `reduce=true`, wantErr: "Reduce is invalid for map-only views."},
		{name: "reduce false", query: `reduce=false`, start: "<nil>", end: "<nil>", limit: -1, inclusive: true},
		{name: "group", query: `group=true`, wantErr: "Invalid use of grouping on a map view."},
		{name: "group level", query: `group_level=2`, wantErr: "Invalid use of grouping on a map view."},
		{name: "group false level", query: `group=false&group_level=1`, wantErr: "Can't specify group=false and group_level>0 at the same time"},
		{name: "group false", query: `group=false&group_level=0`, start: "<nil>", end: "<nil>", limit: -1, inclusive: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			va, err := parse(tc.query)
			if tc.wantErr != "" {
				if err == nil || err.(*couch.Error).Reason != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			start, end := va.keyRange()
			if str(start) != tc.start || str(end) != tc.end {
				t.Errorf("range %s..%s, want %s..%s", str(start), str(end), tc.start, tc.end)
			}
			if va.limit != tc.limit || va.skip != tc.skip || va.descending != tc.descending ||
				va.inclusiveEnd != tc.inclusive || va.includeDocs != tc.includeDocs || va.updateSeq != tc.updateSeq {
				t.Errorf("args %+v", va)
			}
		})
	}
}

func TestViewArgsBody(t *testing.T) {
	va := newViewArgs()
	if err := va.setBody([]byte(`{"keys":["x"],"include_docs":true,"limit":2,"descending":"true","startkey_docid":"a"}`)); err != nil {
		t.Fatal(err)
	}
	if !va.includeDocs || va.limit != 2 || !va.descending || va.startDocID == nil || *va.startDocID != "a" {
		t.Errorf("body args %+v", va)
	}
	if va.keys != nil {
		t.Error("setBody must leave keys to the caller")
	}
	if err := va.setBody([]byte(`{"limit":"3"}`)); err == nil {
		t.Error(`limit "3" in a body must be an error`)
	}
	va.keys = []byte(`["a",1,"b"]`)
	ids, raw, err := va.keyList()
	if err != nil || !slices.Equal(ids, []string{"a", "", "b"}) || string(raw[1]) != "1" {
		t.Errorf("keyList = %q %q %v", ids, raw, err)
	}
}

func TestClampDesign(t *testing.T) {
	s := func(v string) *string { return &v }
	str := func(p *string) string { return *p }
	for _, tc := range []struct {
		start, end *string
		desc       bool
		wantS      string
		wantE      string
	}{
		{nil, nil, false, "_design/", "_design0"},
		{s("_design/b"), s("zzz"), false, "_design/b", "_design0"},
		{s("A"), s("_design/m"), false, "_design/", "_design/m"},
		{s("a"), nil, false, "a", "_design0"}, // after the namespace: nothing
		{nil, nil, true, "_design0", "_design/"},
		{s("_design/x"), s("_design/c"), true, "_design/x", "_design/c"},
	} {
		gs, ge := clampDesign(tc.start, tc.end, tc.desc)
		if str(gs) != tc.wantS || str(ge) != tc.wantE {
			t.Errorf("clampDesign = %s..%s, want %s..%s", str(gs), str(ge), tc.wantS, tc.wantE)
		}
	}
}

func TestParseDestination(t *testing.T) {
	for _, tc := range []struct {
		dest, id string
		rev      couch.Rev
		wantErr  string
	}{
		{dest: "new", id: "new"},
		{dest: "a%2Fb", id: "a/b"},
		{dest: "a+b", id: "a+b"},
		{dest: "dst?rev=1-abc", id: "dst", rev: couch.Rev{Pos: 1, ID: "abc"}},
		{dest: "", wantErr: "Destination header is mandatory for COPY."},
		{dest: "http://x/db/d", wantErr: "Destination URL must be relative."},
		{dest: "dst?rev=bad", wantErr: "Invalid rev format"},
	} {
		id, rev, err := parseDestination(tc.dest)
		if tc.wantErr != "" {
			if err == nil || err.(*couch.Error).Reason != tc.wantErr {
				t.Errorf("parseDestination(%q) error %v, want %q", tc.dest, err, tc.wantErr)
			}
			continue
		}
		if err != nil || id != tc.id || rev != tc.rev {
			t.Errorf("parseDestination(%q) = %q %v %v", tc.dest, id, rev, err)
		}
	}
}
