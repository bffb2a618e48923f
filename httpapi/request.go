package httpapi

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/divandb/divan/internal/rawjson"
)

// request is the per-request state handlers work with. Requests are pooled:
// nothing may keep a *request (or its buf) after ServeHTTP returns.
type request struct {
	api *API
	w   http.ResponseWriter
	r   *http.Request
	ctx context.Context

	// method is the effective method: X-HTTP-Method-Override applied to
	// POST, and HEAD answered as GET (head set).
	method string
	head   bool

	parts []string // percent-decoded path segments (chttpd path_parts)
	query []qparam // decoded query, in order
	qdone bool

	user  userCtx
	reqID string

	status int
	wrote  bool

	// dbChecked is set once the database is known to exist.
	dbChecked bool

	heldBody int64 // body bytes admitted (admitBody), released at the end

	buf []byte // response scratch buffer (pooled)
}

// qparam is one query-string parameter.
type qparam struct{ key, val string }

func (rq *request) reset(a *API, w http.ResponseWriter, r *http.Request) {
	rq.api, rq.w, rq.r, rq.ctx = a, w, r, r.Context()
	rq.method = r.Method
	if rq.method == http.MethodPost {
		switch o := r.Header.Get("X-HTTP-Method-Override"); o {
		case "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT", "COPY":
			rq.method = o
		}
	}
	rq.head = rq.method == http.MethodHead
	if rq.head {
		rq.method = http.MethodGet
	}
	rq.reqID = requestID(r.Header.Get("X-Couch-Request-ID"))
	rq.buf = rq.buf[:0]
}

func (rq *request) clear() {
	buf := rq.buf[:0]
	parts := rq.parts[:0]
	query := rq.query[:0]
	*rq = request{buf: buf, parts: parts, query: query}
}

// requestID returns the client's X-Couch-Request-ID when it is at most 36
// characters of [0-9A-Za-z_-], else 10 random hex digits.
func requestID(client string) string {
	if client != "" && len(client) <= 36 {
		ok := true
		for i := 0; i < len(client) && ok; i++ {
			c := client[i]
			ok = c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-'
		}
		if ok {
			return client
		}
	}
	const hexdig = "0123456789abcdef"
	var b [10]byte
	v := rand.Uint64()
	for i := range b {
		b[i] = hexdig[v&0xf]
		v >>= 4
	}
	return string(b[:])
}

// parsePath splits the escaped path into decoded segments.
func (rq *request) parsePath() error {
	parts, err := splitPath(rq.r.URL.EscapedPath(), rq.parts[:0])
	rq.parts = parts
	return err
}

// splitPath cuts an escaped path at "/", drops empty segments and
// percent-decodes each segment ("+" stays a plus), as chttpd builds
// path_parts.
func splitPath(p string, dst []string) ([]string, error) {
	for len(p) > 0 {
		i := strings.IndexByte(p, '/')
		var seg string
		if i < 0 {
			seg, p = p, ""
		} else {
			seg, p = p[:i], p[i+1:]
		}
		if seg == "" {
			continue
		}
		if strings.IndexByte(seg, '%') >= 0 {
			s, err := url.PathUnescape(seg)
			if err != nil {
				return dst, badRequest("invalid_url_encoding")
			}
			seg = s
		}
		dst = append(dst, seg)
	}
	return dst, nil
}

// params returns the query parameters in order. Like mochiweb, "&" and ";"
// both separate parameters and "+" decodes to a space.
func (rq *request) params() []qparam {
	if rq.qdone {
		return rq.query
	}
	rq.qdone = true
	q := rq.r.URL.RawQuery
	for len(q) > 0 {
		i := strings.IndexAny(q, "&;")
		var kv string
		if i < 0 {
			kv, q = q, ""
		} else {
			kv, q = q[:i], q[i+1:]
		}
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		rq.query = append(rq.query, qparam{key: unquoteQuery(k), val: unquoteQuery(v)})
	}
	return rq.query
}

