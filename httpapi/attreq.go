package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/divandb/divan/internal/couch"
)

var errMissingAtt = couch.Errorf(couch.CodeNotFound, "Document is missing attachment")

// attachmentName returns the attachment name of /{db}/{docid}/{name...}:
// the remaining path segments joined by "/" (chttpd_db:db_attachment_req).
func attachmentName(rq *request, id string) string {
	skip := 2
	if strings.HasPrefix(id, "_design/") {
		skip = 3
	}
	if len(rq.parts) <= skip {
		return ""
	}
	return strings.Join(rq.parts[skip:], "/")
}

// validateAttName is couch_httpd_db:validate_attachment_name.
func validateAttName(name string) error {
	if strings.HasPrefix(name, "_") {
		return badRequest("Attachment name '" + name + "' starts with prohibited character '_'")
	}
	if !utf8.ValidString(name) {
		return badRequest("Attachment name '" + name + "' is not UTF-8 encoded")
	}
	return nil
}

// attachmentRequest serves /{db}/{docid}/{attname...}.
func (a *API) attachmentRequest(rq *request, db, id string) error {
	name := attachmentName(rq, id)
	switch rq.method {
	case http.MethodGet:
		return a.getAttachment(rq, db, id, name)
	case http.MethodPut, http.MethodDelete:
		return a.putAttachment(rq, db, id, name)
	}
	return notAllowed("DELETE,GET,HEAD,PUT")
}

// getAttachment serves GET/HEAD of one attachment: identity bytes (or the
// stored gzip when the client accepts it), ETag from the digest, ranges.
func (a *API) getAttachment(rq *request, db, id, name string) error {
	var opts couch.OpenOptions
	if v, ok := rq.qs("rev"); ok {
		r, err := couch.ParseRev(v)
		if err != nil {
			return err
		}
		opts.Rev = r
	}
	doc, err := a.b.OpenDoc(rq.ctx, db, id, readOptions(rq, opts))
	if err != nil {
		return err
	}
	rv := firstRevision(doc)
	if rv == nil {
		return couch.ErrNotFound
	}
	var att *couch.Attachment
	for i := range rv.Atts {
		if rv.Atts[i].Name == name {
			att = &rv.Atts[i]
			break
		}
	}
	if att == nil {
		return errMissingAtt
	}
	md5b64 := strings.TrimPrefix(att.Digest, "md5-")
	etag := `"` + md5b64 + `"`
	h := rq.w.Header()
	h["ETag"] = []string{etag}
	if etagMatch(rq.r, etag) {
		rq.sendEmpty(http.StatusNotModified)
		return nil
	}
	stored, err := a.b.AttachmentData(rq.ctx, db, id, att.Digest)
	if err != nil {
		return err
	}
	encoded := att.Encoding != "" && att.Encoding != "identity"
	acceptsEnc := encoded && acceptsEncoding(rq.r, att.Encoding)
	h["Cache-Control"] = mustRevalidate
	h["Content-Type"] = []string{att.ContentType}
	data := stored
	switch {
	case acceptsEnc:
		h["Content-Encoding"] = []string{att.Encoding}
	case encoded:
		if data, err = att.Identity(stored); err != nil {
			return err
		}
	}
	if encoded {
		h["Accept-Ranges"] = []string{"none"}
	} else {
		h["Accept-Ranges"] = []string{"bytes"}
		if rg := rq.r.Header.Get("Range"); rg != "" {
			ranges, err := parseByteRanges(rg, int64(len(data)))
			if err != nil {
				return err
			}
			switch {
			case len(ranges) == 1:
				r := ranges[0]
				h["Content-Range"] = []string{"bytes " + strconv.FormatInt(r[0], 10) + "-" + strconv.FormatInt(r[1], 10) + "/" + strconv.Itoa(len(data))}
				return a.sendBytes(rq, http.StatusPartialContent, data[r[0]:r[1]+1])
			case len(ranges) > 1 && len(ranges) < 10:
				return a.sendRanges(rq, att.ContentType, data, ranges)
			}
		}
	}
	if !encoded || acceptsEnc {
		h["Content-MD5"] = []string{md5b64}
	}
	return a.sendBytes(rq, http.StatusOK, data)
}

