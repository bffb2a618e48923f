package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/mango"
	"github.com/divandb/divan/internal/rawjson"
)

// changesTimeout is chttpd's [chttpd] changes_timeout default: the longest
// a longpoll/continuous feed without heartbeat waits for changes.
const changesTimeout = 60 * time.Second

// changesQuery holds the `_changes` parameters (chttpd_changes:parse_changes_query).
type changesQuery struct {
	feed            string // normal, longpoll, continuous, eventsource
	since           string
	limit           int // < 0: none
	descending      bool
	includeDocs     bool
	conflicts       bool
	attachments     bool
	attEncodingInfo bool
	allDocs         bool
	heartbeat       time.Duration // 0: none
	timeout         time.Duration // 0: changesTimeout
	seqInterval     int
	filter          string
	view            string
}

func parseChangesQuery(rq *request) (changesQuery, error) {
	q := changesQuery{feed: "normal", since: "0", limit: -1}
	for _, p := range rq.params() {
		switch p.key {
		case "feed":
			switch p.val {
			case "normal", "longpoll", "continuous", "eventsource":
				q.feed = p.val
			case "live":
				q.feed = "continuous"
			default:
				return q, badRequest("Supported `feed` types: normal, continuous, live, longpoll, eventsource")
			}
		case "since":
			q.since = p.val
		case "last-event-id":
			q.since = p.val
		case "limit":
			n, err := strconv.Atoi(p.val)
			if err != nil || n < 0 {
				return q, badRequest("Invalid limit value `" + p.val + "`: must be a non-negative integer.")
			}
			q.limit = n
		case "descending":
			q.descending = p.val == "true"
		case "include_docs":
			q.includeDocs = p.val == "true"
		case "conflicts":
			q.conflicts = p.val == "true"
		case "attachments":
			q.attachments = p.val == "true"
		case "att_encoding_info":
			q.attEncodingInfo = p.val == "true"
		case "style":
			switch p.val {
			case "all_docs":
				q.allDocs = true
			case "main_only":
				q.allDocs = false
			default:
				return q, badRequest("Invalid style value `" + p.val + "`")
			}
		case "heartbeat":
			if p.val == "true" {
				q.heartbeat = changesTimeout
				continue
			}
			n, err := strconv.Atoi(p.val)
			if err != nil || n < 0 {
				return q, badRequest("Invalid heartbeat value. Expecting a positive integer value.")
			}
			q.heartbeat = time.Duration(n) * time.Millisecond
		case "timeout":
			n, err := strconv.Atoi(p.val)
			if err != nil || n < 0 {
				return q, badRequest("Invalid timeout value. Expecting a positive integer value.")
			}
			q.timeout = time.Duration(n) * time.Millisecond
		case "seq_interval":
			n, err := strconv.Atoi(p.val)
			if err != nil || n <= 0 {
				return q, badRequest("Invalid seq_interval value. Expecting a positive integer value.")
			}
			q.seqInterval = n
		case "filter":
			q.filter = p.val
		case "view":
			q.view = p.val
		}
	}
	if q.heartbeat > 0 && q.heartbeat < 10*time.Millisecond {
		q.heartbeat = 10 * time.Millisecond
	}
	return q, nil
}

