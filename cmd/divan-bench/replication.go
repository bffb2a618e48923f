package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Workloads of the endpoints a replicator uses: _changes (normal and
// continuous), _bulk_get and _revs_diff.

// changesDB returns the data set the changes workload reads and its size:
// the get/alldocs data set when -changes-docs equals -docs (it has exactly
// one change per document, as nothing else writes to it), otherwise a
// database of its own.
func (b *bench) changesDB() (name string, docs int) {
	if b.cfg.changesDocs == b.cfg.docs {
		return "data", b.cfg.docs
	}
	return "changes", b.cfg.changesDocs
}

// changesOp reads the normal _changes feed from since=0: in one request
// when cfg.changesLimit is 0, otherwise in pages of that many rows, each
// starting at the previous page's last_seq. Each worker reads the whole
// feed over and over; a pass that does not yield exactly one row per
// document counts as an error.
func (b *bench) changesOp() opFunc {
	name, docs := b.changesDB()
	path := "/" + b.db(name) + "/_changes?since="
	limit := b.cfg.changesLimit
	return func(ctx context.Context, w *worker) (int, int, error) {
		since := w.since
		if since == "" {
			since = "0"
			w.passRows = 0
		}
		p := path + url.QueryEscape(since)
		if limit > 0 {
			p += "&limit=" + strconv.Itoa(limit)
		}
		resp, err := b.cl.open(ctx, b.cl.hc, http.MethodGet, p, nil)
		if err != nil {
			w.since = ""
			return 0, 1, err
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			w.since = ""
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1000))
			return 0, 1, fmt.Errorf("HTTP %d: %s", resp.StatusCode, snippet(body))
		}
		if w.copyBuf == nil {
			w.copyBuf = make([]byte, 64<<10)
		}
		w.feed.reset()
		if _, err := io.CopyBuffer(&w.feed, resp.Body, w.copyBuf); err != nil {
			w.since = ""
			return w.feed.rows, 1, fmt.Errorf("read _changes: %w", err)
		}
		rows := w.feed.rows
		w.passRows += rows
		if limit <= 0 {
			w.since = ""
			if rows != docs {
				return rows, 1, fmt.Errorf("_changes since=0: %d rows, want %d", rows, docs)
			}
			return rows, 0, nil
		}
		lastSeq, pending, err := parseFeedEnd(w.feed.tail)
		if err != nil {
			w.since = ""
			return rows, 1, err
		}
		if rows > limit {
			w.since = ""
			return rows, 1, fmt.Errorf("_changes limit=%d: %d rows", limit, rows)
		}
		if pending > 0 && rows > 0 {
			w.since = lastSeq
			return rows, 0, nil
		}
		// The end of the feed: the next request starts a new pass.
		w.since = ""
		if w.passRows != docs {
			return rows, 1, fmt.Errorf("_changes from since=0 in pages of %d: %d rows, want %d", limit, w.passRows, docs)
		}
		return rows, 0, nil
	}
}

// feedCounter counts the rows of a normal _changes response as it streams
// through, without holding the body: each row has one "changes" member
// (the benchmark's documents have none, and the feed does not include
// them). It keeps the last bytes of the body for last_seq and pending.
type feedCounter struct {
	rows  int
	carry []byte // the last len(rowMark)-1 bytes, for marks split across writes
	tail  []byte
}

var rowMark = []byte(`"changes":`)

const feedTail = 8 << 10

func (f *feedCounter) reset() {
	f.rows = 0
	f.carry = f.carry[:0]
	f.tail = f.tail[:0]
}

func (f *feedCounter) Write(p []byte) (int, error) {
	k := len(rowMark) - 1
	// Marks straddling the previous write and this one lie within the
	// carried k bytes and the first k of p; neither part can hold a whole
	// mark, so none is counted twice.
	c := len(f.carry)
	if c > 0 {
		f.carry = append(f.carry, p[:min(len(p), k)]...)
		f.rows += bytes.Count(f.carry, rowMark)
		f.carry = f.carry[:c]
	}
	f.rows += bytes.Count(p, rowMark)
	if len(p) >= k {
		f.carry = append(f.carry[:0], p[len(p)-k:]...)
	} else {
		f.carry = append(f.carry, p...)
		f.carry = append(f.carry[:0], f.carry[max(len(f.carry)-k, 0):]...)
	}
	f.tail = append(f.tail, p...)
	if len(f.tail) > 2*feedTail {
		f.tail = append(f.tail[:0], f.tail[len(f.tail)-feedTail:]...)
	}
	return len(p), nil
}

