package httpapi

import (
	"errors"
	"net/http"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/couch"
)

// openRevs serves GET /{db}/{docid}?open_revs=all|[...]: a JSON array of
// {"ok": doc} / {"missing": rev} when the client accepts no multipart/mixed,
// else multipart/mixed with one application/json part per revision.
func (a *API) openRevs(rq *request, db, id string, q docQuery) error {
	opts := couch.OpenOptions{OpenRevs: q.openRevs, AllLeaves: q.openAll, Latest: q.latest}
	doc, err := a.openDoc(rq, db, id, fabric.ReadOptions{OpenOptions: opts, R: q.r})
	if err != nil {
		if q.openAll || !errors.Is(err, couch.ErrNotFound) && !errors.Is(err, couch.ErrDeleted) {
			return err
		}
		// Explicit revisions of an unknown document are all missing.
		doc = &couch.Document{ID: id}
		for _, r := range q.openRevs {
			doc.Revisions = append(doc.Revisions, couch.Revision{Rev: r, Missing: true})
		}
	}
	if q.openAll && len(doc.Revisions) == 0 {
		return couch.ErrNotFound
	}
	o := renderOpts{revs: q.revs, attEncodingInfo: q.attEncodingInfo}
	multipart := accepts(rq.r, "multipart/mixed")
	if multipart || q.attachments {
		// Multipart responses always carry the attachments (as following
		// parts); JSON ones inline them with ?attachments=true.
		for i := range doc.Revisions {
			if rv := &doc.Revisions[i]; !rv.Missing {
				if o.attData, err = a.loadAttachments(rq.ctx, db, id, rv, 0, o.attData); err != nil {
					return err
				}
			}
		}
	}
	if multipart {
		o.follows, o.attEncodingInfo = true, true
		boundary := a.uuids.random()
		rq.w.Header().Set("Content-Type", `multipart/mixed; boundary="`+boundary+`"`)
		rq.writeHeader(http.StatusOK)
		b := a.appendOpenRevsMultipart(rq.buf[:0], doc, o, boundary)
		rq.buf = b
		return rq.writeChunk(b)
	}
	b := appendOpenRevsJSON(rq.buf[:0], doc, o)
	rq.sendJSON(http.StatusOK, b)
	return nil
}

// appendOpenRevsJSON renders the open_revs results as a JSON array.
func appendOpenRevsJSON(b []byte, doc *couch.Document, o renderOpts) []byte {
	b = append(b, '[')
	for i := range doc.Revisions {
		if i > 0 {
			b = append(b, ',')
		}
		rv := &doc.Revisions[i]
		if rv.Missing {
			b = append(b, `{"missing":`...)
			b = appendQuotedRev(b, rv.Rev)
			b = append(b, '}')
			continue
		}
		b = append(b, `{"ok":`...)
		b = appendDoc(b, doc, rv, o, false)
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendOpenRevsMultipart renders the results as chttpd_db's
// send_docs_multipart frames them:
//
//	--B\r\nContent-Type: application/json\r\n\r\n<doc>\r\n--B ... --
//
// A revision with attachments is a nested multipart/related part (the JSON
// then the attachments, under a boundary of its own); a missing one is
// `Content-Type: application/json; error="true"` with {"missing": rev}.
func (a *API) appendOpenRevsMultipart(b []byte, doc *couch.Document, o renderOpts, boundary string) []byte {
	b = append(b, "--"...)
	b = append(b, boundary...)
	var inner string
	for i := range doc.Revisions {
		rv := &doc.Revisions[i]
		switch {
		case rv.Missing:
			b = append(b, "\r\nContent-Type: application/json; error=\"true\"\r\n\r\n"...)
			b = append(b, `{"missing":`...)
			b = appendQuotedRev(b, rv.Rev)
			b = append(b, '}')
		case hasAttData(rv, o.attData):
			if inner == "" {
				inner = a.uuids.random()
			}
			b = append(b, "\r\nContent-Type: multipart/related; boundary=\""...)
			b = append(b, inner...)
			b = append(b, "\"\r\n\r\n"...)
			json := appendDoc(nil, doc, rv, o, false)
			b = appendAttachmentParts(b, json, rv.Atts, o.attData, inner)
		default:
			b = append(b, "\r\nContent-Type: application/json\r\n\r\n"...)
			b = appendDoc(b, doc, rv, o, false)
		}
		b = append(b, "\r\n--"...)
		b = append(b, boundary...)
	}
	return append(b, "--"...)
}

// hasAttData reports whether some attachment of rv has data to send.
func hasAttData(rv *couch.Revision, data map[string][]byte) bool {
	for i := range rv.Atts {
		if _, ok := data[rv.Atts[i].Digest]; ok {
			return true
		}
	}
	return false
}
