package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/divandb/divan/internal/testnode"
)

// changesResp is a normal/longpoll _changes response.
type changesResp struct {
	Results []map[string]any `json:"results"`
	LastSeq any              `json:"last_seq"`
	Pending *json.Number     `json:"pending"`
}

func getChanges(t testing.TB, c *testnode.Client, db, query string) changesResp {
	t.Helper()
	var ch changesResp
	c.ExpectJSON(t, http.StatusOK, http.MethodGet, dbPath(db)+"/_changes"+query, nil, &ch)
	return ch
}

func postChanges(t testing.TB, c *testnode.Client, db, query string, body any) changesResp {
	t.Helper()
	var ch changesResp
	c.ExpectJSON(t, http.StatusOK, http.MethodPost, dbPath(db)+"/_changes"+query, body, &ch)
	return ch
}

// changeIDs returns the ids of the rows, in order.
func changeIDs(rs []map[string]any) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i], _ = r["id"].(string)
	}
	return out
}

// changeRevs returns the revs listed in a row's "changes", sorted.
func changeRevs(t testing.TB, row map[string]any) []string {
	t.Helper()
	var revs []string
	for _, e := range arr(t, row, "changes") {
		m, ok := e.(map[string]any)
		if !ok {
			t.Fatalf("changes entry %#v is not an object", e)
		}
		revs = append(revs, str(t, m, "rev"))
	}
	slices.Sort(revs)
	return revs
}

func seqString(t testing.TB, v any) string {
	t.Helper()
	switch s := v.(type) {
	case string:
		return s
	case json.Number:
		return s.String()
	}
	t.Fatalf("sequence %#v is neither a string nor a number", v)
	return ""
}

// stream is an open streaming response read line by line in the background.
type stream struct {
	resp   *http.Response
	cancel context.CancelFunc
	mu     sync.Mutex
	lines  []string
	done   chan struct{}
	err    error
}

func openStream(t testing.TB, c *testnode.Client, method, path string, body any, headers ...string) *stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	req, err := c.NewRequest(ctx, method, path, body, headers...)
	if err != nil {
		cancel()
		t.Fatalf("%s %s: %v", method, path, err)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		t.Fatalf("%s %s: status %d, want 200", method, path, resp.StatusCode)
	}
	s := &stream{resp: resp, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		r := bufio.NewReader(resp.Body)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				s.mu.Lock()
				s.lines = append(s.lines, line)
				s.mu.Unlock()
			}
			if err != nil {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
				return
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *stream) close() {
	s.cancel()
	s.resp.Body.Close()
	<-s.done
}

func (s *stream) snapshot() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lines)
}

// waitEnd waits for the server to end the response.
func (s *stream) waitEnd(t testing.TB, timeout time.Duration) []string {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		t.Fatalf("stream still open after %v; lines so far %q", timeout, s.snapshot())
	}
	return s.snapshot()
}

// jsonLines decodes the non-blank lines of a continuous feed.
func jsonLines(t testing.TB, lines []string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		out = append(out, testnode.Object(t, []byte(l)))
	}
	return out
}

