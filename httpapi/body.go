package httpapi

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// requireJSONCType is couch_httpd:validate_ctype(Req, "application/json"):
// the part of Content-Type before the first ";" must be exactly the type.
func (rq *request) requireJSONCType() error {
	ct := rq.r.Header.Get("Content-Type")
	if ct == "" {
		return errBadCType
	}
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if ct != "application/json" {
		return errBadCType
	}
	return nil
}

// smallBody is the size below which a body is read without admission: a
// single document costs little, and it should not queue behind bulk loads.
const smallBody = 64 << 10

// DefaultMaxInflightBodyBytes is [divan] max_inflight_body_bytes' default:
// four 1 MB _bulk_docs bodies. Measured on 2 cores against 8 MiB, in runs
// interleaved with each other: single node as fast or faster, a three-node
// cluster loaded through every node 15% faster (docs/benchmarks.md).
const DefaultMaxInflightBodyBytes = 4 << 20

// admitBody waits until n more bytes of request bodies may be held in
// memory (Config.MaxInflightBodyBytes), so that many concurrent bulk
// requests are parsed and written a few at a time instead of all at once:
// the rest wait with their bodies unread, in the kernel's socket buffers.
// On 2 cores this keeps _bulk_docs throughput and bounds the heap, which
// otherwise grows with the number of clients and makes the collector run
// against the memory limit. A request is admitted at most once; what it
// holds is released when it ends (API.putRequest).
func (rq *request) admitBody(n int64) error {
	a := rq.api
	if n < smallBody || rq.heldBody > 0 || a.bodyBudget == nil {
		return nil
	}
	n = min(n, a.bodyBudgetSize)
	if err := a.bodyBudget.Acquire(rq.ctx, n); err != nil {
		return fmt.Errorf("wait to read the request body: %w", err)
	}
	rq.heldBody = n
	return nil
}

// body reads the whole request body, bounded by max_http_request_size and
// decompressed when Content-Encoding is gzip. It records the time spent in
// X-CouchDB-Body-Time.
func (rq *request) body() ([]byte, error) {
	max := rq.api.conf().MaxRequestSize
	r := rq.r
	if r.ContentLength > max {
		rq.w.Header()["Connection"] = connectionClose
		return nil, errTooLarge
	}
	start := time.Now()
	defer func() {
		if ms := time.Since(start).Milliseconds(); ms > 0 {
			rq.w.Header()["X-CouchDB-Body-Time"] = []string{strconv.FormatInt(ms, 10)}
		}
	}()
	var data []byte
	switch {
	case r.Body == nil || r.Body == http.NoBody:
	case r.ContentLength >= 0:
		if err := rq.admitBody(r.ContentLength); err != nil {
			return nil, err
		}
		// The server guarantees exactly ContentLength bytes.
		data = make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, data); err != nil {
			return nil, err
		}
	default: // chunked
		buf := bytes.NewBuffer(make([]byte, 0, 4096))
		_, err := buf.ReadFrom(io.LimitReader(r.Body, max+1))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, errTooLarge
			}
			return nil, err
		}
		if int64(buf.Len()) > max {
			rq.w.Header()["Connection"] = connectionClose
			return nil, errTooLarge
		}
		// Admitted once read: the size was unknown before.
		if err := rq.admitBody(int64(buf.Len())); err != nil {
			return nil, err
		}
		data = buf.Bytes()
	}
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, errInvalidJSON
		}
		out, err := io.ReadAll(io.LimitReader(zr, max+1))
		if err != nil {
			return nil, errInvalidJSON
		}
		if int64(len(out)) > max {
			return nil, errTooLarge
		}
		data = out
	default:
		return nil, couch.Errorf(couch.CodeBadContentType, "%s is not a supported content encoding.", enc)
	}
	return data, nil
}

// jsonBody is chttpd:json_body: the body, which must be valid UTF-8 JSON.
func (rq *request) jsonBody() ([]byte, error) {
	data, err := rq.body()
	if err != nil {
		return nil, err
	}
	if !rawjson.Valid(data) {
		return nil, errInvalidJSON
	}
	return data, nil
}

// jsonObjectBody is chttpd:json_body_obj: the body must be a JSON object.
func (rq *request) jsonObjectBody() ([]byte, error) {
	data, err := rq.jsonBody()
	if err != nil {
		return nil, err
	}
	if firstByte(data) != '{' {
		return nil, errNotJSONObj
	}
	return data, nil
}

// firstByte returns the first non-space byte of data, or 0.
func firstByte(data []byte) byte {
	for _, c := range data {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

// jsonInt parses a JSON integer value (no fraction or exponent).
func jsonInt(v []byte) (int64, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return 0, false
	}
	for i, c := range v {
		if c == '-' && i == 0 {
			continue
		}
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil
}

// postJSONObject is the opening of every POST endpoint that takes a JSON
// object: 405 for other methods, 415 without a JSON Content-Type, 400 for a
// body that is not a JSON object.
func (rq *request) postJSONObject() ([]byte, error) {
	if rq.method != http.MethodPost {
		return nil, notAllowed("POST")
	}
	if err := rq.requireJSONCType(); err != nil {
		return nil, err
	}
	return rq.jsonObjectBody()
}
