package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// client sends requests to one CouchDB-compatible node over a single shared
// keep-alive transport, with basic auth when the URL carries credentials.
type client struct {
	base       string // scheme://host[:port], no credentials, no trailing slash
	user, pass string
	auth       bool
	hc         *http.Client
	stream     *http.Client // no overall timeout: continuous _changes feeds
}

// newClient parses rawURL (http://user:pass@host:port) and sizes the idle
// connection pool for maxConc concurrent workers so every connection is
// reused rather than re-dialled.
func newClient(rawURL string, maxConc int, timeout time.Duration) (*client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse -url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("-url %q: scheme must be http or https", rawURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("-url %q: no host", rawURL)
	}
	c := &client{base: u.Scheme + "://" + u.Host + strings.TrimRight(u.Path, "/")}
	if u.User != nil {
		c.user = u.User.Username()
		c.pass, _ = u.User.Password()
		c.auth = true
	}
	pool := maxConc + 8 // the setup requests and the load workers share it
	tr := &http.Transport{
		Proxy:               nil, // never through $HTTP_PROXY
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        pool,
		MaxIdleConnsPerHost: pool,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // measure the server, not gzip
		ForceAttemptHTTP2:   false,
	}
	c.hc = &http.Client{Transport: tr, Timeout: timeout}
	c.stream = &http.Client{Transport: tr}
	return c, nil
}

// close releases idle connections.
func (c *client) close() { c.hc.CloseIdleConnections() }

// do sends one request and reads the whole response into buf (which it
// resets), so that the connection goes back to the pool. body may be nil.
func (c *client) do(ctx context.Context, method, path string, body []byte, buf *bytes.Buffer) (int, error) {
	resp, err := c.open(ctx, c.hc, method, path, body)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return resp.StatusCode, fmt.Errorf("read response: %w", err)
	}
	return resp.StatusCode, nil
}

// open sends one request with hc and returns the response, whose body the
// caller must read and close. body may be nil.
func (c *client) open(ctx context.Context, hc *http.Client, method, path string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.auth {
		req.SetBasicAuth(c.user, c.pass)
	}
	return hc.Do(req)
}

// call is do for setup requests: any status other than 2xx is an error, and
// a 2xx JSON body is decoded into out when out is not nil.
func (c *client) call(ctx context.Context, method, path string, body []byte, out any) error {
	var buf bytes.Buffer
	status, err := c.do(ctx, method, path, body, &buf)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if status/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, status, snippet(buf.Bytes()))
	}
	if out != nil {
		if err := json.Unmarshal(buf.Bytes(), out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

// waitUp polls GET /_up until it answers 200 or the timeout passes.
func (c *client) waitUp(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var buf bytes.Buffer
	var last string
	for {
		status, err := c.do(ctx, http.MethodGet, "/_up", nil, &buf)
		switch {
		case err == nil && status == http.StatusOK:
			return nil
		case err == nil && (status == http.StatusUnauthorized || status == http.StatusForbidden):
			return fmt.Errorf("GET /_up: HTTP %d (check the credentials in -url): %s", status, snippet(buf.Bytes()))
		case err != nil:
			last = err.Error()
		default:
			last = fmt.Sprintf("HTTP %d: %s", status, snippet(buf.Bytes()))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET /_up not 200 within %s (last: %s)", timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// serverInfo is the part of GET / the report shows.
type serverInfo struct {
	CouchDB string `json:"couchdb"`
	Version string `json:"version"`
	Vendor  struct {
		Name string `json:"name"`
	} `json:"vendor"`
}

// snippet returns the start of a response body for error messages.
func snippet(b []byte) string {
	const maxLen = 500
	s := strings.TrimSpace(string(b))
	if len(s) > maxLen {
		s = s[:maxLen] + "…"
	}
	return s
}