func (a *API) sendBytes(rq *request, status int, data []byte) error {
	rq.w.Header()["Content-Length"] = []string{strconv.Itoa(len(data))}
	rq.writeHeader(status)
	return rq.writeChunk(data)
}

// sendRanges answers a multi-range request with multipart/byteranges
// (chttpd_db:send_ranges_multipart).
func (a *API) sendRanges(rq *request, ctype string, data []byte, ranges [][2]int64) error {
	boundary := a.uuids.random()
	var b bytes.Buffer
	for _, r := range ranges {
		b.WriteString("\r\n--" + boundary + "\r\n")
		b.WriteString("Content-Type: " + ctype + "\r\n")
		b.WriteString("Content-Range: bytes " + strconv.FormatInt(r[0], 10) + "-" + strconv.FormatInt(r[1], 10) + "/" + strconv.Itoa(len(data)) + "\r\n\r\n")
		b.Write(data[r[0] : r[1]+1])
	}
	b.WriteString("\r\n--" + boundary + "--")
	rq.w.Header()["Content-Type"] = []string{"multipart/byteranges; boundary=\"" + boundary + "\""}
	return a.sendBytes(rq, http.StatusPartialContent, b.Bytes())
}

var errRange = couch.Errorf(couch.CodeRangeNotSatisfied, "Requested range not satisfiable")

// parseByteRanges parses a Range header as chttpd_db:parse_ranges does.
// It returns nil for the whole entity (or a header it does not understand).
func parseByteRanges(hdr string, size int64) ([][2]int64, error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(hdr), "bytes=")
	if !ok {
		return nil, nil
	}
	var out [][2]int64
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		fs, ts, ok := strings.Cut(part, "-")
		if !ok {
			return nil, nil
		}
		var from, to int64
		switch {
		case fs == "" && ts == "":
			return nil, nil
		case fs == "": // suffix
			n, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				return nil, nil
			}
			from, to = max(size-n, 0), size-1
		default:
			f, err := strconv.ParseInt(fs, 10, 64)
			if err != nil {
				return nil, nil
			}
			from = f
			if ts == "" {
				if f == 0 && len(out) == 0 {
					return nil, nil // bytes=0-: the whole entity
				}
				to = size - 1
			} else {
				t, err := strconv.ParseInt(ts, 10, 64)
				if err != nil {
					return nil, nil
				}
				if t < f {
					return nil, errRange
				}
				to = min(t, size-1)
			}
		}
		if from >= size || from > to {
			return nil, errRange
		}
		out = append(out, [2]int64{from, to})
	}
	return out, nil
}

// acceptsEncoding reports whether Accept-Encoding allows enc (q > 0).
func acceptsEncoding(r *http.Request, enc string) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(part, ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name != enc && name != "*" {
				continue
			}
			q := 1.0
			if k, val, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(k) == "q" {
				if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
					q = f
				}
			}
			if q > 0 {
				return true
			}
		}
	}
	return false
}

