package httpapi

import (
	"net/http"
	"slices"
	"sort"
	"strings"
)

// CORSConfig is CouchDB's CORS configuration ([chttpd] enable_cors and the
// [cors] section), parsed once per configuration (chttpd_cors:get_cors_config).
type CORSConfig struct {
	Enabled     bool     // [chttpd] enable_cors
	Credentials bool     // [cors] credentials = true
	Origins     []string // [cors] origins; "*" accepts every origin
	// Methods and Headers are [cors] methods and headers; nil means
	// CouchDB's defaults. Headers are lower case.
	Methods []string
	Headers []string
	// ExposedHeaders is [cors] exposed_headers (lower case); nil means
	// CouchDB's own response headers.
	ExposedHeaders []string
	// MaxAge is [cors] max_age, sent as is ("600" when empty).
	MaxAge string
}

// CouchDB's CORS defaults (chttpd_cors.hrl).
var (
	corsSupportedHeaders = []string{
		"accept", "accept-language", "authorization", "content-length",
		"content-range", "content-type", "destination", "expires", "if-match",
		"last-modified", "origin", "pragma", "x-couch-full-commit", "x-couch-id",
		"x-couch-persist", "x-couchdb-www-authenticate", "x-http-method-override",
		"x-requested-with", "x-couchdb-vhost-path",
	}
	corsSupportedMethods = []string{"CONNECT", "COPY", "DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "TRACE"}
	corsSimpleHeaders    = []string{"cache-control", "content-language", "content-type", "expires", "last-modified", "pragma"}
	corsCouchHeaders     = []string{"accept-ranges", "etag", "server", "x-couch-request-id", "x-couch-update-newrev", "x-couchdb-body-time"}
)

// SplitCORSList splits a [cors] list value as chttpd_cors:split_list does
// (commas with optional white space around them; empty items at the end
// dropped).
func SplitCORSList(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		out = append(out, strings.TrimSpace(p))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

func (c *CORSConfig) methods() []string {
	if c.Methods == nil {
		return corsSupportedMethods
	}
	return c.Methods
}

func (c *CORSConfig) headers() []string {
	if c.Headers == nil {
		return corsSupportedHeaders
	}
	return c.Headers
}

// accepts reports whether origin is one of the configured origins, or they
// include "*" (a case-sensitive match, as the CORS spec asks).
func (c *CORSConfig) accepts(origin string) bool {
	return slices.Contains(c.Origins, "*") || slices.Contains(c.Origins, origin)
}

// allowCredentials is chttpd_cors:allow_credentials: never for the literal
// origin "*".
func (c *CORSConfig) allowCredentials(origin string) bool {
	return origin != "*" && c.Credentials
}

// preflight answers a CORS preflight request (an OPTIONS with an accepted
// Origin, an allowed Access-Control-Request-Method and only allowed
// Access-Control-Request-Headers) with 204 and reports true. Anything else
// is not a preflight and goes on as a normal request, as in
// chttpd_cors:maybe_handle_preflight_request. It runs before
// authentication.
func (a *API) preflight(rq *request) bool {
	c := &a.conf().CORS
	if rq.r.Method != http.MethodOptions || !c.Enabled {
		return false
	}
	origin, ok := singleHeader(rq.r.Header, "Origin")
	if !ok || !c.accepts(origin) {
		return false
	}
	method, ok := singleHeader(rq.r.Header, "Access-Control-Request-Method")
	if !ok || !slices.Contains(c.methods(), method) {
		return false
	}
	reqHeaders := rq.r.Header.Get("Access-Control-Request-Headers")
	if reqHeaders != "" {
		allowed := c.headers()
		for _, h := range strings.Split(reqHeaders, ",") {
			h = strings.ToLower(strings.TrimLeft(h, " \t"))
			if h != "" && !slices.Contains(allowed, h) {
				return false
			}
		}
	}
	if cw, ok := rq.w.(*corsWriter); ok {
		cw.applied = true // chttpd:send_response_no_cors: no expose list
	}
	maxAge := c.MaxAge
	if maxAge == "" {
		maxAge = "600"
	}
	h := rq.w.Header()
	h["Access-Control-Allow-Origin"] = []string{origin}
	h["Access-Control-Max-Age"] = []string{maxAge}
	h["Access-Control-Allow-Methods"] = []string{strings.Join(c.methods(), ", ")}
	if c.allowCredentials(origin) {
		h["Access-Control-Allow-Credentials"] = []string{"true"}
	}
	// CouchDB echoes the requested headers, even when there were none.
	h["Access-Control-Allow-Headers"] = []string{reqHeaders}
	h["Content-Length"] = []string{"0"}
	rq.writeHeader(http.StatusNoContent)
	return true
}

// singleHeader returns the value of header k when the request has it.
func singleHeader(h http.Header, k string) (string, bool) {
	v, ok := h[k]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// corsWriter adds the Access-Control-* headers of chttpd_cors:headers/2 to
// a response of an accepted cross-origin request when its header is
// written: the expose list depends on the headers the handler set.
type corsWriter struct {
	http.ResponseWriter
	c       *CORSConfig
	origin  string
	applied bool
}

// withCORS wraps w when the request comes from an accepted origin and CORS
// is enabled; otherwise it returns w unchanged.
func (a *API) withCORS(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	c := &a.conf().CORS
	if !c.Enabled {
		return w
	}
	origin, ok := singleHeader(r.Header, "Origin")
	if !ok || !c.accepts(origin) {
		return w
	}
	return &corsWriter{ResponseWriter: w, c: c, origin: origin}
}

func (cw *corsWriter) apply() {
	if cw.applied {
		return
	}
	cw.applied = true
	h := cw.ResponseWriter.Header()
	// Simple response headers the handler set, content-type always first
	// (chttpd_cors:maybe_apply_headers), then CouchDB's own headers.
	var present []string
	for k := range h {
		if lk := strings.ToLower(k); lk != "content-type" && slices.Contains(corsSimpleHeaders, lk) {
			present = append(present, lk)
		}
	}
	sort.Strings(present)
	exposed := cw.c.ExposedHeaders
	if exposed == nil {
		exposed = corsCouchHeaders
	}
	expose := append(append([]string{"content-type"}, present...), exposed...)
	h["Access-Control-Allow-Origin"] = []string{cw.origin}
	if cw.c.allowCredentials(cw.origin) {
		h["Access-Control-Allow-Credentials"] = []string{"true"}
	}
	h["Access-Control-Expose-Headers"] = []string{strings.Join(expose, ", ")}
}

func (cw *corsWriter) WriteHeader(code int) {
	cw.apply()
	cw.ResponseWriter.WriteHeader(code)
}

func (cw *corsWriter) Write(p []byte) (int, error) {
	cw.apply()
	return cw.ResponseWriter.Write(p)
}

func (cw *corsWriter) Flush() {
	cw.apply()
	if f, ok := cw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (cw *corsWriter) Unwrap() http.ResponseWriter { return cw.ResponseWriter }
