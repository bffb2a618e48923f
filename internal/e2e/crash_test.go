package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/divandb/divan/internal/testnode"
)

var soakFlag = flag.Duration("soak", 0, "run TestCrashRecovery's kill -9/restart cycles for this long (also DIVAN_SOAK=1 or DIVAN_SOAK=<duration>)")

// soakDuration is how long the crash test keeps cycling; 0 means the short
// default of a few cycles.
func soakDuration() time.Duration {
	if *soakFlag > 0 {
		return *soakFlag
	}
	v := os.Getenv("DIVAN_SOAK")
	switch v {
	case "", "0", "false":
		return 0
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d
	}
	return 5 * time.Minute
}

const (
	crashWorkers     = 16
	crashShortCycles = 3
	crashMaxDocs     = 1500 // per worker; beyond it workers only edit
)

var crashDBs = []struct{ name, query string }{
	{"crash", ""},
	{"crash-q8", "?q=8"},
}

// crashDoc is the test's model of one document.
type crashDoc struct {
	db, id string
	// rev is the last acknowledged (or, after a restart, verified) rev;
	// empty when no write of the doc was ever acknowledged.
	rev     string
	deleted bool
	// uncertain: a write was sent without an acknowledgement, so the doc may
	// be at rev or at a descendant of it. Workers leave such docs alone.
	uncertain bool
}

// crashLocal models a worker's _local checkpoint doc, rev "0-N".
type crashLocal struct {
	db, id    string
	n         int // last acknowledged N; 0 if none
	uncertain bool
}

type crashWorker struct {
	idx    int
	docs   []*crashDoc
	locals []*crashLocal
	next   int // id counter
	rng    *rand.Rand
	stats  map[string]int
	fails  []string
}

type crashRun struct {
	c      *testnode.Client
	killed atomic.Bool
}

// TestCrashRecovery runs a concurrent write load (single-doc PUT/POST/DELETE,
// _bulk_docs batches, _local docs), kills the node with SIGKILL at a random
// moment, restarts it on the same data directory and checks that every
// acknowledged write survived: an acknowledged rev must be the doc's current
// winner, or — when a later write was in flight at the kill — lie on the
// winner's revision path.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	soak := soakDuration()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("DIVAN_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("DIVAN_CRASH_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (set DIVAN_CRASH_SEED to repeat), soak %v", seed, soak)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))

	n := startNode(t)
	c := n.Client()
	run := &crashRun{c: c}
	for _, db := range crashDBs {
		createDBQuery(t, c, db.name, db.query)
	}
	ackedDBs := []string{}
	workers := make([]*crashWorker, crashWorkers)
	for i := range workers {
		workers[i] = &crashWorker{idx: i, rng: rand.New(rand.NewPCG(seed, uint64(i+1))), stats: map[string]int{}}
		for _, db := range crashDBs {
			workers[i].locals = append(workers[i].locals, &crashLocal{db: db.name, id: fmt.Sprintf("_local/w%02d-ckpt", i)})
		}
	}

	start := time.Now()
	for cycle := 1; ; cycle++ {
		// One acknowledged database creation per cycle.
		name := fmt.Sprintf("crash-cycle-%04d", cycle)
		createDB(t, c, name)
		ackedDBs = append(ackedDBs, name)

		run.killed.Store(false)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.loop(ctx, run)
			}()
		}
		loadFor := time.Second + time.Duration(rng.Int64N(int64(2*time.Second)))
		if soak > 0 {
			loadFor = time.Second + time.Duration(rng.Int64N(int64(5*time.Second)))
		}
		timer := time.NewTimer(loadFor)
		<-timer.C
		run.killed.Store(true)
		n.Kill()
		cancel()
		wg.Wait()

		var ops int
		for _, w := range workers {
			for _, f := range w.fails {
				t.Errorf("cycle %d: %s", cycle, f)
			}
			w.fails = nil
			for _, v := range w.stats {
				ops += v
			}
		}
		t.Logf("cycle %d: killed after %v; %d acknowledged operations so far", cycle, loadFor.Round(time.Millisecond), ops)
		if t.Failed() {
			return
		}

		n.Restart()
		verifyCrash(t, c, workers, ackedDBs, cycle)
		if t.Failed() {
			return
		}
		if soak == 0 && cycle >= crashShortCycles || soak > 0 && time.Since(start) >= soak {
			t.Logf("%d kill/restart cycles in %v; operations: %v", cycle, time.Since(start).Round(time.Second), totals(workers))
			return
		}
	}
}

