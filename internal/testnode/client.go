package testnode

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// RequestTimeout bounds every request made through Client.Do and friends.
var RequestTimeout = 60 * time.Second

// Client talks HTTP to a node. Paths are appended verbatim to the node's
// base URL, so callers percent-encode ids themselves (see url.PathEscape).
type Client struct {
	node       *Node
	user, pass string
	auth       bool
	// HTTP is the underlying client; it shares the node's transport.
	HTTP *http.Client
}

// Response is a fully read HTTP response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *Response) String() string {
	return fmt.Sprintf("%d %s", r.Status, bytes.TrimSpace(r.Body))
}

// NewRequest builds a request. body may be nil, []byte, string or
// json.RawMessage (sent verbatim), an io.Reader (streamed), or any other
// value (JSON-encoded). headers are name/value pairs; an empty value removes
// that header. A body gets "Content-Type: application/json" unless the
// headers say otherwise.
func (c *Client) NewRequest(ctx context.Context, method, path string, body any, headers ...string) (*http.Request, error) {
	if len(headers)%2 != 0 {
		return nil, fmt.Errorf("headers must be name/value pairs, got %q", headers)
	}
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = strings.NewReader(b)
	case json.RawMessage:
		r = bytes.NewReader(b)
	case io.Reader:
		r = b
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("encode request body: %w", err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.node.URL()+path, r)
	if err != nil {
		return nil, err
	}
	if c.auth {
		req.SetBasicAuth(c.user, c.pass)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	return req, nil
}

// Request performs a request and reads the whole response. Errors are
// transport errors only; any HTTP status is a Response.
func (c *Client) Request(ctx context.Context, method, path string, body any, headers ...string) (*Response, error) {
	req, err := c.NewRequest(ctx, method, path, body, headers...)
	if err != nil {
		return nil, err
	}
	return c.Send(req)
}

// Send performs req and reads the whole response.
func (c *Client) Send(req *http.Request) (*Response, error) {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read response body of %s %s (status %d): %w", req.Method, req.URL.RequestURI(), resp.StatusCode, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// Do performs a request, failing the test on transport errors, and returns
// the status, headers and body.
func (c *Client) Do(tb testing.TB, method, path string, body any, headers ...string) (int, http.Header, []byte) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), RequestTimeout)
	defer cancel()
	resp, err := c.Request(ctx, method, path, body, headers...)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.Status, resp.Header, resp.Body
}

// Expect performs a request and fails the test unless the status is want.
// It returns the response headers and body.
func (c *Client) Expect(tb testing.TB, want int, method, path string, body any, headers ...string) (http.Header, []byte) {
	tb.Helper()
	status, hdr, data := c.Do(tb, method, path, body, headers...)
	if status != want {
		tb.Fatalf("%s %s: status %d, want %d; body: %s", method, path, status, want, bytes.TrimSpace(data))
	}
	return hdr, data
}

// ExpectJSON is Expect followed by decoding the body into out.
func (c *Client) ExpectJSON(tb testing.TB, want int, method, path string, body, out any, headers ...string) http.Header {
	tb.Helper()
	hdr, data := c.Expect(tb, want, method, path, body, headers...)
	if err := DecodeJSON(data, out); err != nil {
		tb.Fatalf("%s %s: decode response body: %v; body: %s", method, path, err, bytes.TrimSpace(data))
	}
	return hdr
}

// Get fetches path, expects 200 and returns the body decoded as a JSON
// object.
func (c *Client) Get(tb testing.TB, path string, headers ...string) map[string]any {
	tb.Helper()
	var m map[string]any
	c.ExpectJSON(tb, http.StatusOK, http.MethodGet, path, nil, &m, headers...)
	return m
}

// DecodeJSON decodes data into out, keeping numbers as json.Number so that
// their spelling survives.
func DecodeJSON(data []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after JSON value")
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}

// Object decodes data as a JSON object, failing the test otherwise.
func Object(tb testing.TB, data []byte) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := DecodeJSON(data, &m); err != nil || m == nil {
		tb.Fatalf("want a JSON object, got %s (%v)", bytes.TrimSpace(data), err)
	}
	return m
}

// Array decodes data as a JSON array, failing the test otherwise.
func Array(tb testing.TB, data []byte) []any {
	tb.Helper()
	var a []any
	if err := DecodeJSON(data, &a); err != nil || a == nil {
		tb.Fatalf("want a JSON array, got %s (%v)", bytes.TrimSpace(data), err)
	}
	return a
}

// Eventually polls cond every interval until it reports true or timeout
// passes, then fails the test with cond's last message.
func Eventually(tb testing.TB, timeout, interval time.Duration, cond func() (bool, string)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met within %v: %s", timeout, msg)
		}
		time.Sleep(interval)
	}
}