// changes serves GET/POST /{db}/_changes.
func (a *API) changes(rq *request, db string) error {
	if rq.method != http.MethodGet && rq.method != http.MethodPost {
		return notAllowed("GET,POST,HEAD")
	}
	q, err := parseChangesQuery(rq)
	if err != nil {
		return err
	}
	if q.feed == "eventsource" {
		if v := rq.r.Header.Get("Last-Event-ID"); v != "" {
			q.since = v
		}
	}
	var body []byte
	if rq.method == http.MethodPost {
		if err := rq.requireJSONCType(); err != nil {
			return err
		}
		if body, err = rq.body(); err != nil {
			return err
		}
		switch {
		case len(body) == 0:
			body = nil
		case !rawjson.Valid(body):
			return errInvalidJSON
		case firstByte(body) != '{':
			return errNotJSONObj
		}
	}
	opts := fabric.ChangesOptions{
		Since: q.since, Limit: q.limit, Descending: q.descending,
		IncludeDocs: q.includeDocs, Conflicts: q.conflicts, AllLeaves: q.allDocs,
	}
	if err := a.changesFilter(rq, db, &q, body, &opts); err != nil {
		return err
	}
	info, err := a.b.DBInfo(rq.ctx, db)
	if err != nil {
		return err
	}
	rq.dbChecked = true
	if q.feed == "normal" {
		// chttpd_db: the normal feed's ETag comes from the db info.
		etag := makeETag([]byte(db + "\x00" + info.UpdateSeq))
		rq.w.Header()["ETag"] = []string{etag}
		if etagMatch(rq.r, etag) {
			rq.sendEmpty(http.StatusNotModified)
			return nil
		}
	}
	f := &changesFeed{a: a, rq: rq, db: db, q: q, opts: opts}
	return f.run()
}

// changesFilter applies ?filter= (fabric_view_changes / couch_changes:configure_filter).
func (a *API) changesFilter(rq *request, db string, q *changesQuery, body []byte, opts *fabric.ChangesOptions) error {
	switch q.filter {
	case "":
		return nil
	case "_doc_ids":
		var raw []byte
		if v, ok := rq.qs("doc_ids"); ok {
			raw = []byte(v)
		}
		if body != nil {
			_ = rawjson.Members(body, func(m rawjson.Member) error {
				if m.Key == "doc_ids" {
					raw = m.Value
				}
				return nil
			})
		}
		ids, ok := parseStringList(raw)
		if !ok {
			return badRequest("`doc_ids` filter parameter is not a list of doc ids.")
		}
		opts.DocIDs = ids
		return nil
	case "_selector":
		var raw []byte
		if body != nil {
			_ = rawjson.Members(body, func(m rawjson.Member) error {
				if m.Key == "selector" {
					raw = m.Value
				}
				return nil
			})
		}
		if raw == nil {
			return badRequest("Selector must be specified in POST payload")
		}
		sel, err := mango.Parse(raw)
		if err != nil {
			var ce *couch.Error
			if errors.As(err, &ce) {
				return err
			}
			return badRequest(err.Error())
		}
		opts.NeedDoc = true
		opts.Filter = func(row *fabric.ChangeRow) bool {
			if row.Doc == nil {
				return false
			}
			doc := &couch.Document{ID: row.ID}
			return sel.Match(appendDoc(nil, doc, row.Doc, renderOpts{}, false))
		}
		return nil
	case "_design":
		opts.Filter = func(row *fabric.ChangeRow) bool { return couch.IsDesignID(row.ID) }
		return nil
	case "_view":
		if q.view == "" {
			return badRequest("`view` filter parameter is not provided.")
		}
		ddoc, _, ok := strings.Cut(q.view, "/")
		if !ok {
			return badRequest("`view` must be of the form `designname/viewname`")
		}
		if _, err := a.b.OpenDoc(rq.ctx, db, "_design/"+ddoc, fabric.ReadOptions{}); err != nil {
			return err
		}
		return errNotImpl
	}
	ddoc, _, ok := strings.Cut(q.filter, "/")
	if !ok || ddoc == "" {
		return badRequest("filter parameter must be of the form `designname/filtername`")
	}
	if _, err := a.b.OpenDoc(rq.ctx, db, "_design/"+ddoc, fabric.ReadOptions{}); err != nil {
		return err
	}
	// JavaScript filter functions need a query server.
	return couch.Errorf(couch.CodeNotImplemented, "JavaScript filter functions are not supported")
}

