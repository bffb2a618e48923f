package httpapi

import (
	"context"
	"encoding/base64"
	"strconv"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// appendAttachments appends `_attachments` as couch_att:to_json does:
// content_type, revpos, digest, then either length and stub, length and
// follows, or the base64 data, then (att_encoding_info) encoding and
// encoded_length.
func appendAttachments(b []byte, atts []couch.Attachment, o *renderOpts) []byte {
	b = append(b, `,"_attachments":{`...)
	for i := range atts {
		a := &atts[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = rawjson.AppendString(b, a.Name)
		b = append(b, `:{"content_type":`...)
		b = rawjson.AppendString(b, a.ContentType)
		b = append(b, `,"revpos":`...)
		b = strconv.AppendInt(b, int64(a.RevPos), 10)
		if a.Digest != "" {
			b = append(b, `,"digest":`...)
			b = rawjson.AppendString(b, a.Digest)
		}
		stored, withData := o.attData[a.Digest]
		switch {
		case !withData:
			b = append(b, `,"length":`...)
			b = strconv.AppendInt(b, a.Length, 10)
			b = append(b, `,"stub":true`...)
		case o.follows:
			b = append(b, `,"length":`...)
			b = strconv.AppendInt(b, a.Length, 10)
			b = append(b, `,"follows":true`...)
		default:
			data, err := a.Identity(stored)
			if err != nil {
				data = stored
			}
			b = append(b, `,"data":"`...)
			b = base64.StdEncoding.AppendEncode(b, data)
			b = append(b, '"')
		}
		if o.attEncodingInfo && a.Encoding != "" {
			b = append(b, `,"encoding":`...)
			b = rawjson.AppendString(b, a.Encoding)
			b = append(b, `,"encoded_length":`...)
			b = strconv.AppendInt(b, a.EncodedLength, 10)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// loadAttachments fetches the stored bytes of the attachments of rv with a
// revpos above sincePos (all when sincePos is 0) into data.
func (a *API) loadAttachments(ctx context.Context, db, id string, rv *couch.Revision, sincePos int, data map[string][]byte) (map[string][]byte, error) {
	if len(rv.Atts) == 0 {
		return data, nil
	}
	ar := a.b
	for i := range rv.Atts {
		att := &rv.Atts[i]
		if att.RevPos <= sincePos {
			continue
		}
		if _, ok := data[att.Digest]; ok {
			continue
		}
		stored, err := ar.AttachmentData(ctx, db, id, att.Digest)
		if err != nil {
			return data, err
		}
		if data == nil {
			data = map[string][]byte{}
		}
		data[att.Digest] = stored
	}
	return data, nil
}

// attsSincePos is couch_db:find_ancestor_rev_pos: the position of the newest
// revision on rev's path that is among since (0 when none is).
func attsSincePos(doc *couch.Document, rev couch.Rev, since []couch.Rev) int {
	if len(since) == 0 || doc.Tree == nil {
		return 0
	}
	for _, r := range doc.Tree.Path(rev) {
		for _, s := range since {
			if r == s {
				return r.Pos
			}
		}
	}
	return 0
}

// copyAttachments gives the copy of a document the source's attachments,
// with their stored (possibly gzipped) bytes.
func (a *API) copyAttachments(rq *request, db, srcID string, atts []couch.Attachment, doc *couch.Doc) error {
	if len(atts) == 0 {
		return nil
	}
	ar := a.b
	for _, att := range atts {
		data, err := ar.AttachmentData(rq.ctx, db, srcID, att.Digest)
		if err != nil {
			return err
		}
		att.RevPos = 0
		att.SetEncodedData(data)
		doc.Atts = append(doc.Atts, att)
	}
	return nil
}

// appendAttachmentParts appends the multipart/related body of a document
// whose attachments follow it (couch_httpd_multipart:encode_multipart_stream,
// attachments sent as stored):
//
//	--B\r\nContent-Type: application/json\r\n\r\n<json>\r\n--B
//	\r\nContent-Disposition: attachment; filename="n"\r\nContent-Type: t
//	\r\nContent-Length: L[\r\nContent-Encoding: gzip]\r\n\r\n<data>\r\n--B ... --
func appendAttachmentParts(b, json []byte, atts []couch.Attachment, data map[string][]byte, boundary string) []byte {
	b = append(b, "--"...)
	b = append(b, boundary...)
	b = append(b, "\r\nContent-Type: application/json\r\n\r\n"...)
	b = append(b, json...)
	b = append(b, "\r\n--"...)
	b = append(b, boundary...)
	for i := range atts {
		att := &atts[i]
		stored, ok := data[att.Digest]
		if !ok {
			continue
		}
		b = append(b, "\r\nContent-Disposition: attachment; filename=\""...)
		b = append(b, att.Name...)
		b = append(b, "\"\r\nContent-Type: "...)
		b = append(b, att.ContentType...)
		b = append(b, "\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(stored)), 10)
		if att.Encoding != "" {
			b = append(b, "\r\nContent-Encoding: "...)
			b = append(b, att.Encoding...)
		}
		b = append(b, "\r\n\r\n"...)
		b = append(b, stored...)
		b = append(b, "\r\n--"...)
		b = append(b, boundary...)
	}
	return append(b, "--"...)
}