// unquoteQuery decodes a query-string component leniently (mochiweb keeps
// malformed escapes as they are).
func unquoteQuery(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return strings.ReplaceAll(s, "+", " ")
}

// qs returns the first value of the query parameter key (chttpd:qs_value).
func (rq *request) qs(key string) (string, bool) {
	for _, p := range rq.params() {
		if p.key == key {
			return p.val, true
		}
	}
	return "", false
}

// qsInt returns the integer value of key, or def when it is absent or not
// an integer.
func (rq *request) qsInt(key string, def int) int {
	v, ok := rq.qs(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return def
	}
	return n
}

// --- responses ---

// setHeader sets a response header under its canonical key.
func (rq *request) setHeader(k, v string) { rq.w.Header().Set(k, v) }

func (rq *request) writeHeader(status int) {
	if rq.wrote {
		return
	}
	rq.wrote = true
	rq.status = status
	rq.w.WriteHeader(status)
}

var (
	ctypeJSON      = []string{"application/json"}
	mustRevalidate = []string{"must-revalidate"}
)

// jsonHeaders adds CouchDB's default JSON response headers (keeping a
// Cache-Control a handler already set).
func (rq *request) jsonHeaders() http.Header {
	h := rq.w.Header()
	h["Content-Type"] = ctypeJSON
	if _, ok := h["Cache-Control"]; !ok {
		h["Cache-Control"] = mustRevalidate
	}
	return h
}

// sendJSON writes a complete JSON response; body gets CouchDB's trailing
// newline.
func (rq *request) sendJSON(status int, body []byte) {
	body = append(body, '\n')
	h := rq.jsonHeaders()
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	rq.writeHeader(status)
	if !rq.head {
		_, _ = rq.w.Write(body)
	}
	rq.buf = body[:0]
}

// sendOK writes {"ok":true}.
func (rq *request) sendOK(status int) {
	rq.sendJSON(status, append(rq.buf[:0], `{"ok":true}`...))
}

// sendEmpty writes a body-less response (304s, redirects).
func (rq *request) sendEmpty(status int) {
	if status != http.StatusNotModified {
		rq.w.Header()["Content-Length"] = []string{"0"}
	}
	rq.writeHeader(status)
}

// startStream starts a chunked JSON response.
func (rq *request) startStream(status int) {
	rq.jsonHeaders()
	rq.writeHeader(status)
}

// writeChunk writes streamed response bytes (nothing for HEAD).
func (rq *request) writeChunk(p []byte) error {
	if rq.head {
		return nil
	}
	_, err := rq.w.Write(p)
	return err
}

// fail renders err as CouchDB's error response, or aborts the connection if
// the response has already started (chttpd:send_delayed_error).
func (rq *request) fail(err error) {
	if rq.wrote {
		// Too late for a status: abort so the client sees a broken
		// response rather than a truncated one that parses.
		rq.api.log.DebugContext(rq.ctx, "response aborted", "req_id", rq.reqID, "err", err)
		panic(http.ErrAbortHandler)
	}
	status, name, reason, known := errorInfo(err)
	if !known {
		rq.api.log.ErrorContext(rq.ctx, "request failed", "req_id", rq.reqID, "err", err)
	}
	h := rq.w.Header()
	if status == http.StatusRequestEntityTooLarge {
		h["Connection"] = connectionClose // the rest of the body is not read
	}
	delete(h, "ETag")
	delete(h, "Location")
	if status == http.StatusUnauthorized {
		if rq.unauthorizedRedirect(name, reason) {
			return
		}
	}
	if status == http.StatusMethodNotAllowed {
		var ma *methodNotAllowed
		if asMethodNotAllowed(err, &ma) {
			h.Set("Allow", ma.allow)
		}
	}
	b := rq.buf[:0]
	b = append(b, `{"error":`...)
	b = rawjson.AppendString(b, name)
	b = append(b, `,"reason":`...)
	b = rawjson.AppendString(b, reason)
	b = append(b, '}')
	rq.sendJSON(status, b)
}
