package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Workload names, in the order they run.
const (
	wlPut     = "put"
	wlBulk    = "bulk"
	wlGet     = "get"
	wlAllDocs = "alldocs"
	// Changes and replication endpoints (replication.go).
	wlChanges    = "changes"
	wlContinuous = "continuous"
	wlBulkGet    = "bulkget"
	wlRevsDiff   = "revsdiff"
)

func workloadOrder() []string {
	return []string{wlPut, wlBulk, wlGet, wlAllDocs, wlChanges, wlContinuous, wlBulkGet, wlRevsDiff}
}

// workloadUnit is what a workload's rate counts.
func workloadUnit(name string) string {
	switch name {
	case wlAllDocs, wlChanges, wlContinuous:
		return "rows/s"
	case wlRevsDiff:
		return "revs/s"
	}
	return "docs/s"
}

// benchConfig is what the workloads need from the command line.
type benchConfig struct {
	duration     time.Duration
	docs         int // data set for get and alldocs
	bulkBatch    int
	docSize      int
	allDocsLimit int
	loadConc     int
	keep         bool

	changesDocs     int // changes in the database the changes workload reads
	changesLimit    int // rows per _changes page; 0: the whole feed at once
	contWrites      int // writes the continuous workload times
	contGap         time.Duration
	contHeartbeat   time.Duration
	contWait        time.Duration // longest wait for one write's row
	bulkGetBatch    int
	revsDiffBatch   int
	revsDiffMissing float64 // fraction of the revs sent that are missing

	// Cluster mode: createQuery ("?n=3&q=2") is added to PUT /{db},
	// writeQuery ("?w=2") to single-doc PUTs and _bulk_docs, and with
	// countStatus the runs tally their responses' HTTP statuses.
	createQuery string
	writeQuery  string
	countStatus bool
}

// bench runs the workloads against one node or a cluster.
type bench struct {
	cl *client // node 1: setup, data loading and the replication workloads
	// route are the nodes the put, bulk, get and alldocs requests go to,
	// round-robin per request (see pickTarget); set between runs, never
	// during one. Nil means cl alone.
	route   []*client
	log     *slog.Logger
	cfg     benchConfig
	prefix  string // database name prefix, unique per run
	text    string // random text the doc payloads are cut from
	payload int    // payload length giving docs of about cfg.docSize bytes
	runs    atomic.Int64
	created []string // databases to delete at the end
	loaded  map[string]bool
	revs    []string // the data set's revisions, by document number
}

func newBench(cl *client, log *slog.Logger, cfg benchConfig) (*bench, error) {
	var tag [4]byte
	if _, err := rand.Read(tag[:]); err != nil {
		return nil, err
	}
	b := &bench{cl: cl, log: log, cfg: cfg, prefix: "divan_bench_" + hex.EncodeToString(tag[:]), loaded: map[string]bool{}}
	// Payloads are slices of 1 MB of random alphanumerics at varying offsets,
	// so documents neither compress to nothing nor repeat each other.
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	rng := mrand.New(mrand.NewPCG(1, 2))
	text := make([]byte, 1<<20)
	for i := range text {
		text[i] = alphabet[rng.IntN(len(alphabet))]
	}
	b.text = string(text)
	b.payload = max(cfg.docSize-len(appendDoc(nil, "c00-w00-000000", 1000000, "")), 0)
	return b, nil
}

func (b *bench) db(name string) string { return b.prefix + "_" + name }

// dataID is the id of the i'th document of the get/alldocs data set; ids
// sort in the order they were written.
func dataID(i int) string { return fmt.Sprintf("d%09d", i) }

// appendDoc appends a JSON document with the given id (none if empty), a
// counter and a payload.
func appendDoc(dst []byte, id string, n int, payload string) []byte {
	dst = append(dst, '{')
	if id != "" {
		dst = append(dst, `"_id":"`...)
		dst = append(dst, id...)
		dst = append(dst, `",`...)
	}
	dst = append(dst, `"type":"bench","n":`...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, `,"payload":"`...)
	dst = append(dst, payload...)
	dst = append(dst, `"}`...)
	return dst
}

