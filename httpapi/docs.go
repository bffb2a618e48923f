package httpapi

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// batchTimeout bounds a ?batch=ok write that runs after its response.
const batchTimeout = time.Minute

// docRequest serves /{db}/{docid} (chttpd_db:db_doc_req).
func (a *API) docRequest(rq *request, db, id string) error {
	switch rq.method {
	case http.MethodGet:
		return a.getDoc(rq, db, id)
	case http.MethodPut:
		return a.putDoc(rq, db, id)
	case http.MethodDelete:
		return a.deleteDoc(rq, db, id)
	case "COPY":
		return a.copyDoc(rq, db, id)
	case http.MethodPost:
		// multipart/form-data attachment upload: with attachments.
		return errNotImpl
	}
	return notAllowed("DELETE,GET,HEAD,POST,PUT,COPY")
}

// readOptions builds fabric read options with the request's ?r=.
func readOptions(rq *request, o couch.OpenOptions) fabric.ReadOptions {
	return fabric.ReadOptions{OpenOptions: o, R: rq.qsInt("r", 0)}
}

func (a *API) getDoc(rq *request, db, id string) error {
	q, err := parseDocQuery(rq)
	if err != nil {
		return err
	}
	if q.hasOpenRevs {
		return a.openRevs(rq, db, id, q)
	}
	var opts couch.OpenOptions
	winner := q.rev.IsZero()
	if !winner {
		if q.latest {
			opts.OpenRevs, opts.Latest = []couch.Rev{q.rev}, true
		} else {
			opts.Rev = q.rev
		}
	}
	doc, err := a.openDoc(rq, db, id, fabric.ReadOptions{OpenOptions: opts, R: q.r})
	if err != nil {
		return err
	}
	rv := firstRevision(doc)
	if rv == nil {
		return couch.ErrNotFound
	}
	o := renderOpts{revs: q.revs, revsInfo: q.revsInfo, conflicts: q.conflicts,
		deletedConflicts: q.deletedConflicts, localSeq: q.localSeq, attEncodingInfo: q.attEncodingInfo}
	meta := winner && o.hasMeta(doc)
	if !meta {
		etag := docETag(id, rv.Rev, rv.Body)
		rq.w.Header()["ETag"] = []string{etag}
		if etagMatch(rq.r, etag) {
			rq.sendEmpty(http.StatusNotModified)
			return nil
		}
	}
	if (q.attachments || q.attsSince != nil) && len(rv.Atts) > 0 {
		return a.sendDocWithAttachments(rq, db, doc, rv, o, winner, q.attsSince)
	}
	b := appendDoc(rq.buf[:0], doc, rv, o, winner)
	rq.sendJSON(http.StatusOK, b)
	return nil
}

// sendDocWithAttachments sends a document with its attachment data
// (?attachments=true, ?atts_since=): multipart/related when the client
// accepts it, else inline base64 (chttpd_db:send_doc_efficiently).
func (a *API) sendDocWithAttachments(rq *request, db string, doc *couch.Document, rv *couch.Revision, o renderOpts, meta bool, since []couch.Rev) error {
	data, err := a.loadAttachments(rq.ctx, db, doc.ID, rv, attsSincePos(doc, rv.Rev, since), nil)
	if err != nil {
		return err
	}
	o.attData = data
	if !accepts(rq.r, "multipart/related") {
		rq.sendJSON(http.StatusOK, appendDoc(rq.buf[:0], doc, rv, o, meta))
		return nil
	}
	o.follows, o.attEncodingInfo = true, true
	if len(data) == 0 {
		// Every attachment is a stub: the multipart stream is just JSON.
		rq.sendJSON(http.StatusOK, appendDoc(rq.buf[:0], doc, rv, o, meta))
		return nil
	}
	json := appendDoc(nil, doc, rv, o, meta)
	boundary := a.uuids.random()
	b := appendAttachmentParts(rq.buf[:0], json, rv.Atts, data, boundary)
	h := rq.w.Header()
	h.Set("Content-Type", `multipart/related; boundary="`+boundary+`"`)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	rq.writeHeader(http.StatusOK)
	rq.buf = b
	return rq.writeChunk(b)
}

