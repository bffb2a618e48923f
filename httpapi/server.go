package httpapi

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// API is the CouchDB HTTP API over a Backend. It implements http.Handler and
// is safe for concurrent use.
type API struct {
	// cfg is swapped whole by Reconfigure; handlers read it once per use
	// through conf.
	cfg   atomic.Pointer[Config]
	b     Backend
	log   *slog.Logger
	uuids *uuidGen

	draining atomic.Bool
	batches  sync.WaitGroup // ?batch=ok writes still running
	pending  atomic.Int64   // their number

	// Header values shared by every response (never mutated).
	serverHeader []string

	pool sync.Pool // *request

	secs  secCache   // parsed _security objects (security.go)
	users *userStore // _users credentials and their watcher (users.go)

	// bodyBudget admits large request bodies (admitBody); nil: unbounded.
	bodyBudget     *semaphore.Weighted
	bodyBudgetSize int64
}

var _ http.Handler = (*API)(nil)

// conf returns the configuration in force.
func (a *API) conf() *Config { return a.cfg.Load() }

// New validates cfg (after filling its zero fields with defaults) and returns
// an API serving b. It starts nothing.
func New(cfg Config, b Backend) (*API, error) {
	if b == nil {
		return nil, errors.New("httpapi: nil backend")
	}
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ServerUUID == "" {
		var u [16]byte
		if _, err := rand.Read(u[:]); err != nil {
			return nil, fmt.Errorf("httpapi: server uuid: %w", err)
		}
		cfg.ServerUUID = hex.EncodeToString(u[:])
	}
	cfg.Features = append([]string(nil), cfg.Features...)
	a := &API{
		b:            b,
		log:          cfg.Logger,
		uuids:        newUUIDGen(cfg.UUIDAlgorithm, cfg.UTCIDSuffix),
		serverHeader: []string{"CouchDB/" + cfg.Version + " (Divan/" + cfg.DivanVersion + ")"},
		users:        newUserStore(),
	}
	a.cfg.Store(&cfg)
	if cfg.MaxInflightBodyBytes >= 0 {
		a.bodyBudgetSize = cmp.Or(cfg.MaxInflightBodyBytes, DefaultMaxInflightBodyBytes)
		a.bodyBudget = semaphore.NewWeighted(a.bodyBudgetSize)
	}
	a.pool.New = func() any { return &request{buf: make([]byte, 0, 4096)} }
	return a, nil
}

// Reconfigure validates c (after filling its zero fields with defaults) and
// puts it in force for the requests that start from now on; requests
// already running finish with the configuration they started with. The
// server uuid cannot change (GET / keeps answering the same one), and the
// uuid generator starts afresh when [uuids] algorithm changed, as CouchDB's
// couch_uuids does on a config change.
func (a *API) Reconfigure(c Config) error {
	c = c.withDefaults()
	old := a.conf()
	c.ServerUUID = old.ServerUUID
	c.Logger = old.Logger
	if err := c.Validate(); err != nil {
		return err
	}
	c.Features = append([]string(nil), c.Features...)
	a.uuids.reconfigure(c.UUIDAlgorithm, c.UTCIDSuffix)
	a.cfg.Store(&c)
	return nil
}

// reconfigure switches the generator to algo and suffix; a new algorithm
// starts from a fresh state (a new sequential prefix).
func (g *uuidGen) reconfigure(algo, suffix string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.algo != algo {
		g.algo = algo
		g.primed = false
		g.seq = 0
		g.clock = 0
	}
	g.suffix = suffix
}

// Drain makes every new request fail with 503 "service unavailable" while
// requests already running finish. Call it before http.Server.Shutdown.
func (a *API) Drain() { a.draining.Store(true) }

// Shutdown drains the API and waits, until ctx ends, for ?batch=ok writes
// accepted earlier to finish. Call it after http.Server.Shutdown and before
// closing the backend's storage.
func (a *API) Shutdown(ctx context.Context) error {
	a.Drain()
	a.users.close()
	if a.pending.Load() == 0 {
		return nil
	}
	done := make(chan struct{})
	go func() {
		a.batches.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("httpapi: waiting for batch writes: %w", ctx.Err())
	}
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w = a.withCORS(w, r)
	rq := a.pool.Get().(*request)
	rq.reset(a, w, r)
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler { //nolint:errorlint // sentinel identity is the contract
				a.logRequest(rq, start)
				a.putRequest(rq)
				panic(p)
			}
			a.log.ErrorContext(r.Context(), "handler panic",
				"req_id", rq.reqID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if rq.wrote {
				// The response is partly sent: break the connection.
				a.logRequest(rq, start)
				a.putRequest(rq)
				panic(http.ErrAbortHandler)
			}
			rq.fail(fmt.Errorf("%v", p))
		}
		a.logRequest(rq, start)
		a.putRequest(rq)
	}()

	h := w.Header()
	h["Server"] = a.serverHeader
	h["X-Couch-Request-ID"] = []string{rq.reqID}
	h["X-CouchDB-Body-Time"] = bodyTimeZero

	if a.draining.Load() {
		h["Connection"] = connectionClose
		rq.fail(errDrainRefused)
		return
	}
	if err := a.serve(rq); err != nil {
		rq.fail(err)
	}
}

var (
	bodyTimeZero    = []string{"0"}
	connectionClose = []string{"close"}
)

func (a *API) putRequest(rq *request) {
	if rq.heldBody > 0 {
		a.bodyBudget.Release(rq.heldBody)
	}
	if cap(rq.buf) > 1<<20 {
		rq.buf = make([]byte, 0, 4096) // do not pin huge buffers
	}
	rq.clear()
	a.pool.Put(rq)
}

// logRequest writes the one Info line per request.
func (a *API) logRequest(rq *request, start time.Time) {
	ctx := rq.r.Context()
	if !a.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	status := rq.status
	if status == 0 {
		status = http.StatusOK
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, "request",
		slog.String("method", rq.r.Method),
		slog.String("path", rq.r.URL.RequestURI()),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
		slog.String("req_id", rq.reqID),
	)
}

// serve authenticates the request and dispatches it.
func (a *API) serve(rq *request) error {
	if len(rq.r.RequestURI) > a.conf().MaxURILength {
		return errURITooLong
	}
	if err := rq.parsePath(); err != nil {
		return err
	}
	// chttpd answers CORS preflights before authenticating.
	if a.preflight(rq) {
		return nil
	}
	if err := a.authenticate(rq); err != nil {
		return err
	}
	return a.route(rq)
}

// checkDB returns couch.ErrNoDB (or another backend error) when db cannot be
// opened. It is used where CouchDB would have opened the database before
// answering, but Divan did not need to.
func (a *API) checkDB(ctx context.Context, db string) error {
	_, err := a.b.Security(ctx, db)
	return err
}
