package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeCouch is just enough of CouchDB's API for the workloads: databases,
// documents, _bulk_docs and _all_docs, behind basic auth.
type fakeCouch struct {
	user, pass string

	mu      sync.Mutex
	dbs     map[string]map[string]json.RawMessage
	log     map[string][]string // ids in the order written: the changes feed
	changed chan struct{}       // closed and replaced on every write
	failPut atomic.Bool         // answer every single-doc PUT with 409
}

// wrote records a write to db for the changes feeds; f.mu must be held.
func (f *fakeCouch) wrote(db, id string) {
	if f.log == nil {
		f.log = map[string][]string{}
	}
	f.log[db] = append(f.log[db], id)
	if f.changed != nil {
		close(f.changed)
	}
	f.changed = make(chan struct{})
}

func newFakeCouch(t *testing.T) (*fakeCouch, string) {
	f := &fakeCouch{user: "u", pass: "p", dbs: map[string]map[string]json.RawMessage{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, "http://u:p@" + strings.TrimPrefix(srv.URL, "http://")
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeCouch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != f.user || p != f.pass {
		reply(w, 401, map[string]string{"error": "unauthorized", "reason": "Name or password is incorrect."})
		return
	}
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)
	if len(parts) == 2 && parts[1] == "_changes" && r.URL.Query().Get("feed") == "continuous" {
		f.continuous(w, r, parts[0])
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.URL.Path == "/_up":
		reply(w, 200, map[string]string{"status": "ok"})
	case r.URL.Path == "/":
		reply(w, 200, map[string]any{"couchdb": "Welcome", "version": "3.5.0", "vendor": map[string]string{"name": "fake"}})
	case len(parts) == 1 && r.Method == http.MethodPut:
		if f.dbs[parts[0]] != nil {
			reply(w, 412, map[string]string{"error": "file_exists"})
			return
		}
		f.dbs[parts[0]] = map[string]json.RawMessage{}
		reply(w, 201, map[string]bool{"ok": true})
	case len(parts) == 1 && r.Method == http.MethodDelete:
		delete(f.dbs, parts[0])
		delete(f.log, parts[0])
		reply(w, 200, map[string]bool{"ok": true})
	case f.dbs[parts[0]] == nil:
		reply(w, 404, map[string]string{"error": "not_found", "reason": "Database does not exist."})
	case parts[1] == "_bulk_docs":
		var req struct{ Docs []json.RawMessage }
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &req); err != nil {
			reply(w, 400, map[string]string{"error": "bad_request", "reason": err.Error()})
			return
		}
		var out []map[string]any
		for _, d := range req.Docs {
			var meta struct {
				ID string `json:"_id"`
			}
			json.Unmarshal(d, &meta)
			if _, dup := f.dbs[parts[0]][meta.ID]; dup {
				out = append(out, map[string]any{"id": meta.ID, "error": "conflict", "reason": "Document update conflict."})
				continue
			}
			f.dbs[parts[0]][meta.ID] = d
			f.wrote(parts[0], meta.ID)
			out = append(out, map[string]any{"ok": true, "id": meta.ID, "rev": "1-x"})
		}
		reply(w, 201, out)
	case parts[1] == "_changes":
		f.normalChanges(w, r, parts[0])
	case parts[1] == "_bulk_get":
		f.bulkGet(w, r, f.dbs[parts[0]])
	case parts[1] == "_revs_diff":
		f.revsDiff(w, r, f.dbs[parts[0]])
	case parts[1] == "_all_docs":
		f.allDocs(w, r, f.dbs[parts[0]])
	case r.Method == http.MethodPut:
		body, _ := io.ReadAll(r.Body)
		if !json.Valid(body) {
			reply(w, 400, map[string]string{"error": "bad_request"})
			return
		}
		if _, dup := f.dbs[parts[0]][parts[1]]; dup || f.failPut.Load() {
			reply(w, 409, map[string]string{"error": "conflict", "reason": "Document update conflict."})
			return
		}
		f.dbs[parts[0]][parts[1]] = body
		f.wrote(parts[0], parts[1])
		reply(w, 201, map[string]any{"ok": true, "id": parts[1], "rev": "1-x"})
	case r.Method == http.MethodGet:
		doc, ok := f.dbs[parts[0]][parts[1]]
		if !ok {
			reply(w, 404, map[string]string{"error": "not_found", "reason": "missing"})
			return
		}
		reply(w, 200, doc)
	default:
		reply(w, 405, map[string]string{"error": "method_not_allowed"})
	}
}