// payloadFor returns document n's payload.
func (b *bench) payloadFor(n int) string {
	off := (n * 7919) % (len(b.text) - b.payload)
	return b.text[off : off+b.payload]
}

// appendBulk appends a _bulk_docs body for documents first..first+count-1
// named by id.
func (b *bench) appendBulk(dst []byte, first, count int, id func(int) string) []byte {
	dst = append(dst, `{"docs":[`...)
	for i := range count {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendDoc(dst, id(first+i), first+i, b.payloadFor(first+i))
	}
	return append(dst, "]}"...)
}

// createDB creates a database (with cfg.createQuery) and remembers it
// for cleanup.
func (b *bench) createDB(ctx context.Context, name string) error {
	if err := b.cl.call(ctx, http.MethodPut, "/"+name+b.cfg.createQuery, nil, nil); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	b.created = append(b.created, name)
	return nil
}

// ensureDB creates a database unless this run already has.
func (b *bench) ensureDB(ctx context.Context, name string) error {
	if slices.Contains(b.created, name) {
		return nil
	}
	return b.createDB(ctx, name)
}

// pickTarget returns which of n nodes a worker's req'th request goes to:
// requests rotate over the nodes, each worker starting at its own offset,
// so that c=1 spreads its requests too and at c≥n every node has a share
// of the workers at any moment.
func pickTarget(n, workerID, req int) int {
	if n <= 1 {
		return 0
	}
	return (workerID + req) % n
}

// do sends one load request to the node pickTarget chooses among b.route
// and records the response's status in w.status.
func (b *bench) do(ctx context.Context, w *worker, method, path string, body []byte) (int, error) {
	cl := b.cl
	if len(b.route) > 0 {
		cl = b.route[pickTarget(len(b.route), w.id, w.reqs)]
	}
	w.reqs++
	status, err := cl.do(ctx, method, path, body, &w.resp)
	w.status = status
	return status, err
}

// cleanup deletes the databases this run created, unless -keep.
func (b *bench) cleanup(ctx context.Context) {
	if b.cfg.keep {
		if len(b.created) > 0 {
			b.log.Info("kept databases", "dbs", b.created)
		}
		return
	}
	for _, name := range b.created {
		if err := b.cl.call(ctx, http.MethodDelete, "/"+name, nil, nil); err != nil {
			b.log.Warn("delete database", "db", name, "err", err)
		}
	}
	b.created = nil
}

// worker is one load goroutine's private state.
type worker struct {
	id      int
	seq     int
	started bool
	rng     *mrand.Rand
	req     []byte       // request body scratch
	resp    bytes.Buffer // response body, reused
	// changes: where the next page starts ("" for 0) and the rows read in
	// this pass over the feed so far.
	since    string
	passRows int
	feed     feedCounter
	copyBuf  []byte
	// reqs counts the requests sent through bench.do (it picks the
	// node); status is the last one's HTTP status, 0 if none came back.
	reqs   int
	status int
}

// opFunc performs one request. It returns the items it completed (docs or
// rows), the items that failed and, if any failed, why.
type opFunc func(ctx context.Context, w *worker) (items, failed int, err error)

// outcome turns a response into an opFunc result worth n items.
func outcome(status int, err error, body []byte, n int) (int, int, error) {
	if err != nil {
		return 0, n, err
	}
	if status/100 != 2 {
		return 0, n, fmt.Errorf("HTTP %d: %s", status, snippet(body))
	}
	return n, 0, nil
}

// prepare sets up what a workload needs (databases, data set) before its
// first run.
func (b *bench) prepare(ctx context.Context, name string) error {
	switch name {
	case wlPut, wlBulk:
		return b.ensureDB(ctx, b.db(name))
	case wlGet, wlAllDocs, wlBulkGet, wlRevsDiff:
		return b.ensureLoaded(ctx, "data", b.cfg.docs)
	case wlChanges:
		db, n := b.changesDB()
		return b.ensureLoaded(ctx, db, n)
	case wlContinuous:
		return b.createDB(ctx, b.db(wlContinuous))
	}
	return fmt.Errorf("unknown workload %q", name)
}