func totals(workers []*crashWorker) map[string]int {
	out := map[string]int{}
	for _, w := range workers {
		for k, v := range w.stats {
			out[k] += v
		}
	}
	return out
}

// loop issues random writes until the context ends or a request fails.
func (w *crashWorker) loop(ctx context.Context, run *crashRun) {
	for ctx.Err() == nil {
		var ok bool
		switch r := w.rng.IntN(100); {
		case r < 30:
			ok = w.create(ctx, run)
		case r < 55:
			ok = w.update(ctx, run)
		case r < 73:
			ok = w.bulk(ctx, run)
		case r < 79:
			ok = w.remove(ctx, run)
		case r < 84:
			ok = w.post(ctx, run)
		case r < 90:
			ok = w.recreate(ctx, run)
		default:
			ok = w.local(ctx, run)
		}
		if !ok {
			return
		}
	}
}

func (w *crashWorker) newID() string {
	w.next++
	return fmt.Sprintf("w%02d-%06d", w.idx, w.next)
}

func (w *crashWorker) body(extra map[string]any) map[string]any {
	b := map[string]any{"w": w.idx, "n": w.next, "pad": strings.Repeat("p", w.rng.IntN(2048))}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

// pick returns a random doc that is certain and matches live (or nil).
func (w *crashWorker) pick(deleted bool, db string) *crashDoc {
	if len(w.docs) == 0 {
		return nil
	}
	for tries := 0; tries < 8; tries++ {
		d := w.docs[w.rng.IntN(len(w.docs))]
		if !d.uncertain && d.rev != "" && d.deleted == deleted && (db == "" || d.db == db) {
			return d
		}
	}
	return nil
}

// send performs one request. It returns the response, or nil after
// recording a failure (unless the node was killed, which is expected).
func (w *crashWorker) send(ctx context.Context, run *crashRun, method, path string, body any) *testnode.Response {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := run.c.Request(rctx, method, path, body)
	if err != nil {
		if !run.killed.Load() {
			w.fails = append(w.fails, fmt.Sprintf("worker %d: %s %s failed before the kill: %v", w.idx, method, path, err))
		}
		return nil
	}
	return resp
}

func (w *crashWorker) unexpected(method, path string, resp *testnode.Response) {
	w.fails = append(w.fails, fmt.Sprintf("worker %d: %s %s: unexpected %s", w.idx, method, path, resp))
}

func parseRev(resp *testnode.Response) (string, bool) {
	var m struct {
		OK  bool   `json:"ok"`
		ID  string `json:"id"`
		Rev string `json:"rev"`
	}
	if json.Unmarshal(resp.Body, &m) != nil || !m.OK || m.Rev == "" {
		return "", false
	}
	return m.Rev, true
}

func (w *crashWorker) create(ctx context.Context, run *crashRun) bool {
	if len(w.docs) >= crashMaxDocs {
		return w.update(ctx, run)
	}
	d := &crashDoc{db: crashDBs[w.rng.IntN(len(crashDBs))].name, id: w.newID(), uncertain: true}
	w.docs = append(w.docs, d)
	path := docPath(d.db, d.id)
	resp := w.send(ctx, run, http.MethodPut, path, w.body(nil))
	return w.ackDoc(d, http.MethodPut, path, resp, false, "put")
}

func (w *crashWorker) update(ctx context.Context, run *crashRun) bool {
	d := w.pick(false, "")
	if d == nil {
		return w.local(ctx, run)
	}
	d.uncertain = true
	path := docPath(d.db, d.id)
	resp := w.send(ctx, run, http.MethodPut, path, w.body(map[string]any{"_rev": d.rev}))
	return w.ackDoc(d, http.MethodPut, path, resp, false, "update")
}

func (w *crashWorker) remove(ctx context.Context, run *crashRun) bool {
	d := w.pick(false, "")
	if d == nil {
		return w.local(ctx, run)
	}
	d.uncertain = true
	path := docPath(d.db, d.id) + "?rev=" + url.QueryEscape(d.rev)
	resp := w.send(ctx, run, http.MethodDelete, path, nil)
	return w.ackDoc(d, http.MethodDelete, path, resp, true, "delete")
}

func (w *crashWorker) recreate(ctx context.Context, run *crashRun) bool {
	d := w.pick(true, "")
	if d == nil {
		return w.create(ctx, run)
	}
	d.uncertain = true
	path := docPath(d.db, d.id)
	resp := w.send(ctx, run, http.MethodPut, path, w.body(map[string]any{"recreated": true}))
	return w.ackDoc(d, http.MethodPut, path, resp, false, "recreate")
}

// ackDoc records the outcome of a single-doc write of d.
func (w *crashWorker) ackDoc(d *crashDoc, method, path string, resp *testnode.Response, deleted bool, stat string) bool {
	if resp == nil {
		return false
	}
	okStatus := resp.Status == http.StatusCreated || resp.Status == http.StatusAccepted
	if method == http.MethodDelete {
		okStatus = resp.Status == http.StatusOK || resp.Status == http.StatusAccepted
	}
	rev, ok := parseRev(resp)
	if !okStatus || !ok {
		w.unexpected(method, path, resp)
		return false
	}
	d.rev, d.deleted, d.uncertain = rev, deleted, false
	w.stats[stat]++
	return true
}

func (w *crashWorker) post(ctx context.Context, run *crashRun) bool {
	if len(w.docs) >= crashMaxDocs {
		return w.update(ctx, run)
	}
	db := crashDBs[w.rng.IntN(len(crashDBs))].name
	w.next++
	resp := w.send(ctx, run, http.MethodPost, dbPath(db), w.body(nil))
	if resp == nil {
		return false // the generated id is unknown: nothing to check
	}
	var m struct {
		OK  bool   `json:"ok"`
		ID  string `json:"id"`
		Rev string `json:"rev"`
	}
	if (resp.Status != http.StatusCreated && resp.Status != http.StatusAccepted) || json.Unmarshal(resp.Body, &m) != nil || !m.OK || m.ID == "" || m.Rev == "" {
		w.unexpected(http.MethodPost, dbPath(db), resp)
		return false
	}
	w.docs = append(w.docs, &crashDoc{db: db, id: m.ID, rev: m.Rev})
	w.stats["post"]++
	return true
}

func (w *crashWorker) bulk(ctx context.Context, run *crashRun) bool {
	db := crashDBs[w.rng.IntN(len(crashDBs))].name
	size := 2 + w.rng.IntN(9)
	var batch []*crashDoc
	var docs []map[string]any
	seen := map[*crashDoc]bool{}
	for tries := 0; len(batch) < size && tries < 4*size; tries++ {
		var d *crashDoc
		if len(w.docs) < crashMaxDocs && w.rng.IntN(2) == 0 {
			d = &crashDoc{db: db, id: w.newID()}
			w.docs = append(w.docs, d)
		} else if d = w.pick(w.rng.IntN(5) == 0, db); d == nil || seen[d] {
			continue
		}
		seen[d] = true
		body := w.body(map[string]any{"_id": d.id})
		if d.rev != "" {
			body["_rev"] = d.rev
			if !d.deleted && w.rng.IntN(8) == 0 {
				body["_deleted"] = true
			}
		}
		d.uncertain = true
		batch = append(batch, d)
		docs = append(docs, body)
	}
	if len(batch) == 0 {
		return w.local(ctx, run)
	}
	path := dbPath(db) + "/_bulk_docs"
	resp := w.send(ctx, run, http.MethodPost, path, map[string]any{"docs": docs})
	if resp == nil {
		return false
	}
	var res []struct {
		OK    bool   `json:"ok"`
		ID    string `json:"id"`
		Rev   string `json:"rev"`
		Error string `json:"error"`
	}
	if (resp.Status != http.StatusCreated && resp.Status != http.StatusAccepted) || json.Unmarshal(resp.Body, &res) != nil || len(res) != len(batch) {
		w.unexpected(http.MethodPost, path, resp)
		return false
	}
	for i, r := range res {
		d := batch[i]
		if !r.OK || r.ID != d.id || r.Rev == "" {
			w.fails = append(w.fails, fmt.Sprintf("worker %d: %s: result %d is %+v for doc %s", w.idx, path, i, r, d.id))
			continue
		}
		d.rev, d.deleted, d.uncertain = r.Rev, docs[i]["_deleted"] == true, false
	}
	w.stats["bulk"]++
	return len(w.fails) == 0
}

func (w *crashWorker) local(ctx context.Context, run *crashRun) bool {
	l := w.locals[w.rng.IntN(len(w.locals))]
	if l.uncertain {
		return true
	}
	body := map[string]any{"n": l.n + 1}
	if l.n > 0 {
		body["_rev"] = fmt.Sprintf("0-%d", l.n)
	}
	l.uncertain = true
	path := docPath(l.db, l.id)
	resp := w.send(ctx, run, http.MethodPut, path, body)
	if resp == nil {
		return false
	}
	rev, ok := parseRev(resp)
	if resp.Status != http.StatusCreated && resp.Status != http.StatusAccepted || !ok || rev != fmt.Sprintf("0-%d", l.n+1) {
		w.unexpected(http.MethodPut, path, resp)
		return false
	}
	l.n, l.uncertain = l.n+1, false
	w.stats["local"]++
	return true
}

// verifyCrash checks the restarted node against the model and resets the
// model to what the node holds.
func verifyCrash(t *testing.T, c *testnode.Client, workers []*crashWorker, dbs []string, cycle int) {
	t.Helper()
	for _, db := range dbs {
		if status, _, body := c.Do(t, http.MethodGet, dbPath(db), nil); status != http.StatusOK {
			t.Errorf("cycle %d: acknowledged database %s: GET status %d: %s", cycle, db, status, body)
		}
	}

	byDB := map[string][]*crashDoc{}
	for _, w := range workers {
		for _, d := range w.docs {
			byDB[d.db] = append(byDB[d.db], d)
		}
	}
	checked, inflight := 0, 0
	for db, docs := range byDB {
		for start := 0; start < len(docs); start += 500 {
			chunk := docs[start:min(start+500, len(docs))]
			keys := make([]string, len(chunk))
			for i, d := range chunk {
				keys[i] = d.id
			}
			var res struct {
				Rows []struct {
					ID    string `json:"id"`
					Key   string `json:"key"`
					Error string `json:"error"`
					Value struct {
						Rev     string `json:"rev"`
						Deleted bool   `json:"deleted"`
					} `json:"value"`
				} `json:"rows"`
			}
			c.ExpectJSON(t, http.StatusOK, http.MethodPost, dbPath(db)+"/_all_docs", map[string]any{"keys": keys}, &res)
			if len(res.Rows) != len(chunk) {
				t.Fatalf("cycle %d: POST /%s/_all_docs with %d keys returned %d rows", cycle, db, len(chunk), len(res.Rows))
			}
			for i, row := range res.Rows {
				d := chunk[i]
				checked++
				if row.Key != d.id {
					t.Fatalf("cycle %d: _all_docs row %d is for %q, want %q", cycle, i, row.Key, d.id)
				}
				found := row.Error == "" && row.Value.Rev != ""
				switch {
				case !d.uncertain && d.rev != "":
					// The last write was acknowledged and nothing followed it.
					if !found {
						t.Errorf("cycle %d: LOST %s/%s: acknowledged at %s (deleted=%v), now %s", cycle, db, d.id, d.rev, d.deleted, row.Error)
					} else if row.Value.Rev != d.rev || row.Value.Deleted != d.deleted {
						t.Errorf("cycle %d: %s/%s: acknowledged %s (deleted=%v), now %s (deleted=%v)", cycle, db, d.id, d.rev, d.deleted, row.Value.Rev, row.Value.Deleted)
					}
				case d.rev != "":
					inflight++
					// A later write was in flight: the acknowledged rev must be
					// the winner or one of its ancestors.
					if !found {
						t.Errorf("cycle %d: LOST %s/%s: acknowledged at %s, now %s", cycle, db, d.id, d.rev, row.Error)
					} else if row.Value.Rev != d.rev {
						checkOnPath(t, c, db, d, cycle)
					}
				default:
					inflight++ // creation never acknowledged: anything goes
				}
				// The node's state is the model for the next cycle.
				if found {
					d.rev, d.deleted = row.Value.Rev, row.Value.Deleted
				} else {
					d.rev, d.deleted = "", false
				}
				d.uncertain = false
			}
		}
	}
	for _, w := range workers {
		for _, l := range w.locals {
			status, _, body := c.Do(t, http.MethodGet, docPath(l.db, l.id), nil)
			if status == http.StatusNotFound && l.n == 0 {
				l.uncertain = false
				continue
			}
			if status != http.StatusOK {
				t.Errorf("cycle %d: %s/%s acknowledged at 0-%d: GET status %d: %s", cycle, l.db, l.id, l.n, status, body)
				continue
			}
			var doc struct {
				Rev string `json:"_rev"`
				N   int    `json:"n"`
			}
			_ = json.Unmarshal(body, &doc)
			got, err := strconv.Atoi(strings.TrimPrefix(doc.Rev, "0-"))
			switch {
			case err != nil || !strings.HasPrefix(doc.Rev, "0-"):
				t.Errorf("cycle %d: %s/%s: rev %q, want 0-N", cycle, l.db, l.id, doc.Rev)
			case got < l.n || !l.uncertain && got != l.n:
				t.Errorf("cycle %d: %s/%s: acknowledged 0-%d, now %s", cycle, l.db, l.id, l.n, doc.Rev)
			case doc.N != got:
				t.Errorf("cycle %d: %s/%s at %s holds n=%d, want %d", cycle, l.db, l.id, doc.Rev, doc.N, got)
			}
			l.n, l.uncertain = got, false
		}
	}
	t.Logf("cycle %d: verified %d docs (%d had a write in flight at the kill)", cycle, checked, inflight)
}

// checkOnPath verifies that d.rev is on the revision path of the doc's only
// leaf.
func checkOnPath(t *testing.T, c *testnode.Client, db string, d *crashDoc, cycle int) {
	t.Helper()
	path := docPath(db, d.id) + "?open_revs=all&revs=true"
	_, body := c.Expect(t, http.StatusOK, http.MethodGet, path, nil, "Accept", "application/json")
	var leaves []struct {
		OK map[string]any `json:"ok"`
	}
	if err := testnode.DecodeJSON(body, &leaves); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	if len(leaves) != 1 || leaves[0].OK == nil {
		t.Errorf("cycle %d: %s/%s: %d leaves (%s), want exactly one (a single writer cannot create conflicts)", cycle, db, d.id, len(leaves), body)
		return
	}
	revs, _ := leaves[0].OK["_revisions"].(map[string]any)
	ok, err := revisionsContain(revs, d.rev)
	if err != nil || !ok {
		t.Errorf("cycle %d: %s/%s: acknowledged rev %s is not on the path of the current leaf %v (_revisions %v, err %v)", cycle, db, d.id, d.rev, leaves[0].OK["_rev"], revs, err)
	}
}