// TestChangesNormal covers feed=normal over GET and POST with its options
// and filters.
func TestChangesNormal(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := n.Client()
	// One shard, so that the feed's order is the order of the updates (with
	// several shards CouchDB only orders changes within each shard).
	c.Expect(t, http.StatusCreated, http.MethodPut, "/ch?q=1", nil)

	empty := getChanges(t, c, "ch", "")
	if len(empty.Results) != 0 || empty.Pending == nil || empty.Pending.String() != "0" {
		t.Errorf("_changes of an empty db: %+v, want no results and pending 0", empty)
	}
	startSeq := seqString(t, empty.LastSeq)

	revs := map[string]string{}
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		revs[id] = putDoc(t, c, "ch", id, map[string]any{"id": id, "kind": "letter", "n": len(revs)})
	}
	revs["b"] = putDoc(t, c, "ch", "b", map[string]any{"_rev": revs["b"], "id": "b", "kind": "letter", "n": 10})
	delRev := deleteDoc(t, c, "ch", "c", revs["c"])
	ddocRev := putDoc(t, c, "ch", "_design/dd", map[string]any{"views": map[string]any{}})
	putDoc(t, c, "ch", "_local/ck", map[string]any{"seq": 1})

	// Order of updates: a, d, e, b (updated), c (deleted), _design/dd.
	wantOrder := []string{"a", "d", "e", "b", "c", "_design/dd"}

	t.Run("All", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			var ch changesResp
			if method == http.MethodGet {
				ch = getChanges(t, c, "ch", "?since=0")
			} else {
				ch = postChanges(t, c, "ch", "?since=0", map[string]any{})
			}
			if got := changeIDs(ch.Results); !equalStrings(got, wantOrder) {
				t.Errorf("%s _changes: ids %q, want %q (one row per doc, by last update, no _local docs)", method, got, wantOrder)
			}
			if ch.Pending == nil || ch.Pending.String() != "0" {
				t.Errorf("%s _changes: pending %v, want 0", method, ch.Pending)
			}
			last := ch.Results[len(ch.Results)-1]
			if seqString(t, ch.LastSeq) != seqString(t, last["seq"]) {
				t.Errorf("%s _changes: last_seq %v, want the seq of the last row %v", method, ch.LastSeq, last["seq"])
			}
			var prev int64
			for _, r := range ch.Results {
				p := seqPrefix(t, r["seq"])
				if p <= prev {
					t.Errorf("%s _changes: seq %v not increasing after %d", method, r["seq"], prev)
				}
				prev = p
				id := str(t, r, "id")
				want := revs[id]
				switch id {
				case "c":
					want = delRev
					if r["deleted"] != true {
						t.Errorf("row for deleted doc c: %v, want deleted:true", r)
					}
				case "_design/dd":
					want = ddocRev
				}
				if got := changeRevs(t, r); !equalStrings(got, []string{want}) {
					t.Errorf("row %s: changes %q, want [%s]", id, got, want)
				}
				if id != "c" && r["deleted"] != nil {
					t.Errorf("row %s has deleted: %v", id, r)
				}
				if r["doc"] != nil {
					t.Errorf("row %s has doc without include_docs", id)
				}
			}
		}
	})

	t.Run("Since", func(t *testing.T) {
		all := getChanges(t, c, "ch", "")
		mid := seqString(t, all.Results[2]["seq"])
		ch := getChanges(t, c, "ch", "?since="+url.QueryEscape(mid))
		if got := changeIDs(ch.Results); !equalStrings(got, wantOrder[3:]) {
			t.Errorf("since=<seq of row 3>: ids %q, want %q", got, wantOrder[3:])
		}
		ch = getChanges(t, c, "ch", "?since="+url.QueryEscape(startSeq))
		if got := changeIDs(ch.Results); !equalStrings(got, wantOrder) {
			t.Errorf("since=<last_seq of empty db>: ids %q, want %q", got, wantOrder)
		}
		now := getChanges(t, c, "ch", "?since=now")
		if len(now.Results) != 0 {
			t.Errorf("since=now: %d results, want 0", len(now.Results))
		}
		if seqPrefix(t, now.LastSeq) != seqPrefix(t, all.LastSeq) {
			t.Errorf("since=now: last_seq %v, want the current update seq %v", now.LastSeq, all.LastSeq)
		}
		ch = getChanges(t, c, "ch", "?since="+url.QueryEscape(seqString(t, all.LastSeq)))
		if len(ch.Results) != 0 {
			t.Errorf("since=<last_seq>: %d results, want 0", len(ch.Results))
		}
		expectError(t, c, http.StatusBadRequest, "bad_request", "", http.MethodGet, "/ch/_changes?limit=-1", nil)
		expectError(t, c, http.StatusBadRequest, "bad_request", "", http.MethodGet, "/ch/_changes?feed=bogus", nil)
	})

	t.Run("LimitPending", func(t *testing.T) {
		ch := getChanges(t, c, "ch", "?limit=2")
		if got := changeIDs(ch.Results); !equalStrings(got, wantOrder[:2]) {
			t.Errorf("limit=2: ids %q, want %q", got, wantOrder[:2])
		}
		if ch.Pending == nil || ch.Pending.String() != "4" {
			t.Errorf("limit=2: pending %v, want 4", ch.Pending)
		}
		if seqString(t, ch.LastSeq) != seqString(t, ch.Results[1]["seq"]) {
			t.Errorf("limit=2: last_seq %v, want the seq of the 2nd row %v", ch.LastSeq, ch.Results[1]["seq"])
		}
		// Resuming from last_seq gives the rest.
		rest := getChanges(t, c, "ch", "?since="+url.QueryEscape(seqString(t, ch.LastSeq)))
		if got := changeIDs(rest.Results); !equalStrings(got, wantOrder[2:]) {
			t.Errorf("since=<last_seq of limit=2>: ids %q, want %q", got, wantOrder[2:])
		}
	})

	t.Run("Descending", func(t *testing.T) {
		ch := getChanges(t, c, "ch", "?descending=true")
		want := slices.Clone(wantOrder)
		slices.Reverse(want)
		if got := changeIDs(ch.Results); !equalStrings(got, want) {
			t.Errorf("descending=true: ids %q, want %q", got, want)
		}
		ch = getChanges(t, c, "ch", "?descending=true&limit=1")
		if got := changeIDs(ch.Results); !equalStrings(got, want[:1]) {
			t.Errorf("descending=true&limit=1: ids %q, want %q", got, want[:1])
		}
	})

	t.Run("IncludeDocs", func(t *testing.T) {
		ch := getChanges(t, c, "ch", "?include_docs=true")
		for _, r := range ch.Results {
			id := str(t, r, "id")
			doc := obj(t, r, "doc")
			if doc["_id"] != id {
				t.Errorf("include_docs: row %s doc %v", id, doc)
			}
			switch id {
			case "c":
				jsonEq(t, "include_docs deleted doc", doc, `{"_id":"c","_rev":"`+delRev+`","_deleted":true}`)
			case "b":
				jsonEq(t, "include_docs b", doc, `{"_id":"b","_rev":"`+revs["b"]+`","id":"b","kind":"letter","n":10}`)
			}
		}
	})

	t.Run("DocIDs", func(t *testing.T) {
		ch := getChanges(t, c, "ch", "?filter=_doc_ids&doc_ids="+jsonQuery([]string{"e", "a", "zzz"}))
		if got := changeIDs(ch.Results); !equalStrings(got, []string{"a", "e"}) {
			t.Errorf("GET filter=_doc_ids doc_ids=[e a zzz]: ids %q, want [a e]", got)
		}
		ch = postChanges(t, c, "ch", "?filter=_doc_ids", map[string]any{"doc_ids": []string{"c", "b"}})
		if got := changeIDs(ch.Results); !equalStrings(got, []string{"b", "c"}) {
			t.Errorf("POST filter=_doc_ids doc_ids=[c b]: ids %q, want [b c]", got)
		}
		expectError(t, c, http.StatusBadRequest, "bad_request", "", http.MethodPost, "/ch/_changes?filter=_doc_ids", map[string]any{"doc_ids": "a"})
	})

	t.Run("Selector", func(t *testing.T) {
		ch := postChanges(t, c, "ch", "?filter=_selector", map[string]any{"selector": map[string]any{"n": map[string]any{"$gte": 3}}})
		if got := changeIDs(ch.Results); !equalStrings(got, []string{"d", "e", "b"}) {
			t.Errorf("filter=_selector n>=3: ids %q, want [d e b]", got)
		}
		ch = postChanges(t, c, "ch", "?filter=_selector&include_docs=true", map[string]any{"selector": map[string]any{"id": "d"}})
		if got := changeIDs(ch.Results); !equalStrings(got, []string{"d"}) {
			t.Errorf("filter=_selector id=d: ids %q, want [d]", got)
		} else if obj(t, ch.Results[0], "doc")["_id"] != "d" {
			t.Errorf("filter=_selector include_docs: row %v", ch.Results[0])
		}
		expectError(t, c, http.StatusBadRequest, "bad_request", "", http.MethodPost, "/ch/_changes?filter=_selector",
			map[string]any{"selector": map[string]any{"n": map[string]any{"$bogus": 1}}})
		expectError(t, c, http.StatusBadRequest, "bad_request", "", http.MethodPost, "/ch/_changes?filter=_selector",
			map[string]any{"selector": "not an object"})
		expectError(t, c, http.StatusBadRequest, "bad_request", "", http.MethodPost, "/ch/_changes?filter=_selector", map[string]any{})
	})

	t.Run("Design", func(t *testing.T) {
		ch := getChanges(t, c, "ch", "?filter=_design")
		if got := changeIDs(ch.Results); !equalStrings(got, []string{"_design/dd"}) {
			t.Errorf("filter=_design: ids %q, want [_design/dd]", got)
		}
	})

	t.Run("SeqInterval", func(t *testing.T) {
		ch := getChanges(t, c, "ch", "?seq_interval=2")
		if got := changeIDs(ch.Results); !equalStrings(got, wantOrder) {
			t.Fatalf("seq_interval=2: ids %q, want %q", got, wantOrder)
		}
		nulls := 0
		for _, r := range ch.Results {
			if v, ok := r["seq"]; !ok {
				t.Errorf("seq_interval=2: row without a seq key: %v", r)
			} else if v == nil {
				nulls++
			}
		}
		if nulls == 0 || nulls == len(ch.Results) {
			t.Errorf("seq_interval=2: %d of %d rows have seq null, want some but not all", nulls, len(ch.Results))
		}
		if ch.LastSeq == nil {
			t.Errorf("seq_interval=2: last_seq is null")
		} else if seqPrefix(t, ch.LastSeq) != seqPrefix(t, getChanges(t, c, "ch", "").LastSeq) {
			t.Errorf("seq_interval=2: last_seq %v, want the current seq", ch.LastSeq)
		}
	})

	t.Run("ConflictsAllDocs", func(t *testing.T) {
		createDB(t, c, "chc")
		r1 := putDoc(t, c, "chc", "x", map[string]any{"v": 1})
		h := func(ch string) string { return strings.Repeat(ch, 32) }
		bbb, ccc := "2-"+h("b"), "2-"+h("c")
		bulkNoNewEdits(t, c, "chc", branchDoc("x", r1, bbb, false), branchDoc("x", r1, ccc, false))

		ch := getChanges(t, c, "chc", "")
		if len(ch.Results) != 1 {
			t.Fatalf("_changes of conflicted doc: %v, want 1 row", ch.Results)
		}
		if got := changeRevs(t, ch.Results[0]); !equalStrings(got, []string{ccc}) {
			t.Errorf("style=main_only (default): changes %q, want the winner [%s]", got, ccc)
		}
		ch = getChanges(t, c, "chc", "?style=all_docs")
		if got := changeRevs(t, ch.Results[0]); !equalStrings(got, []string{bbb, ccc}) {
			t.Errorf("style=all_docs: changes %q, want both leaves [%s %s]", got, bbb, ccc)
		}
		ch = getChanges(t, c, "chc", "?include_docs=true&conflicts=true")
		doc := obj(t, ch.Results[0], "doc")
		if doc["_rev"] != ccc {
			t.Errorf("include_docs&conflicts: doc %v, want winner %s", doc, ccc)
		}
		jsonEq(t, "include_docs&conflicts _conflicts", doc["_conflicts"], `["`+bbb+`"]`)
		ch = getChanges(t, c, "chc", "?include_docs=true")
		if _, ok := obj(t, ch.Results[0], "doc")["_conflicts"]; ok {
			t.Errorf("include_docs without conflicts=true has _conflicts: %v", ch.Results[0])
		}
	})
}