// op returns the request loop body of workload name for one run.
func (b *bench) op(name string, conc int) opFunc {
	run := b.runs.Add(1)
	switch name {
	case wlPut:
		path := "/" + b.db(wlPut) + "/"
		return func(ctx context.Context, w *worker) (int, int, error) {
			w.seq++
			id := fmt.Sprintf("r%d-w%d-%d", run, w.id, w.seq)
			w.req = appendDoc(w.req[:0], "", w.seq, b.payloadFor(w.seq+w.id))
			status, err := b.do(ctx, w, http.MethodPut, path+id+b.cfg.writeQuery, w.req)
			return outcome(status, err, w.resp.Bytes(), 1)
		}
	case wlBulk:
		path := "/" + b.db(wlBulk) + "/_bulk_docs" + b.cfg.writeQuery
		id := func(w *worker) func(int) string {
			return func(i int) string { return fmt.Sprintf("r%d-w%d-%d", run, w.id, i) }
		}
		return func(ctx context.Context, w *worker) (int, int, error) {
			first := w.seq * b.cfg.bulkBatch
			w.seq++
			w.req = b.appendBulk(w.req[:0], first, b.cfg.bulkBatch, id(w))
			status, err := b.do(ctx, w, http.MethodPost, path, w.req)
			ok, failed, err := outcome(status, err, w.resp.Bytes(), b.cfg.bulkBatch)
			if err != nil {
				return ok, failed, err
			}
			return bulkResult(w.resp.Bytes(), b.cfg.bulkBatch)
		}
	case wlGet:
		prefix := "/" + b.db("data") + "/"
		return func(ctx context.Context, w *worker) (int, int, error) {
			status, err := b.do(ctx, w, http.MethodGet, prefix+dataID(w.rng.IntN(b.cfg.docs)), nil)
			return outcome(status, err, w.resp.Bytes(), 1)
		}
	case wlAllDocs:
		path := "/" + b.db("data") + "/_all_docs?include_docs=true&limit=" + strconv.Itoa(b.cfg.allDocsLimit) + "&startkey="
		pages := (b.cfg.docs + b.cfg.allDocsLimit - 1) / b.cfg.allDocsLimit
		return func(ctx context.Context, w *worker) (int, int, error) {
			if !w.started { // workers start spread over the key range
				w.started = true
				w.seq = w.id * pages / conc
			}
			page := w.seq % pages
			w.seq++
			first := page * b.cfg.allDocsLimit
			want := min(b.cfg.allDocsLimit, b.cfg.docs-first)
			status, err := b.do(ctx, w, http.MethodGet, path+"%22"+dataID(first)+"%22", nil)
			if _, failed, err := outcome(status, err, w.resp.Bytes(), want); err != nil {
				return 0, failed, err
			}
			rows := countRows(w.resp.Bytes())
			if rows != want {
				return rows, 1, fmt.Errorf("_all_docs page from %s: %d rows, want %d", dataID(first), rows, want)
			}
			return rows, 0, nil
		}
	case wlChanges:
		return b.changesOp()
	case wlBulkGet:
		return b.bulkGetOp()
	case wlRevsDiff:
		return b.revsDiffOp()
	}
	panic("unknown workload " + name)
}

// bulkResult counts the documents a _bulk_docs response rejected: rows
// carrying an "error" member instead of a "rev".
func bulkResult(body []byte, n int) (int, int, error) {
	failed := min(bytes.Count(body, []byte(`"error":`)), n)
	if failed == 0 {
		return n, 0, nil
	}
	i := bytes.Index(body, []byte(`"error":`))
	start := max(bytes.LastIndexByte(body[:i], '{'), 0)
	return n - failed, failed, fmt.Errorf("_bulk_docs rejected %d of %d docs, e.g. %s", failed, n, snippet(body[start:min(len(body), start+300)]))
}

// countRows counts the rows of an _all_docs response: each has one "key"
// member, and the benchmark's documents have none.
func countRows(body []byte) int { return bytes.Count(body, []byte(`"key":`)) }

