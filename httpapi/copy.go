package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/couch"
)

// copyDoc serves COPY /{db}/{docid} with a Destination header.
func (a *API) copyDoc(rq *request, db, id string) error {
	var srcRev couch.Rev
	if v, ok := rq.qs("rev"); ok {
		r, err := couch.ParseRev(v)
		if err != nil {
			return err
		}
		srcRev = r
	}
	if hdr, has, err := ifMatchRev(rq); err != nil {
		return err
	} else if has {
		if !srcRev.IsZero() && hdr != srcRev {
			return badRequest("Document rev and etag have different values")
		}
		srcRev = hdr
	}
	target, targetRev, err := parseDestination(rq.r.Header.Get("Destination"))
	if err != nil {
		return err
	}
	opts := couch.OpenOptions{Rev: srcRev}
	src, err := a.openDoc(rq, db, id, fabric.ReadOptions{OpenOptions: opts})
	if err != nil {
		return err
	}
	rv := firstRevision(src)
	if rv == nil {
		return couch.ErrNotFound
	}
	if err := couch.ValidateDocID(target); err != nil {
		return err
	}
	doc := &couch.Doc{ID: target, Rev: targetRev, Deleted: rv.Deleted, Body: rv.Body}
	if err := a.copyAttachments(rq, db, id, rv.Atts, doc); err != nil {
		return err
	}
	rev, accepted, err := a.updateOne(rq.ctx, db, doc, true, 0)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if accepted {
		status = http.StatusAccepted
	}
	h := rq.w.Header()
	h["Location"] = []string{rq.absoluteURI("/" + couchURLEncode(db) + "/" + couchURLEncode(target))}
	h["ETag"] = []string{docETag(target, rev, doc.Body)}
	rq.sendJSON(status, appendUpdateResult(rq.buf[:0], target, rev))
	return nil
}

// parseDestination is couch_httpd_db:parse_copy_destination_header: a
// relative doc id, optionally followed by ?rev=<rev> of the target.
func parseDestination(dest string) (string, couch.Rev, error) {
	if dest == "" {
		return "", couch.Rev{}, badRequest("Destination header is mandatory for COPY.")
	}
	if strings.HasPrefix(dest, "http://") || strings.HasPrefix(dest, "https://") {
		return "", couch.Rev{}, badRequest("Destination URL must be relative.")
	}
	var rev couch.Rev
	id, qs, hasQS := strings.Cut(dest, "?")
	if hasQS {
		_, v, _ := strings.Cut(qs, "=")
		r, err := couch.ParseRev(v)
		if err != nil {
			return "", couch.Rev{}, err
		}
		rev = r
	}
	if u, err := url.PathUnescape(id); err == nil {
		id = u
	}
	return id, rev, nil
}
