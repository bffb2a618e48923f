package httpapi

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"strings"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// mpPart is one attachment part of a multipart/related document body.
type mpPart struct {
	name string // from Content-Disposition filename, when given
	data []byte
}

var errBadMultipart = badRequest("Invalid multipart/related request body")

// splitMultipartRelated cuts a multipart/related document body
// (couch_httpd_multipart:parse_multipart_request) into its leading JSON
// part and the attachment parts, in order.
func splitMultipartRelated(ctype string, body []byte) ([]byte, []mpPart, error) {
	_, params, err := mime.ParseMediaType(ctype)
	if err != nil || params["boundary"] == "" {
		return nil, nil, errBadMultipart
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var json []byte
	var parts []mpPart
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, errBadMultipart
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, nil, errBadMultipart
		}
		if json == nil {
			json = data
			continue
		}
		part := mpPart{data: data}
		if cd := p.Header.Get("Content-Disposition"); cd != "" {
			if _, dp, err := mime.ParseMediaType(cd); err == nil {
				part.name = dp["filename"]
			}
		}
		parts = append(parts, part)
	}
	if json == nil {
		return nil, nil, errBadMultipart
	}
	return json, parts, nil
}

// followsOrder lists the names of the `_attachments` entries marked
// "follows", in the order the JSON gives them (the order of the parts).
func followsOrder(raw []byte) []string {
	var names []string
	_ = rawjson.Members(raw, func(m rawjson.Member) error {
		_ = rawjson.Members(m.Value, func(f rawjson.Member) error {
			if f.Key == "follows" && string(f.Value) == "true" {
				names = append(names, m.Key)
			}
			return nil
		})
		return nil
	})
	return names
}

// docFromMultipart parses a multipart/related document write: the JSON
// part is the document, and each "follows" attachment takes its data from
// the part named after it or else from the next part in order
// (couch_doc:doc_from_multi_part_stream).
func (a *API) docFromMultipart(ctype string, body []byte) (*couch.Doc, error) {
	json, parts, err := splitMultipartRelated(ctype, body)
	if err != nil {
		return nil, err
	}
	doc, err := a.parseDocBody(json)
	if err != nil {
		return nil, err
	}
	if doc.Attachments == nil {
		return doc, nil
	}
	pol := a.b.AttachmentPolicy()
	atts, err := couch.ParseAttachments(doc.Attachments, pol)
	if err != nil {
		return nil, err
	}
	byName := map[string][]byte{}
	var unnamed [][]byte
	for _, p := range parts {
		if p.name != "" {
			byName[p.name] = p.data
		} else {
			unnamed = append(unnamed, p.data)
		}
	}
	next := 0
	order := followsOrder(doc.Attachments)
	dataFor := map[string][]byte{}
	for _, name := range order {
		if d, ok := byName[name]; ok {
			dataFor[name] = d
			continue
		}
		if next < len(unnamed) {
			dataFor[name] = unnamed[next]
			next++
		}
	}
	for i := range atts {
		att := &atts[i]
		if !att.Follows {
			continue
		}
		data, ok := dataFor[att.Name]
		if !ok {
			return nil, badRequest("Missing attachment data for " + att.Name)
		}
		if enc := strings.ToLower(att.Encoding); enc != "" && enc != "identity" {
			if enc != "gzip" {
				return nil, badRequest("Unsupported attachment encoding " + att.Encoding)
			}
			att.Encoding = "gzip"
			if att.Length == 0 {
				identity, err := att.Identity(data)
				if err != nil {
					return nil, badRequest("Invalid gzip data for attachment " + att.Name)
				}
				att.Length = int64(len(identity))
			}
			att.SetEncodedData(data)
			continue
		}
		att.Encoding = ""
		if err := att.SetData(data, pol); err != nil {
			return nil, err
		}
	}
	doc.Atts = atts
	return doc, nil
}