// fakeSeq is the fake's update sequence text for position n of the log.
func fakeSeq(n int) string { return strconv.Itoa(n) + "-fake" }

func parseFakeSeq(s string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSuffix(s, "-fake"))
	return n, err == nil && n >= 0
}

// normalChanges serves feed=normal, laid out one row a line like CouchDB.
func (f *fakeCouch) normalChanges(w http.ResponseWriter, r *http.Request, db string) {
	q := r.URL.Query()
	log := f.log[db]
	since, ok := parseFakeSeq(q.Get("since"))
	if q.Get("since") == "" {
		since, ok = 0, true
	}
	if !ok || since > len(log) {
		reply(w, 400, map[string]string{"error": "bad_request", "reason": "since"})
		return
	}
	end := len(log)
	if l := q.Get("limit"); l != "" {
		n, _ := strconv.Atoi(l)
		end = min(end, since+n)
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, "{\"results\":[\n")
	for i := since; i < end; i++ {
		if i > since {
			io.WriteString(w, ",\n")
		}
		fmt.Fprintf(w, `{"seq":%q,"id":%q,"changes":[{"rev":"1-x"}]}`, fakeSeq(i+1), log[i])
	}
	fmt.Fprintf(w, "\n],\n\"last_seq\":%q,\"pending\":%d}\n", fakeSeq(end), len(log)-end)
}

// continuous serves feed=continuous&since=now with heartbeats.
func (f *fakeCouch) continuous(w http.ResponseWriter, r *http.Request, db string) {
	hb, _ := strconv.Atoi(r.URL.Query().Get("heartbeat"))
	f.mu.Lock()
	if f.dbs[db] == nil {
		f.mu.Unlock()
		reply(w, 404, map[string]string{"error": "not_found"})
		return
	}
	next := len(f.log[db])
	if f.changed == nil {
		f.changed = make(chan struct{})
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(200)
	w.(http.Flusher).Flush()
	for {
		f.mu.Lock()
		log, changed := f.log[db], f.changed
		f.mu.Unlock()
		for ; next < len(log); next++ {
			fmt.Fprintf(w, "{\"seq\":%q,\"id\":%q,\"changes\":[{\"rev\":\"1-x\"}]}\n", fakeSeq(next+1), log[next])
		}
		w.(http.Flusher).Flush()
		select {
		case <-changed:
		case <-time.After(time.Duration(max(hb, 10)) * time.Millisecond):
			io.WriteString(w, "\n")
		case <-r.Context().Done():
			return
		}
	}
}

func (f *fakeCouch) bulkGet(w http.ResponseWriter, r *http.Request, db map[string]json.RawMessage) {
	var req struct {
		Docs []struct{ ID, Rev string }
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		reply(w, 400, map[string]string{"error": "bad_request", "reason": err.Error()})
		return
	}
	var results []any
	for _, d := range req.Docs {
		doc, ok := db[d.ID]
		var entry any = map[string]any{"ok": doc}
		if !ok || (d.Rev != "" && d.Rev != "1-x") {
			entry = map[string]any{"error": map[string]string{"id": d.ID, "rev": d.Rev, "error": "not_found", "reason": "missing"}}
		}
		results = append(results, map[string]any{"id": d.ID, "docs": []any{entry}})
	}
	reply(w, 200, map[string]any{"results": results})
}

func (f *fakeCouch) revsDiff(w http.ResponseWriter, r *http.Request, db map[string]json.RawMessage) {
	var req map[string][]string
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		reply(w, 400, map[string]string{"error": "bad_request", "reason": err.Error()})
		return
	}
	out := map[string]any{}
	for id, revs := range req {
		var missing []string
		for _, rev := range revs {
			if _, ok := db[id]; !ok || rev != "1-x" {
				missing = append(missing, rev)
			}
		}
		if missing != nil {
			out[id] = map[string]any{"missing": missing}
		}
	}
	reply(w, 200, out)
}

