package couch

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
)

// Attachment is one entry of a revision's `_attachments`: its metadata as
// stored and rendered, and on writes the data to store.
type Attachment struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	// Digest is "md5-<base64>" of the stored bytes (gzipped ones when
	// Encoding is "gzip"), as CouchDB reports it.
	Digest string `json:"digest"`
	// Length is the identity (decoded) length.
	Length int64 `json:"length"`
	RevPos int   `json:"revpos"`
	// Encoding is "gzip" for compressible types stored compressed.
	Encoding      string `json:"encoding,omitempty"`
	EncodedLength int64  `json:"encoded_length,omitempty"`

	// Stub marks a write that keeps the parent revision's attachment.
	Stub bool `json:"-"`
	// Follows marks a write whose data arrives in a multipart part.
	Follows bool `json:"-"`
	// Data holds the bytes to store on a write (encoded when Encoding is
	// set); nil for stubs and in stored metadata.
	Data []byte `json:"-"`
}

// AttachmentPolicy says which content types are stored gzip-compressed
// ([attachments] compressible_types, compression_level).
type AttachmentPolicy struct {
	CompressibleTypes []string // e.g. "text/*", "application/json"
	CompressionLevel  int      // 0 disables compression
	MaxSize           int64    // [couchdb] max_attachment_size
}

// DefaultAttachmentPolicy is CouchDB's default.
func DefaultAttachmentPolicy() AttachmentPolicy {
	return AttachmentPolicy{
		CompressibleTypes: []string{"text/*", "application/javascript", "application/json", "application/xml"},
		CompressionLevel:  8,
		MaxSize:           1 << 30,
	}
}

func (p AttachmentPolicy) compressible(ctype string) bool {
	if p.CompressionLevel <= 0 {
		return false
	}
	ctype, _, _ = strings.Cut(ctype, ";")
	ctype = strings.TrimSpace(strings.ToLower(ctype))
	for _, pat := range p.CompressibleTypes {
		if ok, _ := path.Match(strings.TrimSpace(pat), ctype); ok {
			return true
		}
	}
	return false
}

// wireAttachment is an `_attachments` entry as clients send it.
type wireAttachment struct {
	ContentType   string          `json:"content_type"`
	Data          json.RawMessage `json:"data"`
	Stub          bool            `json:"stub"`
	Follows       bool            `json:"follows"`
	Digest        string          `json:"digest"`
	Length        *int64          `json:"length"`
	RevPos        int             `json:"revpos"`
	Encoding      string          `json:"encoding"`
	EncodedLength int64           `json:"encoded_length"`
}

// ParseAttachments decodes a raw `_attachments` object: inline base64 data,
// stubs and follows entries. Inline data is compressed and digested per
// policy, so the result is ready to store. Entries come back sorted by name.
func ParseAttachments(raw []byte, p AttachmentPolicy) ([]Attachment, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var m map[string]wireAttachment
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, Errorf(CodeBadRequest, "Bad _attachments object")
	}
	out := make([]Attachment, 0, len(m))
	for name, w := range m {
		a := Attachment{Name: name, ContentType: w.ContentType, RevPos: w.RevPos, Digest: w.Digest}
		if a.ContentType == "" {
			a.ContentType = "application/octet-stream"
		}
		switch {
		case w.Stub:
			a.Stub = true
		case w.Follows:
			a.Follows = true
			if w.Length != nil {
				a.Length = *w.Length
			}
			a.Encoding = w.Encoding
			a.EncodedLength = w.EncodedLength
		case w.Data != nil:
			var s string
			if err := json.Unmarshal(w.Data, &s); err != nil {
				return nil, Errorf(CodeBadRequest, "Invalid attachment data for %s", name)
			}
			data, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, Errorf(CodeBadRequest, "Invalid attachment data for %s", name)
			}
			if err := a.SetData(data, p); err != nil {
				return nil, err
			}
		default:
			return nil, Errorf(CodeBadRequest, "Invalid attachment stub in %s", name)
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// SetData sets identity bytes as the attachment's data, gzipping them when
// the content type is compressible, and computes length and digest.
func (a *Attachment) SetData(data []byte, p AttachmentPolicy) error {
	if p.MaxSize > 0 && int64(len(data)) > p.MaxSize {
		return Errorf(CodeAttTooLarge, "%s", a.Name)
	}
	a.Length = int64(len(data))
	a.Encoding, a.EncodedLength = "", 0
	stored := data
	if len(data) > 0 && p.compressible(a.ContentType) {
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, p.CompressionLevel)
		if err != nil {
			return err
		}
		zw.Write(data)
		if err := zw.Close(); err != nil {
			return err
		}
		stored = buf.Bytes()
		a.Encoding, a.EncodedLength = "gzip", int64(len(stored))
	}
	a.Data = stored
	a.Digest = Digest(stored)
	a.Stub, a.Follows = false, false
	return nil
}

// SetEncodedData sets already-encoded bytes (multipart parts that declare
// an encoding, replicated attachments), digesting them as stored.
func (a *Attachment) SetEncodedData(stored []byte) {
	a.Data = stored
	a.Digest = Digest(stored)
	if a.Encoding != "" {
		a.EncodedLength = int64(len(stored))
	} else {
		a.Length = int64(len(stored))
	}
	a.Stub, a.Follows = false, false
}

// Digest is CouchDB's attachment digest of stored bytes: "md5-<base64>".
func Digest(b []byte) string {
	sum := md5.Sum(b)
	return "md5-" + base64.StdEncoding.EncodeToString(sum[:])
}

// Identity returns the attachment's decoded bytes from its stored bytes.
func (a *Attachment) Identity(stored []byte) ([]byte, error) {
	if a.Encoding != "gzip" {
		return stored, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(stored))
	if err != nil {
		return nil, fmt.Errorf("attachment %s: %w", a.Name, err)
	}
	defer zr.Close()
	var out bytes.Buffer
	out.Grow(int(a.Length))
	if _, err := out.ReadFrom(zr); err != nil {
		return nil, fmt.Errorf("attachment %s: %w", a.Name, err)
	}
	return out.Bytes(), nil
}

// MarshalAttachments encodes stored attachment metadata (no data).
func MarshalAttachments(atts []Attachment) []byte {
	if len(atts) == 0 {
		return nil
	}
	b, _ := json.Marshal(atts)
	return b
}

// UnmarshalAttachments decodes what MarshalAttachments wrote.
func UnmarshalAttachments(b []byte) ([]Attachment, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var atts []Attachment
	if err := json.Unmarshal(b, &atts); err != nil {
		return nil, fmt.Errorf("couch: corrupt attachment metadata: %w", err)
	}
	return atts, nil
}