// parseStringList parses a JSON array of strings.
func parseStringList(raw []byte) ([]string, bool) {
	if raw == nil || !rawjson.Valid(raw) || firstByte(raw) != '[' {
		return nil, false
	}
	ids := []string{}
	err := rawjson.Elements(raw, func(v []byte) error {
		s, ok := rawjson.String(v)
		if !ok {
			return errStopScan
		}
		ids = append(ids, s)
		return nil
	})
	return ids, err == nil
}

// changesFeed is one running `_changes` response.
type changesFeed struct {
	a    *API
	rq   *request
	db   string
	q    changesQuery
	opts fabric.ChangesOptions

	started bool // headers and preamble sent
	rows    int  // rows sent
	prepend bool // a row was sent in the normal framing
	rc      *http.ResponseController
	buf     []byte
}

func (f *changesFeed) run() error {
	rq := f.rq
	f.rc = http.NewResponseController(rq.w)
	switch f.q.feed {
	case "normal":
		f.start()
		res, err := f.pass()
		if err != nil {
			return err
		}
		return f.finish(res)
	}
	ctx, cancel := context.WithCancel(rq.ctx)
	defer cancel()
	if f.q.feed != "longpoll" {
		f.start()
		if err := f.flush(); err != nil {
			return nil
		}
	}
	timeout := changesTimeout
	if f.q.timeout > 0 && f.q.timeout < timeout {
		timeout = f.q.timeout
	}
	wait := timeout
	if f.q.heartbeat > 0 {
		wait = f.q.heartbeat
	}
	var last fabric.ChangesResult
	deadline := time.Now().Add(timeout)
	for {
		wctx, wcancel := context.WithCancel(ctx)
		changed, err := f.a.b.WaitForChange(wctx, f.db)
		if err != nil {
			wcancel()
			return f.abortOr(err)
		}
		before := f.rows
		res, err := f.pass()
		if err != nil {
			wcancel()
			return f.abortOr(err)
		}
		last = res
		f.opts.Since = res.LastSeq
		if f.opts.Limit >= 0 {
			f.opts.Limit -= f.rows - before
		}
		if f.q.feed == "longpoll" && f.rows > 0 || f.opts.Limit == 0 || f.opts.Descending {
			wcancel()
			return f.finish(last)
		}
		if !f.started {
			// waiting_for_updates: CouchDB starts the response with a
			// newline before it waits.
			f.start()
			if err := rq.writeChunk([]byte("\n")); err != nil {
				wcancel()
				return nil
			}
		}
		if err := f.flush(); err != nil {
			wcancel()
			return nil // client gone
		}
		t := time.NewTimer(wait)
		if f.q.heartbeat == 0 {
			t.Reset(time.Until(deadline))
		}
		select {
		case <-changed:
			t.Stop()
			wcancel()
			deadline = time.Now().Add(timeout)
			continue
		case <-rq.ctx.Done():
			t.Stop()
			wcancel()
			return nil
		case <-t.C:
			wcancel()
		}
		if f.q.heartbeat == 0 {
			return f.finish(last)
		}
		// Heartbeat: a bare newline keeps the connection alive.
		f.start()
		hb := []byte("\n")
		if f.q.feed == "eventsource" {
			hb = []byte("event: heartbeat\ndata: \n\n")
		}
		if err := rq.writeChunk(hb); err != nil {
			return nil
		}
		if err := f.flush(); err != nil {
			return nil
		}
	}
}

// abortOr returns err when nothing was sent yet; afterwards the response
// is cut off (rq.fail aborts it).
func (f *changesFeed) abortOr(err error) error {
	if f.rq.ctx.Err() != nil {
		return nil
	}
	return err
}

func (f *changesFeed) flush() error {
	if f.rq.head {
		return nil
	}
	return f.rc.Flush()
}