// TestChangesLongpoll covers feed=longpoll.
func TestChangesLongpoll(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := n.Client()
	c.Expect(t, http.StatusCreated, http.MethodPut, "/lp?q=1", nil)
	putDoc(t, c, "lp", "first", map[string]any{})

	t.Run("ImmediateWhenBehind", func(t *testing.T) {
		ch := getChanges(t, c, "lp", "?feed=longpoll&since=0")
		if got := changeIDs(ch.Results); !equalStrings(got, []string{"first"}) {
			t.Errorf("longpoll since=0 with pending changes: ids %q, want [first]", got)
		}
	})

	t.Run("BlocksUntilWrite", func(t *testing.T) {
		now := getChanges(t, c, "lp", "?since=now")
		since := url.QueryEscape(seqString(t, now.LastSeq))
		type result struct {
			ch  changesResp
			err error
			at  time.Time
		}
		done := make(chan result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			resp, err := c.Request(ctx, http.MethodGet, "/lp/_changes?feed=longpoll&since="+since, nil)
			var r result
			r.at = time.Now()
			if err != nil {
				r.err = err
			} else if resp.Status != http.StatusOK {
				r.err = fmt.Errorf("status %d: %s", resp.Status, resp.Body)
			} else {
				r.err = testnode.DecodeJSON(resp.Body, &r.ch)
			}
			done <- r
		}()
		select {
		case r := <-done:
			t.Fatalf("longpoll since=now answered before any write: %+v %v", r.ch, r.err)
		case <-time.After(500 * time.Millisecond):
		}
		wrote := time.Now()
		rev := putDoc(t, c, "lp", "later", map[string]any{})
		select {
		case r := <-done:
			if r.err != nil {
				t.Fatalf("longpoll: %v", r.err)
			}
			if got := changeIDs(r.ch.Results); !equalStrings(got, []string{"later"}) {
				t.Errorf("longpoll: ids %q, want [later]", got)
			} else if got := changeRevs(t, r.ch.Results[0]); !equalStrings(got, []string{rev}) {
				t.Errorf("longpoll: revs %q, want [%s]", got, rev)
			}
			if r.at.Before(wrote) {
				t.Errorf("longpoll answered before the write")
			}
			if seqString(t, r.ch.LastSeq) != seqString(t, r.ch.Results[0]["seq"]) {
				t.Errorf("longpoll: last_seq %v, want %v", r.ch.LastSeq, r.ch.Results[0]["seq"])
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("longpoll did not answer within 15s of a write")
		}
	})

	t.Run("Timeout", func(t *testing.T) {
		start := time.Now()
		ch := getChanges(t, c, "lp", "?feed=longpoll&since=now&timeout=300")
		if len(ch.Results) != 0 {
			t.Errorf("longpoll timeout=300 with no writes: %v, want no results", ch.Results)
		}
		if ch.LastSeq == nil {
			t.Errorf("longpoll timeout: no last_seq")
		}
		if el := time.Since(start); el < 250*time.Millisecond || el > 10*time.Second {
			t.Errorf("longpoll timeout=300 took %v", el)
		}
		// POST works too.
		ch = postChanges(t, c, "lp", "?feed=longpoll&since=now&timeout=100", map[string]any{})
		if len(ch.Results) != 0 {
			t.Errorf("POST longpoll timeout: %v, want no results", ch.Results)
		}
	})
}

// TestChangesContinuous covers feed=continuous and feed=eventsource, and a
// client going away mid-feed.
func TestChangesContinuous(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := n.Client()
	c.Expect(t, http.StatusCreated, http.MethodPut, "/cf?q=1", nil)
	r1 := putDoc(t, c, "cf", "one", map[string]any{})

	t.Run("Continuous", func(t *testing.T) {
		s := openStream(t, c, http.MethodGet, "/cf/_changes?feed=continuous&since=0&heartbeat=100&timeout=20000", nil)
		if ct := s.resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("continuous Content-Type %q, want application/json", ct)
		}
		testnode.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
			rows := jsonLines(t, s.snapshot())
			return len(rows) >= 1 && rows[0]["id"] == "one", fmt.Sprintf("lines %q, want the row for one", s.snapshot())
		})
		// Heartbeats: blank lines keep arriving while nothing changes.
		testnode.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
			blank := 0
			for _, l := range s.snapshot() {
				if l == "\n" {
					blank++
				}
			}
			return blank >= 2, fmt.Sprintf("%d heartbeat newlines so far; lines %q", blank, s.snapshot())
		})
		r2 := putDoc(t, c, "cf", "two", map[string]any{})
		testnode.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
			for _, row := range jsonLines(t, s.snapshot()) {
				if row["id"] == "two" {
					if got := changeRevs(t, row); !equalStrings(got, []string{r2}) {
						return false, fmt.Sprintf("row %v, want rev %s", row, r2)
					}
					return true, ""
				}
			}
			return false, fmt.Sprintf("write after connecting not delivered; lines %q", s.snapshot())
		})
		if s.resp.Header.Get("Content-Length") != "" {
			t.Errorf("continuous feed has Content-Length %q", s.resp.Header.Get("Content-Length"))
		}
	})

	t.Run("TimeoutLastSeq", func(t *testing.T) {
		s := openStream(t, c, http.MethodPost, "/cf/_changes?feed=continuous&since=0&timeout=300", map[string]any{})
		lines := s.waitEnd(t, 15*time.Second)
		rows := jsonLines(t, lines)
		if len(rows) < 2 {
			t.Fatalf("continuous with timeout: lines %q, want rows then a last_seq line", lines)
		}
		last := rows[len(rows)-1]
		if _, ok := last["last_seq"]; !ok || last["id"] != nil {
			t.Errorf("final continuous line %v, want {last_seq,pending}", last)
		}
		if _, ok := last["pending"]; !ok {
			t.Errorf("final continuous line %v has no pending", last)
		}
		if got := rows[len(rows)-2]; seqString(t, last["last_seq"]) != seqString(t, got["seq"]) {
			t.Errorf("final last_seq %v, want the seq of the last row %v", last["last_seq"], got["seq"])
		}
		if got := jsonLines(t, lines[:1]); got[0]["id"] != "one" || !equalStrings(changeRevs(t, got[0]), []string{r1}) {
			t.Errorf("first continuous row %v, want one@%s", got[0], r1)
		}
	})

	t.Run("ContinuousLimit", func(t *testing.T) {
		s := openStream(t, c, http.MethodGet, "/cf/_changes?feed=continuous&since=0&limit=1&timeout=20000", nil)
		rows := jsonLines(t, s.waitEnd(t, 10*time.Second))
		if len(rows) != 2 || rows[0]["id"] != "one" || rows[1]["last_seq"] == nil {
			t.Errorf("continuous limit=1: %v, want one row and a last_seq line", rows)
		}
	})

	t.Run("EventSource", func(t *testing.T) {
		s := openStream(t, c, http.MethodGet, "/cf/_changes?feed=eventsource&since=0&heartbeat=100&timeout=20000", nil)
		if ct := s.resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Errorf("eventsource Content-Type %q, want text/event-stream", ct)
		}
		type event struct{ data, id, name string }
		parse := func(lines []string) []event {
			var evs []event
			var cur event
			for _, l := range lines {
				l = strings.TrimRight(l, "\n")
				switch {
				case l == "":
					if cur != (event{}) {
						evs = append(evs, cur)
					}
					cur = event{}
				case strings.HasPrefix(l, "data:"):
					cur.data = strings.TrimSpace(strings.TrimPrefix(l, "data:"))
				case strings.HasPrefix(l, "id:"):
					cur.id = strings.TrimSpace(strings.TrimPrefix(l, "id:"))
				case strings.HasPrefix(l, "event:"):
					cur.name = strings.TrimSpace(strings.TrimPrefix(l, "event:"))
				default:
					t.Errorf("eventsource: unexpected line %q", l)
				}
			}
			return evs
		}
		var evs []event
		testnode.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
			evs = nil
			for _, e := range parse(s.snapshot()) {
				if e.name == "" {
					evs = append(evs, e)
				}
			}
			return len(evs) >= 2, fmt.Sprintf("events %q, want rows for one and two", s.snapshot())
		})
		for i, e := range evs[:2] {
			row := testnode.Object(t, []byte(e.data))
			if want := []string{"one", "two"}[i]; row["id"] != want {
				t.Errorf("event %d: data %s, want the row for %s", i, e.data, want)
			}
			// CouchDB JSON-encodes the seq on the id: line (and strips the
			// quotes again when it comes back as Last-Event-ID).
			if id := strings.Trim(e.id, `"`); id == "" || id != seqString(t, row["seq"]) {
				t.Errorf("event %d: id %q, want the row's seq %v", i, e.id, row["seq"])
			}
		}
		testnode.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
			for _, e := range parse(s.snapshot()) {
				if e.name == "heartbeat" {
					return true, ""
				}
			}
			return false, fmt.Sprintf("no heartbeat event; lines %q", s.snapshot())
		})
		r3 := putDoc(t, c, "cf", "three", map[string]any{})
		testnode.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
			for _, e := range parse(s.snapshot()) {
				if e.name == "" && strings.Contains(e.data, `"three"`) && strings.Contains(e.data, r3) {
					return true, ""
				}
			}
			return false, fmt.Sprintf("write after connecting not delivered; lines %q", s.snapshot())
		})

		// Resume with Last-Event-ID: only changes after the first event.
		s2 := openStream(t, c, http.MethodGet, "/cf/_changes?feed=eventsource&timeout=300", nil, "Last-Event-ID", evs[0].id)
		var ids []string
		for _, e := range parse(s2.waitEnd(t, 10*time.Second)) {
			if e.name == "" {
				ids = append(ids, str(t, testnode.Object(t, []byte(e.data)), "id"))
			}
		}
		if !equalStrings(ids, []string{"two", "three"}) {
			t.Errorf("eventsource with Last-Event-ID %s: ids %q, want [two three]", evs[0].id, ids)
		}
	})

	t.Run("ClientDisconnect", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			s := openStream(t, c, http.MethodGet, "/cf/_changes?feed=continuous&since=0&heartbeat=50", nil)
			testnode.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
				return len(jsonLines(t, s.snapshot())) >= 1, "no rows yet"
			})
			s.close()
		}
		// The node keeps serving; writes and a fresh feed work.
		r := putDoc(t, c, "cf", "afterdisconnect", map[string]any{})
		c.Get(t, "/_up")
		s := openStream(t, c, http.MethodGet, "/cf/_changes?feed=continuous&since=0&timeout=300", nil)
		found := false
		for _, row := range jsonLines(t, s.waitEnd(t, 10*time.Second)) {
			if row["id"] == "afterdisconnect" && equalStrings(changeRevs(t, row), []string{r}) {
				found = true
			}
		}
		if !found {
			t.Errorf("fresh continuous feed after disconnects lacks the new write")
		}
		ch := getChanges(t, c, "cf", "?feed=longpoll&since=0")
		if len(ch.Results) == 0 {
			t.Errorf("longpoll after disconnects returned nothing")
		}
	})
}