func (f *fakeCouch) allDocs(w http.ResponseWriter, r *http.Request, db map[string]json.RawMessage) {
	q := r.URL.Query()
	var start string
	if s := q.Get("startkey"); s != "" {
		if err := json.Unmarshal([]byte(s), &start); err != nil {
			reply(w, 400, map[string]string{"error": "bad_request", "reason": "startkey"})
			return
		}
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	var ids []string
	for id := range db {
		if id >= start {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	ids = ids[:min(limit, len(ids))]
	rows := []map[string]any{}
	for _, id := range ids {
		row := map[string]any{"id": id, "key": id, "value": map[string]string{"rev": "1-x"}}
		if q.Get("include_docs") == "true" {
			row["doc"] = db[id]
		}
		rows = append(rows, row)
	}
	reply(w, 200, map[string]any{"total_rows": len(db), "offset": 0, "rows": rows})
}

func testOptions(url string) options {
	return options{
		url: url, duration: 150 * time.Millisecond, conc: []int{1, 4},
		workloads: workloadOrder(), docs: 2500, docSize: 1024, bulkBatch: 100,
		allDocsLimit: 1000, loadConc: 2, timeout: 10 * time.Second,
		changesDocs: 2500, contWrites: 50, contGap: time.Millisecond, contHeartbeat: 50 * time.Millisecond,
		contWait: 5 * time.Second, bulkGetBatch: 100, revsDiffBatch: 1000, revsDiffMissing: 0.5,
	}
}

func TestBenchmarkAgainstFake(t *testing.T) {
	f, url := newFakeCouch(t)
	rep, err := benchmark(context.Background(), slog.New(slog.DiscardHandler), testOptions(url))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 15 { // continuous runs once
		t.Fatalf("%d results, want 15", len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.Errors != 0 || r.FirstError != "" || r.Requests == 0 || r.Items == 0 || r.Rate <= 0 || r.P50 <= 0 || r.P99 < r.P50 {
			t.Errorf("%+v", r)
		}
		if r.Workload == wlBulk && r.Items != r.Requests*100 {
			t.Errorf("bulk: %d docs in %d requests", r.Items, r.Requests)
		}
	}
	if rep.Server.Vendor.Name != "fake" || rep.Target != "http://u:xxxxx@"+strings.TrimPrefix(url, "http://u:p@") {
		t.Errorf("server %+v, target %s", rep.Server, rep.Target)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.dbs) != 0 {
		t.Errorf("databases left behind: %d", len(f.dbs))
	}
}

func TestBenchmarkCountsErrors(t *testing.T) {
	f, url := newFakeCouch(t)
	f.failPut.Store(true)
	o := testOptions(url)
	o.workloads, o.conc = []string{wlPut}, []int{2}
	rep, err := benchmark(context.Background(), slog.New(slog.DiscardHandler), o)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Results[0]
	if r.Errors == 0 || r.Errors != r.Requests || r.Items != 0 || !strings.Contains(r.FirstError, "HTTP 409") || !strings.Contains(r.FirstError, "conflict") {
		t.Errorf("%+v", r)
	}
}

func TestBenchmarkBadCredentials(t *testing.T) {
	_, url := newFakeCouch(t)
	_, err := benchmark(context.Background(), slog.New(slog.DiscardHandler), testOptions(strings.Replace(url, "u:p@", "u:wrong@", 1)))
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v, want a 401", err)
	}
}

func TestBulkResultAndRows(t *testing.T) {
	ok, failed, err := bulkResult([]byte(`[{"ok":true,"id":"a","rev":"1-x"},{"id":"b","error":"conflict","reason":"Document update conflict."}]`), 2)
	if ok != 1 || failed != 1 || err == nil || !strings.Contains(err.Error(), `{"id":"b","error":"conflict"`) {
		t.Errorf("bulkResult = %d, %d, %v", ok, failed, err)
	}
	if ok, failed, err := bulkResult([]byte(`[{"ok":true,"id":"a","rev":"1-x"}]`), 1); ok != 1 || failed != 0 || err != nil {
		t.Errorf("bulkResult(ok) = %d, %d, %v", ok, failed, err)
	}
	body := `{"total_rows":2,"offset":0,"rows":[` + "\r\n" + `{"id":"a","key":"a","value":{"rev":"1-x"},"doc":{"_id":"a","type":"bench","n":1,"payload":"x"}},` + "\r\n" + `{"id":"b","key":"b","value":{"rev":"1-y"},"doc":null}` + "\r\n]}"
	if n := countRows([]byte(body)); n != 2 {
		t.Errorf("countRows = %d", n)
	}
}

func TestDocuments(t *testing.T) {
	b, err := newBench(nil, slog.New(slog.DiscardHandler), benchConfig{docSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	doc := appendDoc(nil, "r1-w3-123456", 123456, b.payloadFor(123456))
	var v map[string]any
	if err := json.Unmarshal(doc, &v); err != nil || v["_id"] != "r1-w3-123456" {
		t.Fatalf("doc %s: %v", doc, err)
	}
	if len(doc) < 1000 || len(doc) > 1050 {
		t.Errorf("doc is %d bytes, want about 1024", len(doc))
	}
	if b.payloadFor(1) == b.payloadFor(2) {
		t.Error("payloads repeat")
	}
	bulk := b.appendBulk(nil, 10, 3, dataID)
	var req struct{ Docs []map[string]any }
	if err := json.Unmarshal(bulk, &req); err != nil || len(req.Docs) != 3 || req.Docs[2]["_id"] != "d000000012" {
		t.Fatalf("bulk body: %v %v", err, req.Docs)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-url", "http://a:b@127.0.0.1:5984", "-c", "32, 1", "-workloads", "alldocs,put"}, io.Discard)
	if err != nil || !slices.Equal(o.conc, []int{32, 1}) || !slices.Equal(o.workloads, []string{wlPut, wlAllDocs}) {
		t.Fatalf("%+v, %v", o, err)
	}
	o, err = parseFlags([]string{"-url", "http://x", "-workloads", "revsdiff,continuous,changes", "-changes-limit", "500", "-continuous-gap", "0s"}, io.Discard)
	if err != nil || !slices.Equal(o.workloads, []string{wlChanges, wlContinuous, wlRevsDiff}) || o.changesLimit != 500 ||
		o.contGap != 0 || o.contWrites != 2000 || o.bulkGetBatch != 100 || o.revsDiffBatch != 1000 || o.revsDiffMissing != 0.5 {
		t.Fatalf("%+v, %v", o, err)
	}
	for _, args := range [][]string{
		{},
		{"-url", "http://x", "-divan", "bin/divan"},
		{"-divan", "bin/divan", "-pid", "3"},
		{"-url", "http://x", "-c", "0"},
		{"-url", "http://x", "-c", "1,,2"},
		{"-url", "http://x", "-workloads", "put,delete"},
		{"-url", "http://x", "-duration", "0s"},
		{"-url", "http://x", "extra"},
		{"-url", "http://x", "-changes-limit", "-1"},
		{"-url", "http://x", "-revsdiff-missing", "1.5"},
		{"-url", "http://x", "-bulkget-batch", "0"},
		{"-url", "http://x", "-continuous-heartbeat", "0s"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}
