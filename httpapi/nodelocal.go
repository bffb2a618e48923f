package httpapi

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/divandb/divan/internal/couch"
)

// nodeBuiltins are chttpd_node's own handlers (_stats, ...) not served
// yet: on this node they answer 501; for another node the request is
// proxied and that node answers. _config is served (configapi.go).
var nodeBuiltins = map[string]bool{
	"_config": true, "_stats": true, "_system": true, "_prometheus": true,
	"_versions": true, "_smoosh": true, "_restart": true,
}

// nodeTransport carries requests to other nodes' HTTP APIs (the /_node
// proxy, add_node, enable_cluster with remote_node). Only connecting is
// bounded: proxied feeds may legitimately run for a long time.
var nodeTransport = &http.Transport{
	Proxy:               nil,
	DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	MaxIdleConnsPerHost: 8,
	IdleConnTimeout:     90 * time.Second,
}

// handleNode serves /_node/{node}/... (chttpd_node:handle_node_req). The
// caller has checked for a server admin.
func (a *API) handleNode(rq *request) error {
	p := rq.parts
	if len(p) == 1 {
		return badRequest("Incomplete path to _node request")
	}
	node, rest := p[1], p[2:]
	if node == "_local" && len(rest) == 0 {
		b := append(rq.buf[:0], `{"name":`...)
		b = appendJSONString(b, a.conf().NodeName)
		rq.sendJSON(http.StatusOK, append(b, '}'))
		return nil
	}
	if node != "_local" && node != a.conf().NodeName {
		var addr string
		var known, alive bool
		if a.conf().Cluster != nil {
			addr, known, alive = a.conf().Cluster.NodeHTTPAddr(node)
		}
		if !known {
			return couch.Errorf(couch.CodeNotFound, "no such node: %s", node)
		}
		if !alive || addr == "" {
			return nodeDown(node)
		}
		return a.proxyNode(rq, node, addr, rest)
	}
	if len(rest) > 0 {
		switch {
		case rest[0] == "_divan" && len(rest) == 1:
			// Divan's own: what a node joining this one needs (add_node).
			if rq.method != http.MethodGet {
				return notAllowed("GET")
			}
			body, err := json.Marshal(a.selfInfo())
			if err != nil {
				return err
			}
			rq.sendJSON(http.StatusOK, append(rq.buf[:0], body...))
			return nil
		case rest[0] == "_config":
			return a.handleConfig(rq, rest[1:])
		case nodeBuiltins[rest[0]]:
			return errNotImpl
		}
	}
	if a.conf().NodeLocal == nil {
		return couch.ErrNotFound
	}
	a.serveNodeLocal(rq, rest)
	return nil
}

func nodeDown(node string) error {
	return couch.Errorf(couch.CodeNodeDown, "%s is down", node)
}

// nodeLocalPaths returns the decoded and escaped forms of "/" + rest, each
// segment re-encoded so that a segment holding "/" (a shard name such as
// "shards/00000000-7fffffff/db.1234567890") stays one segment, as
// chttpd_node re-encodes path_parts.
func nodeLocalPaths(rest []string) (path, raw string) {
	esc := make([]string, len(rest))
	for i, s := range rest {
		esc[i] = url.PathEscape(s)
	}
	return "/" + strings.Join(rest, "/"), "/" + strings.Join(esc, "/")
}

// serveNodeLocal hands the request, minus its /_node/{node} prefix, to the
// node-local API (method, headers, body and query unchanged).
func (a *API) serveNodeLocal(rq *request, rest []string) {
	r := rq.r.Clone(rq.ctx)
	r.URL.Path, r.URL.RawPath = nodeLocalPaths(rest)
	r.RequestURI = r.URL.RequestURI()
	r.Header.Set("X-Couch-Request-ID", rq.reqID)
	a.conf().NodeLocal.ServeHTTP(&statusWriter{ResponseWriter: rq.w, rq: rq}, r)
}

// proxyNode forwards the request to another node's /_node/_local/<rest>
// (with the same Authorization and other headers).
func (a *API) proxyNode(rq *request, node, addr string, rest []string) error {
	path, raw := nodeLocalPaths(rest)
	if len(rest) == 0 {
		// /_node/<name> on that node: its node-local welcome.
		path, raw = "/_node/"+node, "/_node/"+url.PathEscape(node)
	} else {
		path, raw = "/_node/_local"+path, "/_node/_local"+raw
	}
	var proxyErr error
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = addr
			pr.Out.URL.Path, pr.Out.URL.RawPath = path, raw
			pr.Out.Host = addr
			pr.Out.Header.Set("X-Couch-Request-ID", rq.reqID)
		},
		Transport:     nodeTransport,
		FlushInterval: -1,
		ErrorHandler: func(http.ResponseWriter, *http.Request, error) {
			proxyErr = errors.New("proxy failed")
		},
	}
	// The other node's response brings its own values of these.
	h := rq.w.Header()
	saved := map[string][]string{}
	for _, k := range []string{"Server", "X-Couch-Request-Id", "X-Couchdb-Body-Time"} {
		if v, ok := h[k]; ok {
			saved[k] = v
			delete(h, k)
		}
	}
	rp.ServeHTTP(&statusWriter{ResponseWriter: rq.w, rq: rq}, rq.r)
	if proxyErr != nil && !rq.wrote {
		for k, v := range saved {
			h[k] = v
		}
		return nodeDown(node)
	}
	return nil
}

// statusWriter records the status of a response written by another handler
// (the node-local API or the proxy) in rq.
type statusWriter struct {
	http.ResponseWriter
	rq *request
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.rq.wrote && code >= 200 {
		s.rq.wrote, s.rq.status = true, code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if !s.rq.wrote {
		s.rq.wrote, s.rq.status = true, http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		if !s.rq.wrote {
			s.rq.wrote, s.rq.status = true, http.StatusOK
		}
		f.Flush()
	}
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
