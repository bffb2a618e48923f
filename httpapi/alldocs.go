package httpapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// streamFlush is how much response the row streams buffer before writing.
const streamFlush = 32 << 10

// Bounds of the design document namespace (_design_docs).
const (
	designLow  = "_design/"
	designHigh = "_design0" // '0' follows '/'
)

var errHeadDone = errors.New("httpapi: HEAD answered")

// allDocs serves GET/POST /{db}/_all_docs and /{db}/_design_docs.
func (a *API) allDocs(rq *request, db string, design bool) error {
	va := newViewArgs()
	switch rq.method {
	case http.MethodGet:
		if v, ok := rq.qs("keys"); ok {
			raw := []byte(v)
			if !rawjson.Valid(raw) {
				return errInvalidJSON
			}
			if firstByte(raw) != '[' {
				return badRequest("`keys` parameter must be an array.")
			}
		}
		if err := va.setQuery(rq.params()); err != nil {
			return err
		}
	case http.MethodPost:
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
		if keys != nil && firstByte(keys) != '[' {
			return badRequest("`keys` body member must be an array.")
		}
		va.keys = keys
		if err := va.setBody(body); err != nil {
			return err
		}
		if err := va.setQuery(rq.params()); err != nil {
			return err
		}
	default:
		return notAllowed("GET,HEAD,POST")
	}
	if err := va.validate(); err != nil {
		return err
	}

	opts := fabric.AllDocsOptions{
		InclusiveEnd: va.inclusiveEnd, Descending: va.descending, Limit: va.limit, Skip: va.skip,
		IncludeDocs: va.includeDocs, Conflicts: va.conflicts, UpdateSeq: va.updateSeq,
	}
	var rawKeys [][]byte
	if va.keys != nil {
		ids, raw, err := va.keyList()
		if err != nil {
			return err
		}
		opts.Keys = ids
		for _, k := range raw {
			if _, ok := rawjson.String(k); !ok {
				rawKeys = raw // only needed for non-string keys
				break
			}
		}
	} else {
		opts.StartKey, opts.EndKey = va.keyRange()
		if design {
			opts.StartKey, opts.EndKey = clampDesign(opts.StartKey, opts.EndKey, opts.Descending)
		}
	}
	total := int64(-1)
	if design && opts.Keys == nil {
		n, err := a.countDesignDocs(rq, db)
		if err != nil {
			return err
		}
		total = n
	}
	s := &rowStream{rq: rq, opts: &opts, total: total, rawKeys: rawKeys}
	err := a.b.AllDocs(rq.ctx, db, opts, fabric.RowSink{Meta: s.meta, Row: s.row})
	if errors.Is(err, errHeadDone) {
		return nil
	}
	if err != nil {
		return err
	}
	if !s.started {
		if err := s.meta(fabric.AllDocsMeta{}); err != nil {
			if errors.Is(err, errHeadDone) {
				return nil
			}
			return err
		}
	}
	return s.finish()
}

// clampDesign narrows a key range to the design document namespace.
func clampDesign(start, end *string, descending bool) (*string, *string) {
	lo, hi := designLow, designHigh
	if !descending {
		if start == nil || *start < lo {
			start = &lo
		}
		if end == nil || *end > hi {
			end = &hi
		}
		return start, end
	}
	if start == nil || *start > hi {
		start = &hi
	}
	if end == nil || *end < lo {
		end = &lo
	}
	return start, end
}

// countDesignDocs counts the design documents: _design_docs reports their
// number as total_rows.
func (a *API) countDesignDocs(rq *request, db string) (int64, error) {
	lo, hi := designLow, designHigh
	var n int64
	err := a.b.AllDocs(rq.ctx, db, fabric.AllDocsOptions{StartKey: &lo, EndKey: &hi, InclusiveEnd: true, Limit: -1},
		fabric.RowSink{
			Meta: func(fabric.AllDocsMeta) error { return nil },
			Row:  func(fabric.AllDocsRow) error { n++; return nil },
		})
	return n, err
}