// firstRevision returns the first revision of doc that was found.
func firstRevision(doc *couch.Document) *couch.Revision {
	for i := range doc.Revisions {
		if !doc.Revisions[i].Missing {
			return &doc.Revisions[i]
		}
	}
	return nil
}

// parseDocBody is couch_db:doc_from_json_obj_validate: parse a document
// body, validate a body `_id` and enforce max_document_size. data must
// already be known to be valid JSON in UTF-8.
func (a *API) parseDocBody(data []byte) (*couch.Doc, error) {
	doc, err := couch.ParseValidDoc(data)
	if err != nil {
		return nil, err
	}
	if doc.ID != "" || hasIDMember(data) {
		if err := couch.ValidateDocID(doc.ID); err != nil {
			return nil, err
		}
	}
	if int64(len(doc.Body)) > a.conf().MaxDocumentSize {
		return nil, couch.Errorf(couch.CodeDocTooLarge, "%s", doc.ID)
	}
	return doc, nil
}

var errStopScan = errors.New("stop")

// hasIDMember reports whether the object data has a top-level "_id" member
// (ParseDoc cannot tell an absent id from an empty one).
func hasIDMember(data []byte) bool {
	if !bytes.Contains(data, []byte(`"_id"`)) {
		return false
	}
	found := false
	_ = rawjson.Members(data, func(m rawjson.Member) error {
		if m.Key == "_id" {
			found = true
			return errStopScan
		}
		return nil
	})
	return found
}

// ifMatchRev parses the If-Match header as a rev.
func ifMatchRev(rq *request) (couch.Rev, bool, error) {
	v := rq.r.Header.Get("If-Match")
	if v == "" {
		return couch.Rev{}, false, nil
	}
	r, err := couch.ParseRev(strings.Trim(v, `"`))
	if err != nil {
		return couch.Rev{}, false, err
	}
	return r, true, nil
}

// applyRequestRev is chttpd_db:couch_doc_from_req: the revision comes from
// the body, ?rev= or If-Match, and they must agree.
func applyRequestRev(rq *request, doc *couch.Doc) error {
	var qsRev couch.Rev
	hasQS := false
	if v, ok := rq.qs("rev"); ok {
		r, err := couch.ParseRev(v)
		if err != nil {
			return err
		}
		qsRev, hasQS = r, true
	}
	hdr, hasHdr, err := ifMatchRev(rq)
	if err != nil {
		return err
	}
	if !doc.Rev.IsZero() {
		if hasQS && qsRev != doc.Rev {
			return badRequest("Document rev from request body and query string have different values")
		}
		if hasHdr && hdr != doc.Rev {
			return badRequest("Document rev and etag have different values")
		}
		return nil
	}
	switch {
	case hasQS && hasHdr && qsRev != hdr:
		return badRequest("Document rev and etag have different values")
	case hasQS:
		doc.Rev = qsRev
	case hasHdr:
		doc.Rev = hdr
	}
	return nil
}

// updateOne writes one document and returns its new revision.
func (a *API) updateOne(ctx context.Context, db string, doc *couch.Doc, newEdits bool, w int) (couch.Rev, bool, error) {
	res, err := a.updateDocs(ctx, db, []*couch.Doc{doc}, fabric.WriteOptions{NewEdits: newEdits, W: w})
	if err != nil {
		return couch.Rev{}, false, err
	}
	if len(res) != 1 {
		return couch.Rev{}, false, errors.New("httpapi: backend returned no result for the document")
	}
	if res[0].Err != nil {
		return couch.Rev{}, false, res[0].Err
	}
	rev := res[0].Rev
	if rev.IsZero() && !newEdits {
		rev = doc.Rev // replicated write: the revision given
	}
	return rev, res[0].Accepted, nil
}

// batchWrite writes doc after the response was sent (?batch=ok).
func (a *API) batchWrite(ctx context.Context, db string, doc *couch.Doc, newEdits bool, w int) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	a.batches.Add(1)
	a.pending.Add(1)
	go func() {
		defer a.batches.Done()
		defer a.pending.Add(-1)
		defer cancel()
		if _, _, err := a.updateOne(ctx, db, doc, newEdits, w); err != nil {
			a.log.DebugContext(ctx, "batch doc error", "db", db, "doc_id", doc.ID, "err", err)
		}
	}()
}

