package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/divandb/divan/internal/couch"
)

// FuzzQueryParsing checks that no query string makes the parameter parsers
// panic, and that every error they return is a CouchDB error.
func FuzzQueryParsing(f *testing.F) {
	for _, s := range []string{
		`startkey="a"&endkey="b"&limit=3`, `keys=["a",1]&key="x"`, `open_revs=all&rev=1-a`,
		`group_level=-1;descending=TRUE`, `atts_since=[%221-a%22]&latest=true`, `%zz=1&a=%`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		r := httptest.NewRequest(http.MethodGet, "/db/_all_docs", nil)
		r.URL.RawQuery = q
		rq := &request{r: r}
		va := newViewArgs()
		if err := va.setQuery(rq.params()); err == nil {
			err = va.validate()
			if err == nil && va.keys != nil {
				_, _, err = va.keyList()
			}
			checkCouchErr(t, err)
		} else {
			checkCouchErr(t, err)
		}
		_, err := parseDocQuery(rq)
		checkCouchErr(t, err)
	})
}

func checkCouchErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if _, _, _, known := errorInfo(err); !known {
		t.Fatalf("non-CouchDB error %v", err)
	}
}

// FuzzSplitPath checks that decoding path segments never panics and that a
// segment escaped with url.PathEscape comes back unchanged.
func FuzzSplitPath(f *testing.F) {
	for _, s := range []string{"db", "a/b", "x y+z", "é", "_design/x", "%", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seg string) {
		_, _ = splitPath(seg, nil)
		if seg == "" {
			return
		}
		got, err := splitPath("/db/"+url.PathEscape(seg), nil)
		if err != nil || len(got) != 2 || got[1] != seg {
			t.Fatalf("round trip of %q: %q %v", seg, got, err)
		}
	})
}

// FuzzAppendDoc checks that any document body ParseDoc accepts renders as
// valid JSON with the same members.
func FuzzAppendDoc(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":{"b":[1,"\u00e9"]},"c":null}`, `{"_id":"x","v":true}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		d, err := couch.ParseDoc([]byte(body))
		if err != nil {
			return
		}
		doc := &couch.Document{ID: "id\"\\", Tree: couch.NewRevTree()}
		rev := couch.Rev{Pos: 1, ID: "a"}
		doc.Tree.Merge([]couch.Rev{rev}, false)
		rv := &couch.Revision{Rev: rev, Body: d.Body}
		out := appendDoc(nil, doc, rv, renderOpts{revs: true, revsInfo: true, conflicts: true, localSeq: true}, true)
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("body %s rendered as invalid JSON %s: %v", body, out, err)
		}
		if m["_id"] != doc.ID || m["_rev"] != "1-a" {
			t.Fatalf("rendered %s", out)
		}
	})
}