// parseFeedEnd reads last_seq and pending from the end of a normal
// _changes response. last_seq is returned as the string to send as since
// (CouchDB 2+ sends strings, 1.x numbers); pending is -1 when absent.
func parseFeedEnd(tail []byte) (lastSeq string, pending int, err error) {
	i := bytes.LastIndex(tail, []byte(`"last_seq":`))
	if i < 0 {
		return "", 0, fmt.Errorf("_changes: no last_seq at the end of %q", snippet(tail[max(len(tail)-200, 0):]))
	}
	var raw json.RawMessage
	if err := json.NewDecoder(bytes.NewReader(tail[i+len(`"last_seq":`):])).Decode(&raw); err != nil {
		return "", 0, fmt.Errorf("_changes last_seq: %w", err)
	}
	if lastSeq, err = seqString(raw); err != nil {
		return "", 0, err
	}
	pending = -1
	if j := bytes.LastIndex(tail, []byte(`"pending":`)); j >= 0 {
		var n int
		if err := json.NewDecoder(bytes.NewReader(tail[j+len(`"pending":`):])).Decode(&n); err != nil {
			return "", 0, fmt.Errorf("_changes pending: %w", err)
		}
		pending = n
	}
	return lastSeq, pending, nil
}

// seqString turns a JSON update sequence (string or number) into the text
// of a since parameter.
func seqString(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), nil
	}
	return "", fmt.Errorf("_changes: seq %s is neither a string nor a number", snippet(raw))
}

// feedLine is one line of a continuous _changes feed.
type feedLine struct {
	Heartbeat bool            // an empty line
	ID        string          // a change row's document id
	Seq       json.RawMessage // a change row's seq
	LastSeq   json.RawMessage // the closing line of a feed that ended
}

// parseFeedLine parses one line of a continuous feed: a change row, an
// empty heartbeat line or the final {"last_seq":...}.
func parseFeedLine(line []byte) (feedLine, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return feedLine{Heartbeat: true}, nil
	}
	var v struct {
		ID      string          `json:"id"`
		Seq     json.RawMessage `json:"seq"`
		LastSeq json.RawMessage `json:"last_seq"`
		Error   string          `json:"error"`
		Reason  string          `json:"reason"`
	}
	if err := json.Unmarshal(line, &v); err != nil {
		return feedLine{}, fmt.Errorf("continuous feed line %q: %w", snippet(line), err)
	}
	switch {
	case v.Error != "":
		return feedLine{}, fmt.Errorf("continuous feed: %s: %s", v.Error, v.Reason)
	case v.LastSeq != nil:
		return feedLine{LastSeq: v.LastSeq}, nil
	case v.ID == "" || v.Seq == nil:
		return feedLine{}, fmt.Errorf("continuous feed line %q: no id or seq", snippet(line))
	}
	return feedLine{ID: v.ID, Seq: v.Seq}, nil
}

// arrival is a row of the continuous feed and when it was read, or the
// error that ended the feed.
type arrival struct {
	id  string
	at  time.Time
	err error
}

// readFeed reads a continuous feed line by line, sending each row to out
// as soon as it is read, and a final arrival with the error (io.EOF when
// the server ended it) before closing out.
func readFeed(body io.Reader, out chan<- arrival) {
	defer close(out)
	br := bufio.NewReaderSize(body, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			head := append([]byte(nil), line...) // ReadBytes reuses line's buffer
			rest, err2 := br.ReadBytes('\n')
			line, err = append(head, rest...), err2
		}
		if len(bytes.TrimSpace(line)) > 0 {
			fl, perr := parseFeedLine(line)
			switch {
			case perr != nil:
				out <- arrival{err: perr}
				return
			case fl.ID != "":
				out <- arrival{id: fl.ID, at: time.Now()}
			case fl.LastSeq != nil:
				out <- arrival{err: fmt.Errorf("continuous feed ended (last_seq %s)", fl.LastSeq)}
				return
			}
		}
		if err != nil {
			out <- arrival{err: err}
			return
		}
	}
}