// rowStream writes _all_docs rows as the backend produces them, in
// couch_mrview_http:view_cb's framing:
//
//	{"total_rows":N,"offset":O,"rows":[\r\n{row},\r\n{row}\r\n]}\n
type rowStream struct {
	rq      *request
	opts    *fabric.AllDocsOptions
	total   int64 // overrides the backend's total_rows when >= 0
	rawKeys [][]byte
	started bool
	n       int
}

func (s *rowStream) meta(m fabric.AllDocsMeta) error {
	s.started = true
	rq := s.rq
	total := m.TotalRows
	if s.total >= 0 {
		total = s.total
	}
	rq.startStream(http.StatusOK)
	if rq.head {
		return errHeadDone
	}
	b := append(rq.buf[:0], `{"total_rows":`...)
	b = strconv.AppendInt(b, total, 10)
	b = append(b, `,"offset":`...)
	if m.Offset == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, min(*m.Offset, total), 10)
	}
	if s.opts.UpdateSeq {
		b = append(b, `,"update_seq":`...)
		b = appendSeq(b, m.UpdateSeq)
	}
	b = append(b, ",\"rows\":[\r\n"...)
	rq.buf = b
	return nil
}

func (s *rowStream) row(r fabric.AllDocsRow) error {
	rq := s.rq
	b := rq.buf
	if s.n > 0 {
		b = append(b, ",\r\n"...)
	}
	var rawKey []byte
	if s.rawKeys != nil {
		i := s.opts.Skip + s.n
		if s.opts.Descending {
			i = len(s.rawKeys) - 1 - i
		}
		if i >= 0 && i < len(s.rawKeys) {
			rawKey = s.rawKeys[i]
		}
	}
	s.n++
	b = appendAllDocsRow(b, &r, rawKey, s.opts.IncludeDocs, s.opts.Conflicts)
	rq.buf = b
	if len(b) >= streamFlush {
		rq.buf = b[:0]
		return rq.writeChunk(b)
	}
	return nil
}

func (s *rowStream) finish() error {
	rq := s.rq
	b := append(rq.buf, "\r\n]}\n"...)
	rq.buf = b[:0]
	return rq.writeChunk(b)
}

// appendAllDocsRow renders one _all_docs row.
func appendAllDocsRow(b []byte, r *fabric.AllDocsRow, rawKey []byte, includeDocs, conflicts bool) []byte {
	if r.Err != nil {
		b = append(b, `{"key":`...)
		if rawKey != nil {
			b, _ = rawjson.Compact(b, rawKey)
		} else {
			b = rawjson.AppendString(b, r.ID)
		}
		name, _ := docErrorInfo(r.Err)
		b = append(b, `,"error":`...)
		b = rawjson.AppendString(b, name)
		return append(b, '}')
	}
	b = append(b, `{"id":`...)
	b = rawjson.AppendString(b, r.ID)
	b = append(b, `,"key":`...)
	b = rawjson.AppendString(b, r.ID)
	b = append(b, `,"value":{"rev":`...)
	b = appendQuotedRev(b, r.Rev)
	if r.Deleted {
		b = append(b, `,"deleted":true`...)
	}
	b = append(b, '}')
	if includeDocs {
		b = append(b, `,"doc":`...)
		if r.Deleted || r.Doc == nil {
			b = append(b, "null"...)
		} else {
			b = appendRowDoc(b, r.ID, r.Doc, conflicts, r.Conflicts)
		}
	}
	return append(b, '}')
}

// appendRowDoc renders an included document: _id, _rev, body, _conflicts
// (with conflicts=true), _attachments.
func appendRowDoc(b []byte, id string, rv *couch.Revision, conflicts bool, revs []couch.Rev) []byte {
	b = append(b, `{"_id":`...)
	b = rawjson.AppendString(b, id)
	if !rv.Rev.IsZero() {
		b = append(b, `,"_rev":`...)
		b = appendQuotedRev(b, rv.Rev)
	}
	b = appendBodyMembers(b, rv.Body)
	if rv.Deleted {
		b = append(b, `,"_deleted":true`...)
	}
	if conflicts {
		b = appendRevArray(b, `,"_conflicts":`, revs)
	}
	if len(rv.Atts) > 0 {
		b = appendAttachments(b, rv.Atts, &renderOpts{})
	}
	return append(b, '}')
}
