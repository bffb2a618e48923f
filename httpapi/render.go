package httpapi

import (
	"strconv"
	"strings"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// renderOpts are the document rendering options (couch_doc:to_json_obj).
type renderOpts struct {
	revs             bool // _revisions
	revsInfo         bool // _revs_info (meta)
	conflicts        bool // _conflicts (meta)
	deletedConflicts bool // _deleted_conflicts (meta)
	localSeq         bool // _local_seq (meta)
	attEncodingInfo  bool // encoding info in attachments
	// attData holds the stored bytes of the attachments to send with their
	// data (by digest); attachments not in it are stubs.
	attData map[string][]byte
	// follows renders attachments with data as "follows" (multipart)
	// instead of inline base64.
	follows bool
	// extraConflicts is rendered as `_conflicts` when meta is off (changes
	// and bulk rows that know the conflicts without the tree).
	extraConflicts []couch.Rev
}

// hasMeta reports whether rendering rv of doc with o adds any doc meta
// (_revs_info, _conflicts, _deleted_conflicts, _local_seq). CouchDB only
// sends an ETag for documents without meta.
func (o renderOpts) hasMeta(doc *couch.Document) bool {
	if doc.Tree == nil {
		return false
	}
	return o.revsInfo || o.localSeq ||
		o.conflicts && len(doc.Tree.Conflicts()) > 0 ||
		o.deletedConflicts && len(doc.Tree.DeletedConflicts()) > 0
}

// appendRev appends "<pos>-<id>".
func appendRev(b []byte, r couch.Rev) []byte {
	b = strconv.AppendInt(b, int64(r.Pos), 10)
	b = append(b, '-')
	return append(b, r.ID...)
}

// appendQuotedRev appends the rev as a JSON string.
func appendQuotedRev(b []byte, r couch.Rev) []byte {
	b = append(b, '"')
	b = appendRev(b, r)
	return append(b, '"')
}

// appendBodyMembers splices the members of a compact JSON object body after
// members already written (so it starts with a comma when non-empty).
func appendBodyMembers(b, body []byte) []byte {
	for len(body) > 0 && (body[0] == ' ' || body[0] == '\n' || body[0] == '\t' || body[0] == '\r') {
		body = body[1:]
	}
	for len(body) > 0 {
		c := body[len(body)-1]
		if c != ' ' && c != '\n' && c != '\t' && c != '\r' {
			break
		}
		body = body[:len(body)-1]
	}
	if len(body) < 2 || body[0] != '{' {
		return b
	}
	inner := body[1 : len(body)-1]
	if len(inner) == 0 {
		return b
	}
	b = append(b, ',')
	return append(b, inner...)
}

// appendDoc renders revision rv of doc in couch_doc:to_json_obj's member
// order: _id, _rev, the body members, _deleted, _revisions, _revs_info,
// _conflicts, _deleted_conflicts, _local_seq, _attachments. meta enables the
// doc meta members, which CouchDB only computes for a plain (winner) read.
func appendDoc(b []byte, doc *couch.Document, rv *couch.Revision, o renderOpts, meta bool) []byte {
	b = append(b, `{"_id":`...)
	b = rawjson.AppendString(b, doc.ID)
	if !rv.Rev.IsZero() {
		b = append(b, `,"_rev":`...)
		b = appendQuotedRev(b, rv.Rev)
	}
	b = appendBodyMembers(b, rv.Body)
	if rv.Deleted {
		b = append(b, `,"_deleted":true`...)
	}
	if o.revs {
		b = appendRevisions(b, doc, rv.Rev)
	}
	if meta && doc.Tree != nil {
		t := doc.Tree
		if o.revsInfo {
			if info := t.RevsInfo(rv.Rev); len(info) > 0 {
				b = append(b, `,"_revs_info":[`...)
				for i, ri := range info {
					if i > 0 {
						b = append(b, ',')
					}
					b = append(b, `{"rev":`...)
					b = appendQuotedRev(b, ri.Rev)
					b = append(b, `,"status":"`...)
					b = append(b, ri.Status...)
					b = append(b, `"}`...)
				}
				b = append(b, ']')
			}
		}
		if o.conflicts {
			b = appendRevArray(b, `,"_conflicts":`, t.Conflicts())
		}
		if o.deletedConflicts {
			b = appendRevArray(b, `,"_deleted_conflicts":`, t.DeletedConflicts())
		}
		if o.localSeq {
			b = append(b, `,"_local_seq":`...)
			b = strconv.AppendUint(b, doc.Seq, 10)
		}
	}
	if !meta && len(o.extraConflicts) > 0 {
		b = appendRevArray(b, `,"_conflicts":`, o.extraConflicts)
	}
	if len(rv.Atts) > 0 {
		b = appendAttachments(b, rv.Atts, &o)
	}
	return append(b, '}')
}

// appendRevisions appends `_revisions` for rev: {"start": pos, "ids": [...]}
// with the known ancestry, newest first.
func appendRevisions(b []byte, doc *couch.Document, rev couch.Rev) []byte {
	var ids []string
	if doc.Tree != nil {
		for _, r := range doc.Tree.Path(rev) {
			ids = append(ids, r.ID)
		}
	} else if !rev.IsZero() {
		ids = []string{rev.ID} // _local docs: {0, [N]}
	}
	if len(ids) == 0 {
		return b
	}
	b = append(b, `,"_revisions":{"start":`...)
	b = strconv.AppendInt(b, int64(rev.Pos), 10)
	b = append(b, `,"ids":`...)
	b = appendStrings(b, ids)
	return append(b, '}')
}

// appendRevArray appends `key` and a JSON array of revs, or nothing when
// revs is empty (CouchDB omits empty _conflicts).
func appendRevArray(b []byte, key string, revs []couch.Rev) []byte {
	if len(revs) == 0 {
		return b
	}
	b = append(b, key...)
	b = append(b, '[')
	for i, r := range revs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendQuotedRev(b, r)
	}
	return append(b, ']')
}

// docETag is couch_httpd:doc_etag: the quoted rev, or for _local documents
// (whose revs are counters) a hash of rev and body.
func docETag(id string, rev couch.Rev, body []byte) string {
	if couch.IsLocalID(id) {
		t := appendRev(make([]byte, 0, 16+len(body)), rev)
		t = append(t, 0)
		t = append(t, body...)
		return makeETag(t)
	}
	b := make([]byte, 0, 48)
	b = appendQuotedRev(b, rev)
	return string(b)
}

// appendUpdateResult appends {"ok":true,"id":..,"rev":..}.
func appendUpdateResult(b []byte, id string, rev couch.Rev) []byte {
	b = append(b, `{"ok":true,"id":`...)
	b = rawjson.AppendString(b, id)
	b = append(b, `,"rev":`...)
	b = appendQuotedRev(b, rev)
	return append(b, '}')
}

// appendSeq appends a sequence as CouchDB encodes it: a clustered seq is a
// JSON string, a shard-level database's (the node-local API's) an integer.
func appendSeq(b []byte, seq string) []byte {
	if seq != "" && strings.Trim(seq, "0123456789") == "" {
		return append(b, seq...)
	}
	return rawjson.AppendString(b, seq)
}