// continuous measures write-to-delivery latency: with a continuous
// _changes feed open on an otherwise idle database, it PUTs cfg.contWrites
// single documents one at a time and times each from sending the PUT to
// reading that document's row on the feed, waiting cfg.contGap between a
// row's arrival and the next write. It ignores -duration and -c.
func (b *bench) continuous(ctx context.Context) result {
	r := result{Workload: wlContinuous, Concurrency: 1, Unit: workloadUnit(wlContinuous)}
	fail := func(err error) {
		r.Errors++
		if r.FirstError == "" {
			r.FirstError = err.Error()
		}
	}
	db := "/" + b.db(wlContinuous)
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hb := max(b.cfg.contHeartbeat.Milliseconds(), 1)
	resp, err := b.cl.open(fctx, b.cl.stream, http.MethodGet,
		db+"/_changes?feed=continuous&since=now&heartbeat="+strconv.FormatInt(hb, 10), nil)
	if err != nil {
		fail(fmt.Errorf("open continuous feed: %w", err))
		return r
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1000))
		fail(fmt.Errorf("open continuous feed: HTTP %d: %s", resp.StatusCode, snippet(body)))
		return r
	}
	arrivals := make(chan arrival, 1024)
	go readFeed(resp.Body, arrivals)

	var body, respBuf bytes.Buffer
	put := func(id string, n int) error {
		body.Reset()
		body.Write(appendDoc(nil, "", n, b.payloadFor(n)))
		status, err := b.cl.do(ctx, http.MethodPut, db+"/"+id, body.Bytes(), &respBuf)
		_, _, err = outcome(status, err, respBuf.Bytes(), 1)
		return err
	}
	// await waits until id's row arrives, skipping other rows.
	await := func(id string, timeout time.Duration) (time.Time, error) {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		for {
			select {
			case a, ok := <-arrivals:
				if !ok {
					return time.Time{}, errors.New("continuous feed closed")
				}
				if a.err != nil {
					return time.Time{}, fmt.Errorf("continuous feed: %w", a.err)
				}
				if a.id == id {
					return a.at, nil
				}
			case <-timer.C:
				return time.Time{}, fmt.Errorf("no row for %s on the continuous feed within %s", id, timeout)
			case <-ctx.Done():
				return time.Time{}, ctx.Err()
			}
		}
	}

	// Warm up until a write shows up on the feed, so that the feed is
	// surely past "now" before the first timed write.
	warm := false
	for i := 0; i < 20 && !warm && ctx.Err() == nil; i++ {
		id := "warmup-" + strconv.Itoa(i)
		if err := put(id, i); err != nil {
			fail(fmt.Errorf("warm-up write: %w", err))
			return r
		}
		_, err := await(id, 500*time.Millisecond)
		warm = err == nil
	}
	if !warm {
		fail(errors.New("continuous feed delivered none of the warm-up writes"))
		return r
	}

	var h histogram
	start := time.Now()
	for i := 0; i < b.cfg.contWrites && ctx.Err() == nil; i++ {
		id := fmt.Sprintf("c%07d", i)
		t0 := time.Now()
		if err := put(id, i); err != nil {
			r.Requests++
			fail(fmt.Errorf("write %s: %w", id, err))
			continue
		}
		r.Requests++
		at, err := await(id, b.cfg.contWait)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			fail(err)
			if errors.Is(err, io.EOF) || err.Error() == "continuous feed closed" {
				break
			}
			continue
		}
		h.record(at.Sub(t0))
		r.Items++
		if b.cfg.contGap > 0 {
			select {
			case <-time.After(b.cfg.contGap):
			case <-ctx.Done():
			}
		}
	}
	elapsed := time.Since(start)
	r.Interrupted = ctx.Err() != nil
	r.Seconds = elapsed.Seconds()
	r.Rate = float64(r.Items) / elapsed.Seconds()
	r.RequestsPerSec = float64(r.Requests) / elapsed.Seconds()
	r.P50 = ms(h.percentile(50))
	r.P99 = ms(h.percentile(99))
	r.Max = ms(time.Duration(h.max))
	r.Mean = ms(h.mean())
	return r
}

