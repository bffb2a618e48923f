package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
)

func TestFeedCounterAcrossWrites(t *testing.T) {
	body := "{\"results\":[\n" +
		`{"seq":"1-a","id":"x","changes":[{"rev":"1-x"}]},` + "\n" +
		`{"seq":"2-a","id":"y","changes":[{"rev":"1-y"}],"deleted":true}` + "\n" +
		`{"seq":"3-a","id":"z","changes":[{"rev":"1-z"}]}` + "\n" +
		"],\n\"last_seq\":\"3-a\",\"pending\":7}\n"
	// Every way of cutting the body into pieces of 1..len bytes counts 3.
	for size := 1; size <= len(body); size++ {
		var f feedCounter
		for i := 0; i < len(body); i += size {
			f.Write([]byte(body[i:min(i+size, len(body))]))
		}
		if f.rows != 3 {
			t.Fatalf("pieces of %d bytes: %d rows", size, f.rows)
		}
		seq, pending, err := parseFeedEnd(f.tail)
		if err != nil || seq != "3-a" || pending != 7 {
			t.Fatalf("pieces of %d bytes: parseFeedEnd = %q, %d, %v", size, seq, pending, err)
		}
		f.reset()
		if f.rows != 0 || len(f.tail) != 0 || len(f.carry) != 0 {
			t.Fatal("reset kept state")
		}
	}
	// The tail stays bounded.
	var f feedCounter
	row := []byte(`{"seq":"1-a","id":"x","changes":[{"rev":"1-x"}]},` + "\n")
	for range 10_000 {
		f.Write(row)
	}
	if f.rows != 10_000 || len(f.tail) > 2*feedTail {
		t.Errorf("rows %d, tail %d bytes", f.rows, len(f.tail))
	}
}

func TestParseFeedEnd(t *testing.T) {
	for _, tc := range []struct {
		in      string
		seq     string
		pending int
	}{
		{`],"last_seq":42}`, "42", -1}, // CouchDB 1.x: numbers, no pending
		{"],\n\"last_seq\": \"5-g1AAAA\" , \"pending\": 0}", "5-g1AAAA", 0},
		{`{"results":[],"last_seq":"0","pending":12}`, "0", 12},
	} {
		seq, pending, err := parseFeedEnd([]byte(tc.in))
		if err != nil || seq != tc.seq || pending != tc.pending {
			t.Errorf("parseFeedEnd(%s) = %q, %d, %v", tc.in, seq, pending, err)
		}
	}
	for _, bad := range []string{`{"results":[`, `"last_seq":{"x":1}}`, `"last_seq":"1","pending":"x"}`} {
		if _, _, err := parseFeedEnd([]byte(bad)); err == nil {
			t.Errorf("parseFeedEnd(%s) gave no error", bad)
		}
	}
}

func TestParseFeedLine(t *testing.T) {
	fl, err := parseFeedLine([]byte(`{"seq":"3-g1AA","id":"c0000001","changes":[{"rev":"1-abc"}]}` + "\n"))
	if err != nil || fl.ID != "c0000001" || string(fl.Seq) != `"3-g1AA"` || fl.Heartbeat {
		t.Errorf("row: %+v, %v", fl, err)
	}
	if fl, err := parseFeedLine([]byte(`{"seq":7,"id":"a","changes":[],"deleted":true}`)); err != nil || fl.ID != "a" {
		t.Errorf("numeric seq: %+v, %v", fl, err)
	}
	for _, hb := range []string{"\n", "", "\r\n", "  "} {
		if fl, err := parseFeedLine([]byte(hb)); err != nil || !fl.Heartbeat {
			t.Errorf("heartbeat %q: %+v, %v", hb, fl, err)
		}
	}
	if fl, err := parseFeedLine([]byte(`{"last_seq":"9-x","pending":0}`)); err != nil || string(fl.LastSeq) != `"9-x"` || fl.ID != "" {
		t.Errorf("last_seq: %+v, %v", fl, err)
	}
	for _, bad := range []string{`{"seq":1`, `{"id":"a"}`, `{"error":"not_found","reason":"missing"}`, `[1]`} {
		if _, err := parseFeedLine([]byte(bad)); err == nil {
			t.Errorf("parseFeedLine(%s) gave no error", bad)
		}
	}
}

