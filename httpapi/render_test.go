package httpapi

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/couch"
)

// testDoc returns a document whose tree has a winner 3-c (parent 2-b, root
// 1-a), a live conflict 2-x and a deleted conflict 2-y.
func testDoc() *couch.Document {
	t := couch.NewRevTree()
	t.Merge([]couch.Rev{{Pos: 3, ID: "c"}, {Pos: 2, ID: "b"}, {Pos: 1, ID: "a"}}, false)
	t.Merge([]couch.Rev{{Pos: 2, ID: "x"}, {Pos: 1, ID: "a"}}, false)
	t.Merge([]couch.Rev{{Pos: 2, ID: "y"}, {Pos: 1, ID: "a"}}, true)
	return &couch.Document{
		ID:   "doc/1 é",
		Seq:  42,
		Tree: t,
		Revisions: []couch.Revision{{
			Rev:  couch.Rev{Pos: 3, ID: "c"},
			Body: []byte(`{"z":1,"a":[1.50,"\u00e9"],"n":{"k":null}}`),
		}},
	}
}

func TestAppendDoc(t *testing.T) {
	doc := testDoc()
	rv := &doc.Revisions[0]
	const head = `{"_id":"doc/1 é","_rev":"3-c","z":1,"a":[1.50,"\u00e9"],"n":{"k":null}`
	for _, tc := range []struct {
		name string
		o    renderOpts
		meta bool
		want string
	}{
		{"plain", renderOpts{}, true, head + `}`},
		{"revs", renderOpts{revs: true}, true, head + `,"_revisions":{"start":3,"ids":["c","b","a"]}}`},
		{"all meta in order", renderOpts{revs: true, revsInfo: true, conflicts: true, deletedConflicts: true, localSeq: true}, true,
			head + `,"_revisions":{"start":3,"ids":["c","b","a"]}` +
				`,"_revs_info":[{"rev":"3-c","status":"available"},{"rev":"2-b","status":"missing"},{"rev":"1-a","status":"missing"}]` +
				`,"_conflicts":["2-x"],"_deleted_conflicts":["2-y"],"_local_seq":42}`},
		{"meta ignored for rev reads", renderOpts{revs: true, revsInfo: true, conflicts: true, localSeq: true}, false,
			head + `,"_revisions":{"start":3,"ids":["c","b","a"]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(appendDoc(nil, doc, rv, tc.o, tc.meta))
			if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			if !json.Valid([]byte(got)) {
				t.Fatal("invalid JSON")
			}
		})
	}

	if !(renderOpts{conflicts: true}).hasMeta(doc) || (renderOpts{revs: true}).hasMeta(doc) {
		t.Error("hasMeta: conflicts present are meta, _revisions is not")
	}
	noConf := &couch.Document{ID: "d", Tree: couch.NewRevTree()}
	noConf.Tree.Merge([]couch.Rev{{Pos: 1, ID: "a"}}, false)
	if (renderOpts{conflicts: true, deletedConflicts: true}).hasMeta(noConf) {
		t.Error("hasMeta: no conflicts means no meta (and an ETag)")
	}
}

func TestAppendDocVariants(t *testing.T) {
	del := &couch.Document{ID: "gone", Tree: couch.NewRevTree()}
	del.Tree.Merge([]couch.Rev{{Pos: 2, ID: "d"}, {Pos: 1, ID: "a"}}, true)
	rv := &couch.Revision{Rev: couch.Rev{Pos: 2, ID: "d"}, Deleted: true, Body: []byte(`{}`)}
	if got, want := string(appendDoc(nil, del, rv, renderOpts{revs: true}, false)),
		`{"_id":"gone","_rev":"2-d","_deleted":true,"_revisions":{"start":2,"ids":["d","a"]}}`; got != want {
		t.Errorf("deleted:\n got %s\nwant %s", got, want)
	}

	local := &couch.Document{ID: "_local/x"}
	lrv := &couch.Revision{Rev: couch.Rev{Pos: 0, ID: "3"}, Body: []byte(`{"k":"v"}`)}
	if got, want := string(appendDoc(nil, local, lrv, renderOpts{revs: true, revsInfo: true, conflicts: true, localSeq: true}, true)),
		`{"_id":"_local/x","_rev":"0-3","k":"v","_revisions":{"start":0,"ids":["3"]}}`; got != want {
		t.Errorf("local:\n got %s\nwant %s", got, want)
	}

	withAtts := &couch.Revision{Rev: couch.Rev{Pos: 1, ID: "a"}, Body: []byte(`{"v":1}`), Atts: []couch.Attachment{
		{Name: "a.txt", ContentType: "text/plain", Digest: "md5-AAA=", Length: 5, RevPos: 1, Encoding: "gzip", EncodedLength: 25},
		{Name: "b.bin", ContentType: "application/octet-stream", Digest: "md5-BBB=", Length: 3, RevPos: 1},
	}}
	d := &couch.Document{ID: "att"}
	if got, want := string(appendDoc(nil, d, withAtts, renderOpts{}, false)),
		`{"_id":"att","_rev":"1-a","v":1,"_attachments":{`+
			`"a.txt":{"content_type":"text/plain","revpos":1,"digest":"md5-AAA=","length":5,"stub":true},`+
			`"b.bin":{"content_type":"application/octet-stream","revpos":1,"digest":"md5-BBB=","length":3,"stub":true}}}`; got != want {
		t.Errorf("stubs:\n got %s\nwant %s", got, want)
	}
	data := map[string][]byte{"md5-BBB=": {0, 1, 2}}
	if got, want := string(appendDoc(nil, d, withAtts, renderOpts{attEncodingInfo: true, attData: data}, false)),
		`{"_id":"att","_rev":"1-a","v":1,"_attachments":{`+
			`"a.txt":{"content_type":"text/plain","revpos":1,"digest":"md5-AAA=","length":5,"stub":true,"encoding":"gzip","encoded_length":25},`+
			`"b.bin":{"content_type":"application/octet-stream","revpos":1,"digest":"md5-BBB=","data":"AAEC"}}}`; got != want {
		t.Errorf("inline data:\n got %s\nwant %s", got, want)
	}
	if got, want := string(appendDoc(nil, d, withAtts, renderOpts{attData: data, follows: true}, false)),
		`{"_id":"att","_rev":"1-a","v":1,"_attachments":{`+
			`"a.txt":{"content_type":"text/plain","revpos":1,"digest":"md5-AAA=","length":5,"stub":true},`+
			`"b.bin":{"content_type":"application/octet-stream","revpos":1,"digest":"md5-BBB=","length":3,"follows":true}}}`; got != want {
		t.Errorf("follows:\n got %s\nwant %s", got, want)
	}
}

func TestAppendBodyMembers(t *testing.T) {
	for body, want := range map[string]string{
		`{}`:            `{"_id":"x"}`,
		``:              `{"_id":"x"}`,
		` {"a":1} `:     `{"_id":"x","a":1}`,
		`{"a":{"b":2}}`: `{"_id":"x","a":{"b":2}}`,
	} {
		got := string(append(appendBodyMembers([]byte(`{"_id":"x"`), []byte(body)), '}'))
		if got != want {
			t.Errorf("body %q: %s, want %s", body, got, want)
		}
	}
}

func TestDocETag(t *testing.T) {
	if got := docETag("d", couch.Rev{Pos: 2, ID: "abc"}, nil); got != `"2-abc"` {
		t.Errorf("doc etag %s", got)
	}
	l1 := docETag("_local/x", couch.Rev{Pos: 0, ID: "1"}, []byte(`{"a":1}`))
	l2 := docETag("_local/x", couch.Rev{Pos: 0, ID: "1"}, []byte(`{"a":2}`))
	if l1 == l2 || l1[0] != '"' || l1 == `"0-1"` {
		t.Errorf("local etags %s %s: a quoted hash of rev and body", l1, l2)
	}
}

func TestAppendAllDocsRow(t *testing.T) {
	doc := &couch.Revision{Rev: couch.Rev{Pos: 1, ID: "a"}, Body: []byte(`{"v":1}`)}
	for _, tc := range []struct {
		name      string
		row       fabric.AllDocsRow
		raw       []byte
		include   bool
		conflicts bool
		want      string
	}{
		{"plain", fabric.AllDocsRow{ID: "x", Rev: couch.Rev{Pos: 1, ID: "a"}}, nil, false, false,
			`{"id":"x","key":"x","value":{"rev":"1-a"}}`},
		{"include docs", fabric.AllDocsRow{ID: "x", Rev: couch.Rev{Pos: 1, ID: "a"}, Doc: doc}, nil, true, false,
			`{"id":"x","key":"x","value":{"rev":"1-a"},"doc":{"_id":"x","_rev":"1-a","v":1}}`},
		{"conflicts", fabric.AllDocsRow{ID: "x", Rev: couch.Rev{Pos: 1, ID: "a"}, Doc: doc, Conflicts: []couch.Rev{{Pos: 1, ID: "0"}}}, nil, true, true,
			`{"id":"x","key":"x","value":{"rev":"1-a"},"doc":{"_id":"x","_rev":"1-a","v":1,"_conflicts":["1-0"]}}`},
		{"deleted key", fabric.AllDocsRow{ID: "x", Rev: couch.Rev{Pos: 2, ID: "d"}, Deleted: true}, nil, true, false,
			`{"id":"x","key":"x","value":{"rev":"2-d","deleted":true},"doc":null}`},
		{"missing key", fabric.AllDocsRow{ID: "nope", Err: couch.ErrNotFound}, nil, false, false,
			`{"key":"nope","error":"not_found"}`},
		{"non-string key", fabric.AllDocsRow{Err: couch.ErrNotFound}, []byte(`{ "a": 1 }`), false, false,
			`{"key":{"a":1},"error":"not_found"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(appendAllDocsRow(nil, &tc.row, tc.raw, tc.include, tc.conflicts))
			if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestAppendDBInfo(t *testing.T) {
	in := &fabric.DBInfo{
		Name: "db", UpdateSeq: "3-g1", PurgeSeq: "0-g1", DocCount: 2, DocDelCount: 1,
		SizeFile: 300, SizeExternal: 100, SizeActive: 200, InstanceStartTime: "1529362187",
		Q: 2, N: 3, W: 2, R: 2, Props: []byte(`{ }`),
	}
	want := `{"instance_start_time":"1529362187","db_name":"db","purge_seq":"0-g1","update_seq":"3-g1",` +
		`"sizes":{"file":300,"external":100,"active":200},"props":{},"doc_del_count":1,"doc_count":2,` +
		`"disk_format_version":8,"compact_running":false,"cluster":{"q":2,"n":3,"w":2,"r":2}}`
	if got := string(appendDBInfo(nil, in)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestOpenRevsRendering(t *testing.T) {
	doc := &couch.Document{ID: "d", Tree: couch.NewRevTree(), Revisions: []couch.Revision{
		{Rev: couch.Rev{Pos: 1, ID: "a"}, Body: []byte(`{"v":1}`)},
		{Rev: couch.Rev{Pos: 9, ID: "zz"}, Missing: true},
		{Rev: couch.Rev{Pos: 2, ID: "b"}, Deleted: true, Body: []byte(`{}`)},
	}}
	doc.Tree.Merge([]couch.Rev{{Pos: 1, ID: "a"}}, false)
	doc.Tree.Merge([]couch.Rev{{Pos: 2, ID: "b"}, {Pos: 1, ID: "a0"}}, true)

	wantJSON := `[{"ok":{"_id":"d","_rev":"1-a","v":1}},{"missing":"9-zz"},{"ok":{"_id":"d","_rev":"2-b","_deleted":true}}]`
	if got := string(appendOpenRevsJSON(nil, doc, renderOpts{})); got != wantJSON {
		t.Errorf("JSON:\n got %s\nwant %s", got, wantJSON)
	}

	a := &API{uuids: newUUIDGen(UUIDSequential, "")}
	wantMP := "--B" +
		"\r\nContent-Type: application/json\r\n\r\n" + `{"_id":"d","_rev":"1-a","v":1}` + "\r\n--B" +
		"\r\nContent-Type: application/json; error=\"true\"\r\n\r\n" + `{"missing":"9-zz"}` + "\r\n--B" +
		"\r\nContent-Type: application/json\r\n\r\n" + `{"_id":"d","_rev":"2-b","_deleted":true}` + "\r\n--B" +
		"--"
	if got := string(a.appendOpenRevsMultipart(nil, doc, renderOpts{}, "B")); got != wantMP {
		t.Errorf("multipart:\n got %q\nwant %q", got, wantMP)
	}
}

func TestAttachmentParts(t *testing.T) {
	atts := []couch.Attachment{
		{Name: "a.txt", ContentType: "text/plain", Digest: "md5-A", Encoding: "gzip"},
		{Name: "skip", ContentType: "x/y", Digest: "md5-S"},
		{Name: "b", ContentType: "application/octet-stream", Digest: "md5-B"},
	}
	data := map[string][]byte{"md5-A": []byte("GZ"), "md5-B": []byte("raw")}
	want := "--I\r\nContent-Type: application/json\r\n\r\n{}\r\n--I" +
		"\r\nContent-Disposition: attachment; filename=\"a.txt\"\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nContent-Encoding: gzip\r\n\r\nGZ\r\n--I" +
		"\r\nContent-Disposition: attachment; filename=\"b\"\r\nContent-Type: application/octet-stream\r\nContent-Length: 3\r\n\r\nraw\r\n--I" +
		"--"
	if got := string(appendAttachmentParts(nil, []byte("{}"), atts, data, "I")); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestAllOrNothingAndDocErrors(t *testing.T) {
	docs := []*couch.Doc{{ID: "a"}, {ID: "b", Rev: couch.Rev{Pos: 2, ID: "x"}}}
	want := `[{"id":"a","rev":"0-","error":"not_implemented","reason":"all_or_nothing is not supported"},` +
		`{"id":"b","rev":"2-x","error":"not_implemented","reason":"all_or_nothing is not supported"}]`
	if got := string(appendAllOrNothing(nil, docs)); got != want {
		t.Errorf("all_or_nothing:\n got %s\nwant %s", got, want)
	}
	if got := string(appendDocError(nil, "d", nil, couch.ErrConflict)); got != `{"id":"d","error":"conflict","reason":"Document update conflict."}` {
		t.Errorf("doc error %s", got)
	}
	rev := couch.Rev{Pos: 1, ID: "r"}
	if got := string(appendDocError(nil, "d", &rev, couch.Errorf(couch.CodeForbidden, "no"))); got != `{"id":"d","rev":"1-r","error":"forbidden","reason":"no"}` {
		t.Errorf("replicated doc error %s", got)
	}
	if got := string(appendDocError(nil, "d", nil, errors.New("boom"))); got != `{"id":"d","error":"unknown_error","reason":"boom"}` {
		t.Errorf("plain error %s", got)
	}
}

func TestValidateSecurity(t *testing.T) {
	for body, want := range map[string]string{
		`{}`: "",
		`{"admins":{"names":["a"],"roles":[]},"members":{"names":[],"roles":["r"]},"x":1}`: "",
		`{"readers":{"names":["a"]}}`:      "",
		`{"readers":{"names":[1]}}`:        "names must be a JSON list of strings",
		`{"admins":[]}`:                    "admins or members must be a JSON list of strings",
		`{"members":{"roles":"r"}}`:        "roles must be a JSON list of strings",
		`{"members":{"names":["a",null]}}`: "names must be a JSON list of strings",
		`[]`:                               "bad_request",
	} {
		if got := validateSecurity([]byte(body)); got != want {
			t.Errorf("validateSecurity(%s) = %q, want %q", body, got, want)
		}
	}
}
