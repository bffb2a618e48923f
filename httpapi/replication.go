package httpapi

import (
	"errors"
	"net/http"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// revsDiff serves POST /{db}/_revs_diff and /{db}/_missing_revs
// (chttpd_db:db_req). The body maps ids to lists of revs.
func (a *API) revsDiff(rq *request, db string, missingRevs bool) error {
	if rq.method != http.MethodPost {
		return notAllowed("POST")
	}
	body, err := rq.jsonObjectBody()
	if err != nil {
		return err
	}
	req := map[string][]couch.Rev{}
	var order []string
	err = rawjson.Members(body, func(m rawjson.Member) error {
		revs, err := parseRevList(m.Value)
		if err != nil {
			return err
		}
		if _, ok := req[m.Key]; !ok {
			order = append(order, m.Key)
		}
		req[m.Key] = revs
		return nil
	})
	if err != nil {
		return err
	}
	diff, err := a.b.RevsDiff(rq.ctx, db, req)
	if err != nil {
		return err
	}
	rq.dbChecked = true
	b := rq.buf[:0]
	if missingRevs {
		b = append(b, `{"missing_revs":{`...)
	} else {
		b = append(b, '{')
	}
	first := true
	for _, id := range order {
		d, ok := diff[id]
		if !ok || len(d.Missing) == 0 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = rawjson.AppendString(b, id)
		if missingRevs {
			b = append(b, ':')
			b = appendRevList(b, d.Missing)
			continue
		}
		b = append(b, `:{"missing":`...)
		b = appendRevList(b, d.Missing)
		if len(d.PossibleAncestors) > 0 {
			b = append(b, `,"possible_ancestors":`...)
			b = appendRevList(b, d.PossibleAncestors)
		}
		b = append(b, '}')
	}
	if missingRevs {
		b = append(b, '}')
	}
	b = append(b, '}')
	rq.sendJSON(http.StatusOK, b)
	return nil
}

// bulkGetEntry is one `docs` element of a `_bulk_get` request.
type bulkGetEntry struct {
	id, revStr       string
	hasID, hasRev    bool
	rev              couch.Rev
	revErr           error
	attsSince        []couch.Rev
	attsSinceInvalid bool
}

// bulkGet serves POST /{db}/_bulk_get (chttpd_db:db_req/bulk_get): each
// requested revision (all leaves when no rev) as {"ok": doc} or an error.
func (a *API) bulkGet(rq *request, db string) error {
	if rq.method != http.MethodPost {
		return notAllowed("POST")
	}
	if err := rq.requireJSONCType(); err != nil {
		return err
	}
	q, err := parseDocQuery(rq)
	if err != nil {
		return err
	}
	body, err := rq.jsonObjectBody()
	if err != nil {
		return err
	}
	var docsRaw []byte
	_ = rawjson.Members(body, func(m rawjson.Member) error {
		if m.Key == "docs" && docsRaw == nil {
			docsRaw = m.Value
		}
		return nil
	})
	if docsRaw == nil || firstByte(docsRaw) != '[' {
		return badRequest("Missing JSON list of 'docs'.")
	}
	var entries []bulkGetEntry
	err = rawjson.Elements(docsRaw, func(v []byte) error {
		if firstByte(v) != '{' {
			return badRequest("Missing JSON list of 'docs'.")
		}
		var e bulkGetEntry
		_ = rawjson.Members(v, func(m rawjson.Member) error {
			switch m.Key {
			case "id":
				if s, ok := rawjson.String(m.Value); ok {
					e.id, e.hasID = s, true
				}
			case "rev":
				if s, ok := rawjson.String(m.Value); ok {
					e.revStr, e.hasRev = s, true
					e.rev, e.revErr = couch.ParseRev(s)
				} else {
					e.hasRev, e.revErr = true, couch.ErrBadRev
				}
			case "atts_since":
				revs, err := parseRevList(m.Value)
				if err != nil {
					e.attsSinceInvalid = true
				}
				e.attsSince = revs
			}
			return nil
		})
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := a.b.DBInfo(rq.ctx, db); err != nil {
		return err
	}
	rq.dbChecked = true
	rq.startStream(http.StatusOK)
	b := append(rq.buf[:0], `{"results": [`...)
	for i := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b, err = a.appendBulkGetResult(rq, db, b, &entries[i], q)
		if err != nil {
			return err
		}
		if len(b) > 1<<16 {
			if err := rq.writeChunk(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	b = append(b, "]}\n"...)
	rq.buf = b
	return rq.writeChunk(b)
}

// appendBulkGetError appends {"error":{"id","rev","error","reason"}}.
func appendBulkGetError(b []byte, id any, rev string, name, reason string) []byte {
	b = append(b, `{"error":{"id":`...)
	if s, ok := id.(string); ok {
		b = rawjson.AppendString(b, s)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"rev":`...)
	b = rawjson.AppendString(b, rev)
	b = append(b, `,"error":`...)
	b = rawjson.AppendString(b, name)
	b = append(b, `,"reason":`...)
	b = rawjson.AppendString(b, reason)
	return append(b, "}}"...)
}

func (a *API) appendBulkGetResult(rq *request, db string, b []byte, e *bulkGetEntry, q docQuery) ([]byte, error) {
	revLabel := e.revStr
	if !e.hasRev {
		revLabel = "undefined"
	}
	b = append(b, `{"id": `...)
	if e.hasID {
		b = rawjson.AppendString(b, e.id)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `, "docs": [`...)
	if e.hasID {
		if err := a.userDocReadCheck(rq, db, e.id); err != nil {
			name, reason := docErrorInfo(err)
			b = appendBulkGetError(b, e.id, revLabel, name, reason)
			return append(b, "]}"...), nil
		}
	}
	switch {
	case !e.hasID:
		b = appendBulkGetError(b, nil, revLabel, "bad_request", "document id missed")
		return append(b, "]}"...), nil
	case e.revErr != nil:
		b = appendBulkGetError(b, e.id, revLabel, "bad_request", "Invalid rev format")
		return append(b, "]}"...), nil
	case e.attsSinceInvalid:
		b = appendBulkGetError(b, e.id, revLabel, "bad_request", "att_since value must be array of revs.")
		return append(b, "]}"...), nil
	}
	if err := couch.ValidateDocID(e.id); err != nil {
		_, name, reason, _ := errorInfo(err)
		b = appendBulkGetError(b, e.id, revLabel, name, reason)
		return append(b, "]}"...), nil
	}
	opts := couch.OpenOptions{Latest: q.latest}
	if e.hasRev {
		opts.OpenRevs = []couch.Rev{e.rev}
	} else {
		opts.AllLeaves = true
	}
	doc, err := a.openDoc(rq, db, e.id, fabric.ReadOptions{OpenOptions: opts, R: q.r})
	if err != nil {
		if !errors.Is(err, couch.ErrNotFound) && !errors.Is(err, couch.ErrDeleted) {
			_, name, reason, known := errorInfo(err)
			if !known {
				return b, err
			}
			b = appendBulkGetError(b, e.id, revLabel, name, reason)
			return append(b, "]}"...), nil
		}
		doc = nil
	}
	if doc == nil || len(doc.Revisions) == 0 {
		b = appendBulkGetError(b, e.id, revLabel, "not_found", "missing")
		return append(b, "]}"...), nil
	}
	attsSince := e.attsSince
	if attsSince == nil {
		attsSince = q.attsSince
	}
	for i := range doc.Revisions {
		rv := &doc.Revisions[i]
		if i > 0 {
			b = append(b, ',')
		}
		if rv.Missing {
			b = appendBulkGetError(b, e.id, rv.Rev.String(), "not_found", "missing")
			continue
		}
		o := renderOpts{revs: q.revs, attEncodingInfo: q.attEncodingInfo}
		if (q.attachments || attsSince != nil) && len(rv.Atts) > 0 {
			data, err := a.loadAttachments(rq.ctx, db, e.id, rv, attsSincePos(doc, rv.Rev, attsSince), nil)
			if err != nil {
				return b, err
			}
			o.attData = data
		}
		b = append(b, `{"ok": `...)
		b = appendDoc(b, doc, rv, o, false)
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}
