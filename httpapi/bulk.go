package httpapi

import (
	"net/http"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// bulkDocs serves POST /{db}/_bulk_docs.
func (a *API) bulkDocs(rq *request, db string) error {
	body, err := rq.postJSONObject()
	if err != nil {
		return err
	}
	var docsRaw, wRaw, newEditsRaw, aonRaw []byte
	_ = rawjson.Members(body, func(m rawjson.Member) error {
		switch {
		case m.Key == "docs" && docsRaw == nil:
			docsRaw = m.Value
		case m.Key == "w" && wRaw == nil:
			wRaw = m.Value
		case m.Key == "new_edits" && newEditsRaw == nil:
			newEditsRaw = m.Value
		case m.Key == "all_or_nothing" && aonRaw == nil:
			aonRaw = m.Value
		}
		return nil
	})
	if docsRaw == nil {
		return badRequest("POST body must include `docs` parameter.")
	}
	if firstByte(docsRaw) != '[' {
		return badRequest("`docs` parameter must be an array.")
	}
	w := rq.qsInt("w", 0)
	if n, ok := jsonInt(wRaw); ok && wRaw != nil {
		w = int(n)
	}
	newEdits := true
	newEditsValid := true
	switch string(newEditsRaw) {
	case "", "true":
	case "false":
		newEdits = false
	default:
		newEditsValid = false
	}

	var docs []*couch.Doc
	err = rawjson.Elements(docsRaw, func(v []byte) error {
		doc, err := a.parseDocBody(v)
		if err != nil {
			return err
		}
		if !newEdits && doc.Rev.IsZero() {
			return badRequest("When `new_edits: false`, the document needs `_rev` or `_revisions` specified")
		}
		if doc.ID == "" {
			doc.ID = a.uuids.next()
		}
		docs = append(docs, doc)
		return nil
	})
	if err != nil {
		return err
	}
	if !newEditsValid {
		return badRequest("`new_edits` parameter must be a boolean.")
	}
	if newEdits && string(aonRaw) == "true" {
		rq.sendJSON(http.StatusExpectationFailed, appendAllOrNothing(rq.buf[:0], docs))
		return nil
	}

	results, err := a.updateDocs(rq.ctx, db, docs, fabric.WriteOptions{NewEdits: newEdits, W: w})
	if err != nil {
		return err
	}
	status := http.StatusCreated
	b := append(rq.buf[:0], '[')
	n := 0
	for i, res := range results {
		if res.Accepted {
			status = http.StatusAccepted
		}
		id := res.ID
		if id == "" && i < len(docs) {
			id = docs[i].ID
		}
		if !newEdits {
			if res.Err == nil {
				continue // replicated writes report failures only
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			var rev couch.Rev
			if i < len(docs) {
				rev = docs[i].Rev
			}
			b = appendDocError(b, id, &rev, res.Err)
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		if res.Err != nil {
			b = appendDocError(b, id, nil, res.Err)
			continue
		}
		b = append(b, `{"ok":true,"id":`...)
		b = rawjson.AppendString(b, id)
		b = append(b, `,"rev":`...)
		b = appendQuotedRev(b, res.Rev)
		if res.Accepted {
			b = append(b, `,"accepted":true`...)
		}
		b = append(b, '}')
	}
	rq.sendJSON(status, append(b, ']'))
	return nil
}

// appendDocError renders a per-document failure: {"id","rev"?,"error","reason"}.
func appendDocError(b []byte, id string, rev *couch.Rev, err error) []byte {
	name, reason := docErrorInfo(err)
	b = append(b, `{"id":`...)
	b = rawjson.AppendString(b, id)
	if rev != nil {
		b = append(b, `,"rev":`...)
		b = appendQuotedRev(b, *rev)
	}
	b = append(b, `,"error":`...)
	b = rawjson.AppendString(b, name)
	b = append(b, `,"reason":`...)
	b = rawjson.AppendString(b, reason)
	return append(b, '}')
}

// appendAllOrNothing renders the 417 answer to all_or_nothing, which a
// cluster does not support (fabric_doc_update:validate_atomic_update).
func appendAllOrNothing(b []byte, docs []*couch.Doc) []byte {
	b = append(b, '[')
	for i, d := range docs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = rawjson.AppendString(b, d.ID)
		b = append(b, `,"rev":"`...)
		if d.Rev.IsZero() {
			b = append(b, "0-"...)
		} else {
			b = appendRev(b, d.Rev)
		}
		b = append(b, `","error":"not_implemented","reason":"all_or_nothing is not supported"}`...)
	}
	return append(b, ']')
}