// putAttachment serves PUT and DELETE of one attachment: the named revision
// (?rev= or If-Match; a new document without one) gets the attachment
// added, replaced or removed, the others kept as stubs.
func (a *API) putAttachment(rq *request, db, id, name string) error {
	if name == "" {
		return badRequest("Attachment name can't be empty")
	}
	if err := validateAttName(name); err != nil {
		return err
	}
	if err := couch.ValidateDocID(id); err != nil {
		return err
	}
	var rev couch.Rev
	hasRev := false
	if v, ok := rq.qs("rev"); ok {
		r, err := couch.ParseRev(v)
		if err != nil {
			return err
		}
		rev, hasRev = r, true
	} else if r, ok, err := ifMatchRev(rq); err != nil {
		return err
	} else if ok {
		rev, hasRev = r, true
	}
	doc := &couch.Doc{ID: id, Body: []byte("{}")}
	var prev []couch.Attachment
	if hasRev {
		cur, err := a.b.OpenDoc(rq.ctx, db, id, readOptions(rq, couch.OpenOptions{OpenRevs: []couch.Rev{rev}}))
		if err != nil {
			if errors.Is(err, couch.ErrNotFound) || errors.Is(err, couch.ErrDeleted) {
				return couch.ErrConflict
			}
			return err
		}
		rv := firstRevision(cur)
		if rv == nil {
			return couch.ErrConflict
		}
		doc.Rev = rv.Rev
		if len(rv.Body) > 0 {
			doc.Body = rv.Body
		}
		prev = rv.Atts
	} else if rq.method == http.MethodDelete {
		// A missing document is a 404 rather than a conflict.
		if _, err := a.b.OpenDoc(rq.ctx, db, id, readOptions(rq, couch.OpenOptions{})); err != nil {
			return err
		}
	}
	atts := []couch.Attachment{}
	found := false
	for _, p := range prev {
		if p.Name == name {
			found = true
			continue
		}
		atts = append(atts, couch.Attachment{Name: p.Name, ContentType: p.ContentType, RevPos: p.RevPos, Digest: p.Digest, Stub: true})
	}
	if rq.method == http.MethodDelete {
		if hasRev && !found {
			return errMissingAtt
		}
	} else {
		att, err := a.readAttachmentBody(rq, name)
		if err != nil {
			return err
		}
		atts = append(atts, att)
	}
	doc.Atts = atts
	newRev, accepted, err := a.updateOne(rq.ctx, db, doc, true, rq.qsInt("w", 0))
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if accepted {
		status = http.StatusAccepted
	}
	if rq.method == http.MethodDelete {
		status = http.StatusOK
	} else {
		rq.w.Header()["Location"] = []string{rq.absoluteURI("/" + couchURLEncode(db) + "/" + couchURLEncode(id) + "/" + couchURLEncode(name))}
	}
	rq.sendJSON(status, appendUpdateResult(rq.buf[:0], id, newRev))
	return nil
}

// readAttachmentBody reads a standalone attachment upload: the raw body
// with its Content-Type, stored gzip-encoded when it arrives so.
func (a *API) readAttachmentBody(rq *request, name string) (couch.Attachment, error) {
	pol := a.b.AttachmentPolicy()
	ctype := rq.r.Header.Get("Content-Type")
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	att := couch.Attachment{Name: name, ContentType: ctype}
	limit := pol.MaxSize
	if limit <= 0 {
		limit = 1 << 62
	}
	if rq.r.ContentLength > limit {
		rq.w.Header()["Connection"] = connectionClose
		return att, couch.Errorf(couch.CodeAttTooLarge, "%s", name)
	}
	var data []byte
	if rq.r.Body != nil {
		d, err := io.ReadAll(io.LimitReader(rq.r.Body, limit+1))
		if err != nil {
			return att, err
		}
		if int64(len(d)) > limit {
			rq.w.Header()["Connection"] = connectionClose
			return att, couch.Errorf(couch.CodeAttTooLarge, "%s", name)
		}
		data = d
	}
	if data == nil {
		data = []byte{}
	}
	if enc := strings.ToLower(strings.TrimSpace(rq.r.Header.Get("Content-Encoding"))); enc == "gzip" {
		att.Encoding = "gzip"
		identity, err := att.Identity(data)
		if err != nil {
			return att, badRequest("Invalid gzip attachment body")
		}
		att.Length = int64(len(identity))
		att.SetEncodedData(data)
		return att, nil
	}
	if err := att.SetData(data, pol); err != nil {
		return att, err
	}
	return att, nil
}