func (a *API) putDoc(rq *request, db, id string) error {
	q, err := parseDocQuery(rq)
	if err != nil {
		return err
	}
	if err := couch.ValidateDocID(id); err != nil {
		return err
	}
	data, err := rq.body()
	if err != nil {
		return err
	}
	var doc *couch.Doc
	if ct := rq.r.Header.Get("Content-Type"); strings.HasPrefix(ct, "multipart/related;") {
		doc, err = a.docFromMultipart(ct, data)
	} else {
		if !rawjson.Valid(data) {
			return errInvalidJSON
		}
		doc, err = a.parseDocBody(data)
	}
	if err != nil {
		return err
	}
	if err := applyRequestRev(rq, doc); err != nil {
		return err
	}
	doc.ID = id
	if !q.newEdits && doc.Rev.IsZero() {
		return badRequest("When `new_edits: false`, the document needs `_rev` or `_revisions` specified")
	}
	if v, _ := rq.qs("batch"); v == "ok" {
		a.batchWrite(rq.ctx, db, doc, q.newEdits, q.w)
		b := append(rq.buf[:0], `{"ok":true,"id":`...)
		b = rawjson.AppendString(b, id)
		rq.sendJSON(http.StatusAccepted, append(b, '}'))
		return nil
	}
	rev, accepted, err := a.updateOne(rq.ctx, db, doc, q.newEdits, q.w)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	switch {
	case accepted:
		status = http.StatusAccepted
	case doc.Deleted:
		status = http.StatusOK
	}
	h := rq.w.Header()
	h["ETag"] = []string{docETag(id, rev, doc.Body)}
	h["Location"] = []string{rq.absoluteURI("/" + couchURLEncode(db) + "/" + couchURLEncode(id))}
	rq.sendJSON(status, appendUpdateResult(rq.buf[:0], id, rev))
	return nil
}

// postDoc serves POST /{db}: create a document, with a generated id when
// the body has none.
func (a *API) postDoc(rq *request, db string) error {
	if err := rq.requireJSONCType(); err != nil {
		return err
	}
	w := rq.qsInt("w", 0)
	data, err := rq.body()
	if err != nil {
		return err
	}
	if !rawjson.Valid(data) {
		return errInvalidJSON
	}
	doc, err := a.parseDocBody(data)
	if err != nil {
		return err
	}
	if doc.ID == "" {
		doc.ID = a.uuids.next()
		doc.Rev, doc.Revisions = couch.Rev{}, nil
	}
	if v, _ := rq.qs("batch"); v == "ok" {
		a.batchWrite(rq.ctx, db, doc, true, w)
		b := append(rq.buf[:0], `{"ok":true,"id":`...)
		b = rawjson.AppendString(b, doc.ID)
		rq.sendJSON(http.StatusAccepted, append(b, '}'))
		return nil
	}
	rev, accepted, err := a.updateOne(rq.ctx, db, doc, true, w)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if accepted {
		status = http.StatusAccepted
	}
	rq.w.Header()["Location"] = []string{rq.absoluteURI("/" + couchURLEncode(db) + "/" + couchURLEncode(doc.ID))}
	rq.sendJSON(status, appendUpdateResult(rq.buf[:0], doc.ID, rev))
	return nil
}

func (a *API) deleteDoc(rq *request, db, id string) error {
	// CouchDB opens the document first so that a missing one is a 404.
	if _, err := a.b.OpenDoc(rq.ctx, db, id, readOptions(rq, couch.OpenOptions{})); err != nil {
		return err
	}
	doc := &couch.Doc{ID: id, Deleted: true, Body: []byte("{}")}
	if err := applyRequestRev(rq, doc); err != nil {
		return err
	}
	rev, accepted, err := a.updateOne(rq.ctx, db, doc, true, rq.qsInt("w", 0))
	if err != nil {
		return err
	}
	status := http.StatusOK
	if accepted {
		status = http.StatusAccepted
	}
	rq.w.Header()["ETag"] = []string{docETag(id, rev, doc.Body)}
	rq.sendJSON(status, appendUpdateResult(rq.buf[:0], id, rev))
	return nil
}
