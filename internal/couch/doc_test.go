package couch

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/divandb/divan/internal/rawjson"
)

func TestParseDoc(t *testing.T) {
	const hexUpper = "0123456789ABCDEF0123456789ABCDEF"
	tests := []struct {
		name      string
		in        string
		id        string
		rev       string // "" for none
		revisions string // "start:id,id" or ""
		deleted   bool
		body      string
		atts      string
		err       *Error // Code and Reason compared
	}{
		{name: "specials extracted, body exact",
			in: `{"b":1.50,"a":"\u00e9","_id":"x"}`, id: "x", body: `{"b":1.50,"a":"\u00e9"}`},
		{name: "white space removed, not inside strings",
			in:  " {\n \"a\" : [ 1 , 2e3 ,{ \"k\" : \"x  y\" } ] ,\t\"_rev\" : \"1-abc\" } \n",
			rev: "1-abc", body: `{"a":[1,2e3,{"k":"x  y"}]}`},
		{name: "empty", in: `{}`, body: `{}`},
		{name: "only specials", in: `{"_id":"a","_rev":"2-b","_deleted":true}`, id: "a", rev: "2-b", deleted: true, body: `{}`},
		{name: "deleted false", in: `{"_deleted":false,"x":null}`, body: `{"x":null}`},
		{name: "nested underscore keys are data", in: `{"a":{"_x":1,"_id":2}}`, body: `{"a":{"_x":1,"_id":2}}`},
		{name: "escaped special key", in: `{"\u005fid":"y","\u0061":1}`, id: "y", body: `{"\u0061":1}`},
		{name: "duplicate keys kept", in: `{"a":1,"a":2}`, body: `{"a":1,"a":2}`},
		{name: "replication fields kept",
			in:   `{"_replication_state":"error","source":"a","_replication_id":"r","_replication_state_time":1,"_replication_state_reason":"x","_replication_stats":{}}`,
			body: `{"_replication_state":"error","source":"a","_replication_id":"r","_replication_state_time":1,"_replication_state_reason":"x","_replication_stats":{}}`},
		{name: "ignored specials dropped",
			in:   `{"_conflicts":["1-a"],"_deleted_conflicts":[],"_revs_info":[],"_local_seq":3,"_access":["u"],"v":1}`,
			body: `{"v":1}`},
		{name: "attachments", in: `{"_attachments":{"f":{"stub":true}},"a":1}`, atts: `{"f":{"stub":true}}`, body: `{"a":1}`},
		{name: "upper hex rev lowercased", in: `{"_rev":"3-` + hexUpper + `"}`, rev: "3-" + strings.ToLower(hexUpper), body: `{}`},
		{name: "first _rev counts", in: `{"_rev":"1-a","_rev":"2-b"}`, rev: "1-a", body: `{}`},
		{name: "_revisions",
			in:  `{"_revisions":{"start":3,"ids":["c","b","a"]},"x":1}`,
			rev: "3-c", revisions: "3:c,b,a", body: `{"x":1}`},
		{name: "_revisions overrides earlier _rev",
			in:  `{"_rev":"1-x","_revisions":{"ids":["b","a"],"start":2}}`,
			rev: "2-b", revisions: "2:b,a", body: `{}`},
		{name: "_rev after _revisions ignored",
			in:  `{"_revisions":{"start":2,"ids":["b","a"]},"_rev":"garbage"}`,
			rev: "2-b", revisions: "2:b,a", body: `{}`},
		{name: "_revisions first member counts",
			in:  `{"_revisions":{"start":2,"ids":["b","a"],"start":9,"ids":7}}`,
			rev: "2-b", revisions: "2:b,a", body: `{}`},
		{name: "_revisions hex ids lowercased",
			in:  `{"_revisions":{"start":1,"ids":["` + hexUpper + `"]}}`,
			rev: "1-" + strings.ToLower(hexUpper), revisions: "1:" + strings.ToLower(hexUpper), body: `{}`},
		{name: "_revisions empty ids", in: `{"_revisions":{"start":0,"ids":[]},"_rev":"1-a"}`,
			rev: "1-a", revisions: "0:", body: `{}`},

		{name: "bad special", in: `{"_foo":1}`, err: Errorf(CodeDocValidation, "Bad special document member: _foo")},
		{name: "unknown replication field", in: `{"_replication_foo":1}`,
			err: Errorf(CodeDocValidation, "Bad special document member: _replication_foo")},
		{name: "deleted not boolean", in: `{"_deleted":"true"}`, err: Errorf(CodeDocValidation, "Bad special document member: _deleted")},
		{name: "attachments not object", in: `{"_attachments":null}`, err: Errorf(CodeDocValidation, "Bad special document member: _attachments")},
		{name: "id not string", in: `{"_id":1}`, err: Errorf(CodeIllegalDocID, "Document id must be a string")},
		{name: "rev not string", in: `{"_rev":1}`, err: ErrBadRev},
		{name: "rev malformed", in: `{"_rev":"abc"}`, err: ErrBadRev},
		{name: "rev 32 non-hex", in: `{"_rev":"1-0123456789abcdef0123456789abcdeg"}`, err: ErrBadRev},
		{name: "revisions not object", in: `{"_revisions":[]}`, err: Errorf(CodeDocValidation, "Bad special document member: _revisions")},
		{name: "revisions start string", in: `{"_revisions":{"start":"1","ids":["a"]}}`,
			err: Errorf(CodeDocValidation, "_revisions.start isn't an integer.")},
		{name: "revisions start float", in: `{"_revisions":{"start":1.0,"ids":["a"]}}`,
			err: Errorf(CodeDocValidation, "_revisions.start isn't an integer.")},
		{name: "revisions start null", in: `{"_revisions":{"start":null,"ids":[]}}`,
			err: Errorf(CodeDocValidation, "_revisions.start isn't an integer.")},
		{name: "revisions start missing", in: `{"_revisions":{"ids":[]}}`,
			err: Errorf(CodeDocValidation, "_revisions.start isn't an integer.")},
		{name: "revisions keys are case sensitive", in: `{"_revisions":{"Start":1,"ids":["a"]}}`,
			err: Errorf(CodeDocValidation, "_revisions.start isn't an integer.")},
		{name: "revisions ids not array", in: `{"_revisions":{"start":1,"ids":"a"}}`,
			err: Errorf(CodeDocValidation, "_revisions.ids isn't a array.")},
		{name: "revisions ids missing", in: `{"_revisions":{"start":1}}`,
			err: Errorf(CodeDocValidation, "_revisions.ids isn't a array.")},
		{name: "revisions id not string", in: `{"_revisions":{"start":1,"ids":[1]}}`,
			err: Errorf(CodeDocValidation, "RevId isn't a string")},
		{name: "revisions id empty", in: `{"_revisions":{"start":1,"ids":[""]}}`,
			err: Errorf(CodeDocValidation, "RevId isn't a string")},
		{name: "revisions id 32 non-hex", in: `{"_revisions":{"start":1,"ids":["0123456789abcdef0123456789abcdeX"]}}`,
			err: Errorf(CodeDocValidation, "RevId isn't a valid hexadecimal")},
		{name: "revisions more ids than start", in: `{"_revisions":{"start":1,"ids":["b","a"]}}`,
			err: Errorf(CodeDocValidation, "RevId isn't a string")},

		{name: "array", in: `[1]`, err: ErrNotObject},
		{name: "string", in: `"x"`, err: ErrNotObject},
		{name: "null", in: `null`, err: ErrNotObject},
		{name: "truncated", in: `{"a":1`, err: Errorf(CodeBadRequest, "invalid UTF-8 JSON")},
		{name: "trailing", in: `{"a":1}x`, err: Errorf(CodeBadRequest, "invalid UTF-8 JSON")},
		{name: "two values", in: `{} {}`, err: Errorf(CodeBadRequest, "invalid UTF-8 JSON")},
		{name: "invalid UTF-8", in: "{\"a\":\"\xff\"}", err: Errorf(CodeBadRequest, "invalid UTF-8 JSON")},
		{name: "empty input", in: ``, err: Errorf(CodeBadRequest, "invalid UTF-8 JSON")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDoc([]byte(tc.in))
			if tc.err != nil {
				var ce *Error
				if !errors.As(err, &ce) || ce.Code != tc.err.Code || ce.Reason != tc.err.Reason {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if d.ID != tc.id {
				t.Fatalf("ID %q, want %q", d.ID, tc.id)
			}
			if got := ""; !d.Rev.IsZero() {
				if got = d.Rev.String(); got != tc.rev {
					t.Fatalf("Rev %q, want %q", got, tc.rev)
				}
			} else if tc.rev != "" {
				t.Fatalf("Rev zero, want %q", tc.rev)
			}
			got := ""
			if d.Revisions != nil {
				got = strings.TrimSuffix(strings.Join(append([]string{strconv.Itoa(d.Revisions.Start) + ":"}, d.Revisions.IDs...), ","), ",")
				got = strings.Replace(got, ":,", ":", 1)
			}
			if got != tc.revisions {
				t.Fatalf("Revisions %q, want %q", got, tc.revisions)
			}
			if d.Deleted != tc.deleted {
				t.Fatalf("Deleted %v", d.Deleted)
			}
			if string(d.Body) != tc.body {
				t.Fatalf("Body %s, want %s", d.Body, tc.body)
			}
			if string(d.Attachments) != tc.atts {
				t.Fatalf("Attachments %s, want %s", d.Attachments, tc.atts)
			}
		})
	}
}

func TestValidateDocID(t *testing.T) {
	tests := []struct {
		id     string
		reason string // "" when valid
	}{
		{"a", ""},
		{"_design/x", ""},
		{"_local/x", ""},
		{"é 💡/x_", ""},
		{"", "Document id must not be empty"},
		{"_design/", "Illegal document id `_design/`"},
		{"_local/", "Illegal document id `_local/`"},
		{"_design", "Only reserved document ids may start with underscore."},
		{"_foo", "Only reserved document ids may start with underscore."},
		{"_users", "Only reserved document ids may start with underscore."},
		{"a\xffb", "Document id must be valid UTF-8"},
	}
	for _, tc := range tests {
		err := ValidateDocID(tc.id)
		if tc.reason == "" {
			if err != nil {
				t.Fatalf("%q: %v", tc.id, err)
			}
			continue
		}
		var ce *Error
		if !errors.As(err, &ce) || ce.Code != CodeIllegalDocID || ce.Reason != tc.reason {
			t.Fatalf("%q: err %v, want illegal_docid %q", tc.id, err, tc.reason)
		}
	}
}

func TestParseRev(t *testing.T) {
	tests := []struct {
		in  string
		out Rev
		ok  bool
	}{
		{"1-abc", Rev{1, "abc"}, true},
		{"0-1", Rev{0, "1"}, true},
		{"12-a-b", Rev{12, "a-b"}, true},
		{"+3-x", Rev{3, "x"}, true},
		{"3-" + hexA, Rev{3, hexA}, true},
		{"3-0123456789ABCDEF0123456789abcdef", Rev{3, hexA}, true},
		{"3-0123456789abcdef0123456789abcdez", Rev{}, false},
		{"", Rev{}, false},
		{"-", Rev{}, false},
		{"1-", Rev{}, false},
		{"-a", Rev{}, false},
		{"a-b", Rev{}, false},
		{"-1-a", Rev{}, false},
		{" 1-a", Rev{}, false},
		{"1.0-a", Rev{}, false},
		{"99999999999999999999-a", Rev{}, false},
		{"1", Rev{}, false},
	}
	for _, tc := range tests {
		r, err := ParseRev(tc.in)
		if (err == nil) != tc.ok || r != tc.out {
			t.Fatalf("ParseRev(%q) = %v, %v", tc.in, r, err)
		}
		if err != nil && !errors.Is(err, ErrBadRev) {
			t.Fatalf("ParseRev(%q) error %v", tc.in, err)
		}
		if r2, err := ParseRev(r.String()); tc.ok && (err != nil || r2 != r) {
			t.Fatalf("ParseRev(%q) does not round-trip", tc.in)
		}
	}
}

func FuzzParseDoc(f *testing.F) {
	for _, s := range []string{
		`{"b":1.50,"a":"\u00e9","_id":"x"}`,
		`{"_id":"a","_rev":"1-b","_deleted":true,"_attachments":{"x":{}},"k":[1,{"_z":" "}]}`,
		`{"_revisions":{"start":2,"ids":["b","a"]},"_replication_state":"x"}`,
		` { "a" : "\"\\" , "\u005fid" : "\ud83d\ude00" } `,
		`[{}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDoc(data)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		if !json.Valid(d.Body) || len(d.Body) < 2 || d.Body[0] != '{' {
			t.Fatalf("body %q", d.Body)
		}
		if err := rawjson.Members(d.Body, func(rawjson.Member) error { return nil }); err != nil {
			t.Fatalf("body %q: %v", d.Body, err)
		}
		if d.Revisions != nil && len(d.Revisions.IDs) > 0 {
			if d.Rev != d.Revisions.Revs()[0] {
				t.Fatalf("Rev %v, revisions %v", d.Rev, d.Revisions)
			}
		}
		// The body alone, with the id, parses back to the same body.
		again := rawjson.AppendString([]byte(`{"_id":`), d.ID)
		if len(d.Body) > 2 {
			again = append(again, ',')
			again = append(again, d.Body[1:]...)
		} else {
			again = append(again, '}')
		}
		d2, err := ParseDoc(again)
		if err != nil {
			t.Fatalf("reparse %s: %v", again, err)
		}
		if d2.ID != d.ID || string(d2.Body) != string(d.Body) || !d2.Rev.IsZero() || d2.Deleted {
			t.Fatalf("reparse %s: %+v, want body %s", again, d2, d.Body)
		}
	})
}

// BenchmarkParseValidDoc parses one document of a _bulk_docs body as divan's
// benchmark tool sends it: an id, two short fields and a ~950-byte string.
func BenchmarkParseValidDoc(b *testing.B) {
	doc := []byte(`{"_id":"c00-w00-000123","type":"bench","n":123,"payload":"` + strings.Repeat("aB3x9Qz0Lk", 95) + `"}`)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := ParseValidDoc(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSharedEncoding(t *testing.T) {
	var s SharedEncoding
	calls := 0
	encode := func(v string) func() ([]byte, error) {
		return func() ([]byte, error) { calls++; return []byte(v), nil }
	}
	for range 3 {
		if b, err := s.Get("k", encode("first")); err != nil || string(b) != "first" {
			t.Fatalf("Get = %q, %v", b, err)
		}
	}
	if calls != 1 {
		t.Fatalf("encoded %d times for one key, want once", calls)
	}
	if b, _ := s.Get("other", encode("own")); string(b) != "own" || calls != 2 {
		t.Fatalf("another key got %q (%d encodings), want its own", b, calls)
	}
}