func TestReadFeed(t *testing.T) {
	long := strings.Repeat("x", 100<<10) // longer than the reader's buffer
	in := "\n" + `{"seq":"1-a","id":"a","changes":[]}` + "\n\n" +
		`{"seq":"2-a","id":"` + long + `","changes":[]}` + "\n" +
		`{"seq":"3-a","id":"c","changes":[]}` // cut off: no newline
	out := make(chan arrival, 10)
	readFeed(strings.NewReader(in), out)
	var ids []string
	var last error
	for a := range out {
		if a.err != nil {
			last = a.err
			continue
		}
		ids = append(ids, a.id)
	}
	if len(ids) != 3 || ids[0] != "a" || ids[1] != long || ids[2] != "c" || !errors.Is(last, io.EOF) {
		t.Errorf("ids %d, last error %v", len(ids), last)
	}
	out = make(chan arrival, 10)
	readFeed(strings.NewReader(`{"seq":"1-a","id":"a","changes":[]}`+"\n"+`{"last_seq":"1-a"}`+"\n"), out)
	if a := <-out; a.id != "a" {
		t.Errorf("first arrival %+v", a)
	}
	if a := <-out; a.err == nil || !strings.Contains(a.err.Error(), "ended") {
		t.Errorf("end of feed: %+v", a)
	}
}

func TestBulkGetAndRevsDiffResults(t *testing.T) {
	body := []byte(`{"results": [{"id": "a", "docs": [{"ok": {"_id":"a","_rev":"1-x"}}]},` +
		`{"id": "b", "docs": [{"error":{"id":"b","rev":"1-y","error":"not_found","reason":"missing"}}]}]}`)
	if ok, failed, err := bulkGetResult(body, 2); ok != 1 || failed != 1 || err == nil || !strings.Contains(err.Error(), `"id":"b"`) {
		t.Errorf("bulkGetResult = %d, %d, %v", ok, failed, err)
	}
	if ok, failed, err := bulkGetResult(body, 1); ok != 1 || failed != 0 || err != nil {
		t.Errorf("bulkGetResult(1) = %d, %d, %v", ok, failed, err)
	}
	diff := []byte(`{"a":{"missing":["2-x"],"possible_ancestors":["1-a"]},"c":{"missing":["2-y"]}}`)
	if n, failed, err := revsDiffResult(diff, 3, 2); n != 3 || failed != 0 || err != nil {
		t.Errorf("revsDiffResult = %d, %d, %v", n, failed, err)
	}
	if n, failed, err := revsDiffResult(diff, 3, 1); n != 2 || failed != 1 || err == nil {
		t.Errorf("revsDiffResult(extra) = %d, %d, %v", n, failed, err)
	}
	revs := make([]string, 2)
	if err := bulkRevs([]byte(`[{"ok":true,"id":"d000000005","rev":"1-a"},{"ok":true,"id":"d000000006","rev":"1-b"}]`), 5, revs); err != nil || revs[0] != "1-a" || revs[1] != "1-b" {
		t.Errorf("bulkRevs = %q, %v", revs, err)
	}
	if err := bulkRevs([]byte(`[{"ok":true,"id":"d000000006","rev":"1-a"}]`), 5, revs[:1]); err == nil {
		t.Error("bulkRevs accepted a wrong id")
	}
}

// The paged changes workload over a database of its own, and a
// continuous feed, against the fake.
func TestChangesPagedAgainstFake(t *testing.T) {
	_, url := newFakeCouch(t)
	o := testOptions(url)
	o.workloads, o.conc = []string{wlChanges, wlContinuous}, []int{1, 3}
	o.changesDocs, o.changesLimit = 1234, 100
	rep, err := benchmark(context.Background(), slog.New(slog.DiscardHandler), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 3 {
		t.Fatalf("%d results", len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.Errors != 0 || r.Items == 0 {
			t.Errorf("%+v", r)
		}
	}
	if c := rep.Results[2]; c.Workload != wlContinuous || c.Items != 50 || c.Requests != 50 || c.P99 <= 0 || c.Unit != "rows/s" {
		t.Errorf("continuous: %+v", c)
	}
}

func TestParseRSSSplit(t *testing.T) {
	st := "Name:\tdivan\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nRssAnon:\t   600 kB\nRssFile:\t   424 kB\nRssShmem:\t     0 kB\n"
	r, err := parseRSSSplit(st)
	if err != nil || r != (rssSplit{RSS: 1024 << 10, Anon: 600 << 10, File: 424 << 10}) {
		t.Errorf("parseRSSSplit = %+v, %v", r, err)
	}
	if _, err := parseRSSSplit("VmRSS:\t1 kB\n"); err == nil {
		t.Error("parseRSSSplit accepted a status without RssAnon")
	}
}
