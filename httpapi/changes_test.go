package httpapi

import (
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/couch"
)

func TestParseChangesQuery(t *testing.T) {
	rq := &request{r: httptest.NewRequest("GET", "/db/_changes?feed=live&since=now&limit=5&heartbeat=true&style=all_docs&include_docs=true&seq_interval=3", nil)}
	q, err := parseChangesQuery(rq)
	if err != nil {
		t.Fatal(err)
	}
	if q.feed != "continuous" || q.since != "now" || q.limit != 5 || q.heartbeat != changesTimeout ||
		!q.allDocs || !q.includeDocs || q.seqInterval != 3 {
		t.Fatalf("parsed %+v", q)
	}
	rq = &request{r: httptest.NewRequest("GET", "/db/_changes?heartbeat=250&timeout=1000", nil)}
	if q, err = parseChangesQuery(rq); err != nil || q.heartbeat != 250*time.Millisecond || q.timeout != time.Second || q.limit != -1 {
		t.Fatalf("parsed %+v, %v", q, err)
	}
	for _, bad := range []string{"feed=x", "limit=-1", "heartbeat=abc", "style=x", "timeout=x", "seq_interval=0"} {
		rq = &request{r: httptest.NewRequest("GET", "/db/_changes?"+bad, nil)}
		if _, err := parseChangesQuery(rq); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestParseByteRanges(t *testing.T) {
	cases := []struct {
		hdr  string
		want [][2]int64
		err  bool
	}{
		{"bytes=0-", nil, false},
		{"bytes=1-2", [][2]int64{{1, 2}}, false},
		{"bytes=1-100", [][2]int64{{1, 9}}, false},
		{"bytes=-3", [][2]int64{{7, 9}}, false},
		{"bytes=5-", [][2]int64{{5, 9}}, false},
		{"bytes=0-1,4-5", [][2]int64{{0, 1}, {4, 5}}, false},
		{"bytes=3-1", nil, true},
		{"bytes=10-12", nil, true},
		{"items=1-2", nil, false},
	}
	for _, c := range cases {
		got, err := parseByteRanges(c.hdr, 10)
		if (err != nil) != c.err || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %v, %v", c.hdr, got, err)
		}
	}
}

func TestSplitMultipartRelated(t *testing.T) {
	body := "--abc\r\nContent-Type: application/json\r\n\r\n" +
		`{"_attachments":{"b":{"follows":true},"a":{"stub":true},"c":{"follows":true}}}` +
		"\r\n--abc\r\n\r\nBBB\r\n--abc\r\nContent-Disposition: attachment; filename=\"c\"\r\n\r\nCC\r\n--abc--"
	json, parts, err := splitMultipartRelated(`multipart/related; boundary="abc"`, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || string(parts[0].data) != "BBB" || parts[1].name != "c" || string(parts[1].data) != "CC" {
		t.Fatalf("parts %+v", parts)
	}
	if got := followsOrder([]byte(`{"b":{"follows":true},"a":{"stub":true},"c":{"follows":true}}`)); !reflect.DeepEqual(got, []string{"b", "c"}) {
		t.Fatalf("follows order %v", got)
	}
	if string(json[:1]) != "{" {
		t.Fatalf("json %q", json)
	}
	if _, _, err := splitMultipartRelated("multipart/related", []byte(body)); err == nil {
		t.Fatal("no boundary: no error")
	}
}

func TestAcceptsEncoding(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Accept-Encoding", "deflate, gzip;q=0.5")
	if !acceptsEncoding(r, "gzip") {
		t.Fatal("gzip not accepted")
	}
	r.Header.Set("Accept-Encoding", "gzip;q=0")
	if acceptsEncoding(r, "gzip") {
		t.Fatal("gzip;q=0 accepted")
	}
}

func TestChangesFraming(t *testing.T) {
	row := func(seq, id string) fabric.ChangeRow {
		return fabric.ChangeRow{Seq: seq, ID: id, Changes: []couch.Rev{{Pos: 1, ID: "a"}}}
	}
	run := func(feed string, interval int) string {
		rec := httptest.NewRecorder()
		f := &changesFeed{rq: &request{w: rec, r: httptest.NewRequest("GET", "/db/_changes", nil)},
			q: changesQuery{feed: feed, seqInterval: interval}}
		for _, r := range []fabric.ChangeRow{row("1-x", "a"), row("2-x", "b")} {
			if err := f.sendRow(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.finish(fabric.ChangesResult{LastSeq: "2-x", Pending: 3}); err != nil {
			t.Fatal(err)
		}
		return rec.Body.String()
	}
	want := "{\"results\":[\n" +
		`{"seq":"1-x","id":"a","changes":[{"rev":"1-a"}]}` + ",\r\n" +
		`{"seq":"2-x","id":"b","changes":[{"rev":"1-a"}]}` +
		"\n],\n\"last_seq\":\"2-x\",\"pending\":3}\n"
	if got := run("normal", 0); got != want {
		t.Errorf("normal:\n%q\nwant\n%q", got, want)
	}
	want = `{"seq":"1-x","id":"a","changes":[{"rev":"1-a"}]}` + "\n" +
		`{"seq":null,"id":"b","changes":[{"rev":"1-a"}]}` + "\n" +
		`{"last_seq":"2-x","pending":3}` + "\n"
	if got := run("continuous", 2); got != want {
		t.Errorf("continuous:\n%q\nwant\n%q", got, want)
	}
	want = `data: {"seq":"1-x","id":"a","changes":[{"rev":"1-a"}]}` + "\nid: \"1-x\"\n\n" +
		`data: {"seq":"2-x","id":"b","changes":[{"rev":"1-a"}]}` + "\nid: \"2-x\"\n\n"
	if got := run("eventsource", 0); got != want {
		t.Errorf("eventsource:\n%q\nwant\n%q", got, want)
	}
}