// bulkGetOp fetches cfg.bulkGetBatch random documents of the data set, each
// by id and revision, with POST _bulk_get?revs=true.
func (b *bench) bulkGetOp() opFunc {
	path := "/" + b.db("data") + "/_bulk_get?revs=true"
	n := b.cfg.bulkGetBatch
	return func(ctx context.Context, w *worker) (int, int, error) {
		w.req = append(w.req[:0], `{"docs":[`...)
		for j := range n {
			if j > 0 {
				w.req = append(w.req, ',')
			}
			i := w.rng.IntN(b.cfg.docs)
			w.req = append(w.req, `{"id":"`...)
			w.req = append(w.req, dataID(i)...)
			w.req = append(w.req, `","rev":"`...)
			w.req = append(w.req, b.revs[i]...)
			w.req = append(w.req, `"}`...)
		}
		w.req = append(w.req, "]}"...)
		status, err := b.cl.do(ctx, http.MethodPost, path, w.req, &w.resp)
		if _, failed, err := outcome(status, err, w.resp.Bytes(), n); err != nil {
			return 0, failed, err
		}
		return bulkGetResult(w.resp.Bytes(), n)
	}
}

// bulkGetResult counts the documents of a _bulk_get response: each found
// revision is an {"ok": doc} entry; the benchmark's documents have no "ok"
// member.
func bulkGetResult(body []byte, n int) (int, int, error) {
	ok := min(bytes.Count(body, []byte(`"ok":`)), n)
	if ok == n {
		return n, 0, nil
	}
	e := snippet(body)
	if i := bytes.Index(body, []byte(`"error":`)); i >= 0 {
		start := max(bytes.LastIndexByte(body[:i], '{'), 0)
		e = snippet(body[start:min(len(body), start+300)])
	}
	return ok, n - ok, fmt.Errorf("_bulk_get returned %d of %d docs, e.g. %s", ok, n, e)
}

// revsDiffOp sends POST _revs_diff with cfg.revsDiffBatch consecutive
// documents of the data set (from a random start), one revision each:
// its current one, or with probability cfg.revsDiffMissing a made-up
// second-generation revision the database does not have.
func (b *bench) revsDiffOp() opFunc {
	path := "/" + b.db("data") + "/_revs_diff"
	n := min(b.cfg.revsDiffBatch, b.cfg.docs) // ids must not repeat
	return func(ctx context.Context, w *worker) (int, int, error) {
		start := w.rng.IntN(b.cfg.docs)
		missing := 0
		w.req = append(w.req[:0], '{')
		for j := range n {
			if j > 0 {
				w.req = append(w.req, ',')
			}
			i := (start + j) % b.cfg.docs
			w.req = append(w.req, '"')
			w.req = append(w.req, dataID(i)...)
			w.req = append(w.req, `":["`...)
			if w.rng.Float64() < b.cfg.revsDiffMissing {
				missing++
				w.req = fmt.Appendf(w.req, "2-%016x%016x", w.rng.Uint64(), w.rng.Uint64())
			} else {
				w.req = append(w.req, b.revs[i]...)
			}
			w.req = append(w.req, `"]`...)
		}
		w.req = append(w.req, '}')
		status, err := b.cl.do(ctx, http.MethodPost, path, w.req, &w.resp)
		if _, failed, err := outcome(status, err, w.resp.Bytes(), n); err != nil {
			return 0, failed, err
		}
		return revsDiffResult(w.resp.Bytes(), n, missing)
	}
}

// revsDiffResult checks a _revs_diff response for a request of n ids with
// one revision each, missing of them unknown to the database: exactly
// those ids must be listed, each with a "missing" member.
func revsDiffResult(body []byte, n, missing int) (int, int, error) {
	got := bytes.Count(body, []byte(`"missing":`))
	if got == missing {
		return n, 0, nil
	}
	wrong := min(max(got-missing, missing-got), n)
	return n - wrong, wrong, fmt.Errorf("_revs_diff listed %d ids with missing revs, want %d: %s", got, missing, snippet(body))
}

// bulkRevs records the revisions of a _bulk_docs response for documents
// first.. (dataID) in revs.
func bulkRevs(body []byte, first int, revs []string) error {
	var rows []struct {
		ID  string `json:"id"`
		Rev string `json:"rev"`
	}
	if err := json.Unmarshal(body, &rows); err != nil {
		return fmt.Errorf("_bulk_docs response: %w", err)
	}
	if len(rows) != len(revs) {
		return fmt.Errorf("_bulk_docs response: %d rows for %d docs", len(rows), len(revs))
	}
	for k, row := range rows {
		if want := dataID(first + k); row.ID != want || row.Rev == "" {
			return fmt.Errorf("_bulk_docs response row %d: id %q rev %q, want id %q", k, row.ID, row.Rev, want)
		}
		revs[k] = row.Rev
	}
	return nil
}
