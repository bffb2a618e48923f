package httpapi

import (
	_ "embed"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

//go:embed favicon.ico
var favicon []byte

// handleWelcome serves GET /.
func (a *API) handleWelcome(rq *request) error {
	if rq.method != http.MethodGet {
		return notAllowed("GET,HEAD")
	}
	c := a.conf()
	b := append(rq.buf[:0], `{"couchdb":"Welcome","version":`...)
	b = rawjson.AppendString(b, c.Version)
	b = append(b, `,"git_sha":`...)
	b = rawjson.AppendString(b, c.GitSHA)
	b = append(b, `,"uuid":`...)
	b = rawjson.AppendString(b, c.ServerUUID)
	b = append(b, `,"features":`...)
	b = appendStrings(b, c.Features)
	b = append(b, `,"vendor":{"name":"Divan","version":`...)
	b = rawjson.AppendString(b, c.DivanVersion)
	b = append(b, "}}"...)
	rq.sendJSON(http.StatusOK, b)
	return nil
}

// handleUp serves GET /_up.
func (a *API) handleUp(rq *request) error {
	if rq.method != http.MethodGet {
		return notAllowed("GET,HEAD")
	}
	rq.sendJSON(http.StatusOK, append(rq.buf[:0], `{"status":"ok","seeds":{}}`...))
	return nil
}

// handleFavicon serves the embedded favicon with a year of caching.
func (a *API) handleFavicon(rq *request) error {
	if rq.method != http.MethodGet {
		return notAllowed("GET,HEAD")
	}
	h := rq.w.Header()
	h.Set("Content-Type", "image/x-icon")
	h.Set("Cache-Control", "public, max-age=31536000")
	h.Set("Expires", time.Now().UTC().AddDate(0, 0, 365).Format(http.TimeFormat))
	h.Set("Content-Length", strconv.Itoa(len(favicon)))
	rq.writeHeader(http.StatusOK)
	return rq.writeChunk(favicon)
}

// dbRange selects databases from the sorted list of names with the
// _all_dbs arguments.
func dbRange(names []string, va *viewArgs) []string {
	start, end := va.keyRange()
	var out []string
	in := func(name string) bool {
		if va.descending {
			if start != nil && name > *start {
				return false
			}
			if end != nil && (name < *end || !va.inclusiveEnd && name == *end) {
				return false
			}
			return true
		}
		if start != nil && name < *start {
			return false
		}
		if end != nil && (name > *end || !va.inclusiveEnd && name == *end) {
			return false
		}
		return true
	}
	skip := va.skip
	for i := range names {
		name := names[i]
		if va.descending {
			name = names[len(names)-1-i]
		}
		if !in(name) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		if va.limit >= 0 && len(out) >= va.limit {
			break
		}
		out = append(out, name)
	}
	return out
}

// allDBsArgs parses the _all_dbs/_dbs_info query arguments.
func allDBsArgs(rq *request) (*viewArgs, error) {
	va := newViewArgs()
	if err := va.setQuery(rq.params()); err != nil {
		return nil, err
	}
	if err := va.validate(); err != nil {
		return nil, err
	}
	return &va, nil
}

// handleAllDBs serves GET /_all_dbs.
func (a *API) handleAllDBs(rq *request) error {
	if rq.method != http.MethodGet {
		return notAllowed("GET,HEAD")
	}
	va, err := allDBsArgs(rq)
	if err != nil {
		return err
	}
	names, err := a.b.AllDBs(rq.ctx)
	if err != nil {
		return err
	}
	etag := makeETag(etfBinaryList(names))
	rq.w.Header()["ETag"] = []string{etag}
	if etagMatch(rq.r, etag) {
		rq.sendEmpty(http.StatusNotModified)
		return nil
	}
	rq.sendJSON(http.StatusOK, appendStrings(rq.buf[:0], dbRange(names, va)))
	return nil
}

// handleDBsInfo serves GET and POST /_dbs_info.
func (a *API) handleDBsInfo(rq *request) error {
	switch rq.method {
	case http.MethodGet:
		va, err := allDBsArgs(rq)
		if err != nil {
			return err
		}
		names, err := a.b.AllDBs(rq.ctx)
		if err != nil {
			return err
		}
		b := append(rq.buf[:0], '[')
		first := true
		for _, name := range dbRange(names, va) {
			info, err := a.b.DBInfo(rq.ctx, name)
			if errors.Is(err, couch.ErrNoDB) {
				continue // deleted meanwhile
			}
			if err != nil {
				return err
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, `{"key":`...)
			b = rawjson.AppendString(b, name)
			b = append(b, `,"info":`...)
			b = appendDBInfo(b, info)
			b = append(b, '}')
		}
		rq.sendJSON(http.StatusOK, append(b, ']'))
		return nil
	case http.MethodPost:
		return a.postDBsInfo(rq)
	}
	return notAllowed("GET,HEAD,POST")
}

func (a *API) postDBsInfo(rq *request) error {
	if err := rq.requireJSONCType(); err != nil {
		return err
	}
	body, err := rq.jsonObjectBody()
	if err != nil {
		return err
	}
	var keys []byte
	_ = rawjson.Members(body, func(m rawjson.Member) error {
		if m.Key == "keys" && keys == nil {
			keys = m.Value
		}
		return nil
	})
	if keys == nil {
		return badRequest("`keys` member must exist.")
	}
	if firstByte(keys) != '[' {
		return badRequest("`keys` member must be an array.")
	}
	var items [][]byte
	_ = rawjson.Elements(keys, func(v []byte) error { items = append(items, v); return nil })
	if len(items) > a.conf().MaxDBsInfo {
		return badRequest("too_many_keys")
	}
	b := append(rq.buf[:0], '[')
	for i, k := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"key":`...)
		b, _ = rawjson.Compact(b, k)
		name, isStr := rawjson.String(k)
		if isStr {
			if info, err := a.b.DBInfo(rq.ctx, name); err == nil {
				b = append(b, `,"info":`...)
				b = appendDBInfo(b, info)
				b = append(b, '}')
				continue
			}
		}
		b = append(b, `,"error":"not_found"}`...)
	}
	rq.sendJSON(http.StatusOK, append(b, ']'))
	return nil
}