// ensureLoaded loads data set name (b.db(name)) with docs documents unless
// this run already has.
func (b *bench) ensureLoaded(ctx context.Context, name string, docs int) error {
	if b.loaded[name] {
		return nil
	}
	if err := b.load(ctx, name, docs); err != nil {
		return fmt.Errorf("load data set %s: %w", name, err)
	}
	b.loaded[name] = true
	return nil
}

// load writes a data set of docs documents named dataID(0..docs-1) with
// _bulk_docs, cfg.loadConc batches at a time. For the "data" set it keeps
// the revisions in b.revs.
func (b *bench) load(ctx context.Context, name string, docs int) error {
	db := b.db(name)
	if err := b.createDB(ctx, db); err != nil {
		return err
	}
	var revs []string
	if name == "data" {
		revs = make([]string, docs)
	}
	path := "/" + db + "/_bulk_docs"
	batches := (docs + b.cfg.bulkBatch - 1) / b.cfg.bulkBatch
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, b.cfg.loadConc)
	start := time.Now()
	for i := range b.cfg.loadConc {
		wg.Go(func() {
			var w worker
			for ctx.Err() == nil {
				batch := int(next.Add(1) - 1)
				if batch >= batches {
					return
				}
				first := batch * b.cfg.bulkBatch
				n := min(b.cfg.bulkBatch, docs-first)
				w.req = b.appendBulk(w.req[:0], first, n, dataID)
				status, err := b.cl.do(ctx, http.MethodPost, path, w.req, &w.resp)
				if _, _, err = outcome(status, err, w.resp.Bytes(), n); err == nil {
					_, _, err = bulkResult(w.resp.Bytes(), n)
				}
				if err == nil && revs != nil {
					err = bulkRevs(w.resp.Bytes(), first, revs[first:first+n])
				}
				if err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(append(errs, ctx.Err())...); err != nil {
		return err
	}
	took := time.Since(start)
	b.log.Info("data set loaded", "db", db, "docs", docs, "took", took.Round(time.Millisecond),
		"docs_per_s", int(float64(docs)/took.Seconds()))
	if revs != nil {
		b.revs = revs
	}
	return nil
}

// measure runs op on conc workers until cfg.duration has passed (requests
// in flight at the deadline complete and count) or ctx ends.
func (b *bench) measure(ctx context.Context, name string, conc int, op opFunc) result {
	type tally struct {
		h                       histogram
		requests, items, failed int64
		firstErr                error
		statuses                map[int]int64
	}
	tallies := make([]tally, conc)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(b.cfg.duration)
	for i := range conc {
		wg.Go(func() {
			t := &tallies[i]
			w := &worker{id: i, rng: mrand.New(mrand.NewPCG(uint64(start.UnixNano()), uint64(i)))}
			for ctx.Err() == nil && time.Now().Before(deadline) {
				t0 := time.Now()
				w.status = 0
				items, failed, err := op(ctx, w)
				lat := time.Since(t0)
				if ctx.Err() != nil {
					return // interrupted: the request did not really finish
				}
				t.h.record(lat)
				t.requests++
				t.items += int64(items)
				t.failed += int64(failed)
				if b.cfg.countStatus && w.status > 0 {
					if t.statuses == nil {
						t.statuses = map[int]int64{}
					}
					t.statuses[w.status]++
				}
				if err != nil && t.firstErr == nil {
					t.firstErr = err
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	var h histogram
	r := result{Workload: name, Concurrency: conc, Unit: workloadUnit(name), Seconds: elapsed.Seconds()}
	for i := range tallies {
		t := &tallies[i]
		h.merge(&t.h)
		r.Requests += t.requests
		r.Items += t.items
		r.Errors += t.failed
		if t.firstErr != nil && r.FirstError == "" {
			r.FirstError = t.firstErr.Error()
		}
		r.addStatuses(t.statuses)
	}
	r.Interrupted = ctx.Err() != nil
	r.Rate = float64(r.Items) / elapsed.Seconds()
	r.RequestsPerSec = float64(r.Requests) / elapsed.Seconds()
	r.P50 = ms(h.percentile(50))
	r.P99 = ms(h.percentile(99))
	r.Max = ms(time.Duration(h.max))
	r.Mean = ms(h.mean())
	return r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