// start sends the headers and the feed's preamble once.
func (f *changesFeed) start() {
	if f.started {
		return
	}
	f.started = true
	rq := f.rq
	if f.q.feed == "eventsource" {
		h := rq.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		rq.writeHeader(http.StatusOK)
		return
	}
	rq.startStream(http.StatusOK)
	if f.q.feed == "normal" || f.q.feed == "longpoll" {
		_ = rq.writeChunk([]byte("{\"results\":[\n"))
	}
}

// pass reads the feed once, sending every row.
func (f *changesFeed) pass() (fabric.ChangesResult, error) {
	return f.a.b.Changes(f.rq.ctx, f.db, f.opts, f.sendRow)
}

func (f *changesFeed) sendRow(row fabric.ChangeRow) error {
	f.start()
	b := f.buf[:0]
	switch f.q.feed {
	case "normal", "longpoll":
		if f.prepend {
			b = append(b, ",\r\n"...)
		}
		f.prepend = true
	case "eventsource":
		b = append(b, "data: "...)
	}
	f.rows++
	withSeq := f.q.seqInterval <= 1 || (f.rows-1)%f.q.seqInterval == 0
	var err error
	b, err = f.appendRow(b, &row, withSeq)
	if err != nil {
		return err
	}
	switch f.q.feed {
	case "continuous":
		b = append(b, '\n')
	case "eventsource":
		b = append(b, "\nid: "...)
		b = appendSeq(b, row.Seq)
		b = append(b, "\n\n"...)
	}
	f.buf = b
	if err := f.rq.writeChunk(b); err != nil {
		return err
	}
	return nil
}

// appendRow renders a change row as couch_changes:changes_row does.
func (f *changesFeed) appendRow(b []byte, row *fabric.ChangeRow, withSeq bool) ([]byte, error) {
	b = append(b, `{"seq":`...)
	if withSeq {
		b = appendSeq(b, row.Seq)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"id":`...)
	b = rawjson.AppendString(b, row.ID)
	b = append(b, `,"changes":[`...)
	for i, r := range row.Changes {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"rev":`...)
		b = appendQuotedRev(b, r)
		b = append(b, '}')
	}
	b = append(b, ']')
	if row.Deleted {
		b = append(b, `,"deleted":true`...)
	}
	if f.q.includeDocs {
		b = append(b, `,"doc":`...)
		if row.Doc == nil {
			b = append(b, "null"...)
		} else {
			doc := &couch.Document{ID: row.ID}
			o := renderOpts{attEncodingInfo: f.q.attEncodingInfo}
			if f.q.conflicts {
				o.extraConflicts = row.Conflicts
			}
			if f.q.attachments && len(row.Doc.Atts) > 0 {
				data, err := f.a.loadAttachments(f.rq.ctx, f.db, row.ID, row.Doc, 0, nil)
				if err != nil {
					return b, err
				}
				o.attData = data
			}
			b = appendDoc(b, doc, row.Doc, o, false)
		}
	}
	return append(b, '}'), nil
}

// finish ends the response: the normal/longpoll closing members, or the
// continuous feed's last line.
func (f *changesFeed) finish(res fabric.ChangesResult) error {
	f.start()
	b := f.buf[:0]
	switch f.q.feed {
	case "normal", "longpoll":
		b = append(b, "\n],\n\"last_seq\":"...)
		b = appendSeq(b, res.LastSeq)
		b = append(b, `,"pending":`...)
		b = strconv.AppendInt(b, res.Pending, 10)
		b = append(b, "}\n"...)
	case "continuous":
		b = append(b, `{"last_seq":`...)
		b = appendSeq(b, res.LastSeq)
		b = append(b, `,"pending":`...)
		b = strconv.AppendInt(b, res.Pending, 10)
		b = append(b, "}\n"...)
	case "eventsource":
		// CouchDB ends an eventsource feed without a last_seq event.
	}
	f.buf = b
	if len(b) > 0 {
		if err := f.rq.writeChunk(b); err != nil {
			return nil
		}
	}
	return nil
}
