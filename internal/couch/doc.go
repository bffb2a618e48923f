// Package couch holds CouchDB's document model as every Divan layer shares it:
// revisions, document parsing and rendering, doc id rules and the error
// vocabulary. It knows nothing of storage, clustering or HTTP.
package couch

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/divandb/divan/internal/rawjson"
)

// Rev is one revision: its position in the tree (generation) and its id.
// IDs Divan generates are 32 lowercase hex digits; ids replicated in from
// elsewhere are kept verbatim.
type Rev struct {
	Pos int
	ID  string
}

// IsZero reports whether r is the absent revision.
func (r Rev) IsZero() bool { return r.Pos == 0 && r.ID == "" }

// String renders r as CouchDB does: "<pos>-<id>".
func (r Rev) String() string {
	var buf [64]byte
	return string(r.AppendText(buf[:0]))
}

// AppendText appends r as String formats it.
func (r Rev) AppendText(b []byte) []byte {
	b = strconv.AppendInt(b, int64(r.Pos), 10)
	b = append(b, '-')
	return append(b, r.ID...)
}

// Less orders revisions by position, then by id bytes: CouchDB's order for
// choosing a winner among leaves of equal deletedness.
func (r Rev) Less(o Rev) bool {
	if r.Pos != o.Pos {
		return r.Pos < o.Pos
	}
	return r.ID < o.ID
}

// ParseRev parses "<pos>-<id>". pos must be a non-negative integer and id
// non-empty; anything else is ErrBadRev. As in CouchDB (couch_doc:parse_rev),
// an id of exactly 32 characters must be hex and is normalized to lowercase;
// any other id is kept verbatim.
func ParseRev(s string) (Rev, error) {
	dash := strings.IndexByte(s, '-')
	if dash <= 0 || dash == len(s)-1 {
		return Rev{}, ErrBadRev
	}
	pos, err := strconv.Atoi(s[:dash])
	if err != nil || pos < 0 {
		return Rev{}, ErrBadRev
	}
	id, ok := parseRevID(s[dash+1:])
	if !ok {
		return Rev{}, ErrBadRev
	}
	return Rev{Pos: pos, ID: id}, nil
}

// parseRevID applies couch_doc:parse_revid: a 32-character id is a 128-bit
// hex number (printed back in lowercase); ok is false when it is not hex.
func parseRevID(id string) (string, bool) {
	if len(id) != 32 {
		return id, true
	}
	upper := false
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			upper = true
		default:
			return "", false
		}
	}
	if upper {
		id = strings.ToLower(id)
	}
	return id, true
}

// RevPath is a branch of a revision tree as `_revisions` carries it: the
// position of the newest revision and ids newest first.
type RevPath struct {
	Start int
	IDs   []string
}

// Revs returns the path's revisions, newest first.
func (p RevPath) Revs() []Rev {
	revs := make([]Rev, len(p.IDs))
	for i, id := range p.IDs {
		revs[i] = Rev{Pos: p.Start - i, ID: id}
	}
	return revs
}

// Doc is a document as a client writes it: the special members parsed out and
// the rest of the body kept as compact raw JSON in the client's key order.
type Doc struct {
	ID        string
	Rev       Rev      // from _rev; zero when absent
	Revisions *RevPath // from _revisions; nil when absent
	Deleted   bool
	// Body is a JSON object of the non-special members, white space removed,
	// otherwise byte-for-byte as received.
	Body []byte
	// Attachments is the raw `_attachments` object, or nil.
	Attachments json.RawMessage
	// Atts is the parsed, ready-to-store form of Attachments (data decoded,
	// compressed and digested); fabric fills it from Attachments, multipart
	// parsing fills it directly.
	Atts []Attachment
	// NewRevID, when set on a new_edits write, is the id of the revision
	// the write creates over Rev: NewRevID(Rev, Deleted, Body, no
	// attachments), computed once by fabric for every copy instead of by
	// each. A copy that extends another parent (recreating a deleted
	// document) or stores attachments computes its own.
	NewRevID string
	// LocalVersion is a _local document's hidden version stamp: set by
	// fabric on every write of a _local document (from its clock, once for
	// all copies) and by internal replication (UpdateOptions.ReplicateLocal)
	// to the version it copies; see shard.applyLocal.
	LocalVersion uint64
}

// Size estimates the bytes d takes in a write: its body, its attachments
// and a fixed allowance for the rest. It bounds message sizes and the
// writes kept in flight to a node.
func (d *Doc) Size() int {
	n := 256 + len(d.ID) + len(d.Body)
	if d.Atts == nil {
		n += len(d.Attachments)
	}
	for i := range d.Atts {
		n += 128 + len(d.Atts[i].Data)
	}
	return n
}

// DocsSize is the sum of the docs' Size.
func DocsSize(docs []*Doc) int {
	n := 0
	for _, d := range docs {
		n += d.Size()
	}
	return n
}

// ignoredSpecials are specials CouchDB accepts in a document body and drops.
var ignoredSpecials = map[string]bool{
	"_revs_info": true, "_conflicts": true, "_deleted_conflicts": true,
	"_local_seq": true, "_access": true,
}

// bodySpecials are specials CouchDB keeps in the body (replication state of
// _replicator documents).
var bodySpecials = map[string]bool{
	"_replication_state": true, "_replication_state_time": true,
	"_replication_state_reason": true, "_replication_id": true,
	"_replication_stats": true,
}

func badSpecial(key string) error {
	return Errorf(CodeDocValidation, "Bad special document member: %s", key)
}

// ParseDoc parses a document body as couch_doc:from_json_obj does. It
// validates the JSON, extracts the specials and rejects members CouchDB
// rejects (400 doc_validation "Bad special document member: _x"). It does not
// validate the doc id: the caller knows whether the id came from the URL or
// the body.
//
// As in CouchDB, `_revisions` takes precedence over `_rev`: a `_rev` after
// `_revisions` is ignored, one before it is replaced by the head of
// `_revisions`; of several `_rev` members the first counts.
func ParseDoc(data []byte) (*Doc, error) {
	if !rawjson.Valid(data) {
		return nil, Errorf(CodeBadRequest, "invalid UTF-8 JSON")
	}
	return ParseValidDoc(data)
}

// ParseValidDoc is ParseDoc for text the caller has already validated as
// JSON in valid UTF-8 (a `_bulk_docs` body is validated once, not once per
// document); it must not be given anything else.
func ParseValidDoc(data []byte) (*Doc, error) {
	d := &Doc{}
	body := make([]byte, 0, len(data))
	body = append(body, '{')
	first := true
	revsSet := false // CouchDB's #doc.revs =/= {0, []}
	err := rawjson.Members(data, func(m rawjson.Member) error {
		if len(m.Key) == 0 || m.Key[0] != '_' || bodySpecials[m.Key] {
			if !first {
				body = append(body, ',')
			}
			first = false
			body = append(body, m.RawKey...)
			body = append(body, ':')
			var err error
			body, err = rawjson.Compact(body, m.Value)
			return err
		}
		switch m.Key {
		case "_id":
			s, ok := rawjson.String(m.Value)
			if !ok {
				return Errorf(CodeIllegalDocID, "Document id must be a string")
			}
			d.ID = s
		case "_rev":
			if revsSet {
				return nil
			}
			s, ok := rawjson.String(m.Value)
			if !ok {
				return ErrBadRev
			}
			rev, err := ParseRev(s)
			if err != nil {
				return err
			}
			d.Rev = rev
			revsSet = true
		case "_deleted":
			switch string(m.Value) {
			case "true":
				d.Deleted = true
			case "false":
				d.Deleted = false
			default:
				return badSpecial(m.Key)
			}
		case "_revisions":
			p, err := parseRevisions(m.Value)
			if err != nil {
				return err
			}
			d.Revisions = p
			d.Rev = Rev{}
			if len(p.IDs) > 0 {
				d.Rev = Rev{Pos: p.Start, ID: p.IDs[0]}
			}
			revsSet = p.Start != 0 || len(p.IDs) > 0
		case "_attachments":
			if m.Value[0] != '{' {
				return badSpecial(m.Key)
			}
			d.Attachments = json.RawMessage(m.Value) // aliases data: may be large
		default:
			if !ignoredSpecials[m.Key] {
				return badSpecial(m.Key)
			}
		}
		return nil
	})
	if err != nil {
		if err == rawjson.ErrNotObject {
			return nil, ErrNotObject
		}
		if ce, ok := err.(*Error); ok {
			return nil, ce
		}
		return nil, Errorf(CodeBadRequest, "invalid UTF-8 JSON")
	}
	d.Body = append(body, '}')
	return d, nil
}

// parseRevisions parses `_revisions` as couch_doc:transfer_fields does: the
// first "start" and "ids" members count, start must be an integer and ids an
// array of rev id strings.
func parseRevisions(v []byte) (*RevPath, error) {
	var start, ids []byte
	err := rawjson.Members(v, func(m rawjson.Member) error {
		switch {
		case m.Key == "start" && start == nil:
			start = m.Value
		case m.Key == "ids" && ids == nil:
			ids = m.Value
		}
		return nil
	})
	if err != nil {
		return nil, badSpecial("_revisions")
	}
	var p RevPath
	if !isJSONInt(start) {
		return nil, Errorf(CodeDocValidation, "_revisions.start isn't an integer.")
	}
	p.Start, err = strconv.Atoi(string(start))
	if err != nil || p.Start < 0 {
		return nil, Errorf(CodeDocValidation, "_revisions.start isn't an integer.")
	}
	if len(ids) == 0 || ids[0] != '[' {
		return nil, Errorf(CodeDocValidation, "_revisions.ids isn't a array.")
	}
	p.IDs = []string{}
	err = rawjson.Elements(ids, func(v []byte) error {
		s, ok := rawjson.String(v)
		if !ok || s == "" {
			return Errorf(CodeDocValidation, "RevId isn't a string")
		}
		if s, ok = parseRevID(s); !ok {
			return Errorf(CodeDocValidation, "RevId isn't a valid hexadecimal")
		}
		p.IDs = append(p.IDs, s)
		return nil
	})
	if err != nil {
		if ce, ok := err.(*Error); ok {
			return nil, ce
		}
		return nil, Errorf(CodeDocValidation, "_revisions.ids isn't a array.")
	}
	// Positions must stay >= 1 (CouchDB would make revisions at pos <= 0).
	if len(p.IDs) > p.Start {
		return nil, Errorf(CodeDocValidation, "RevId isn't a string")
	}
	return &p, nil
}

// isJSONInt reports whether v is a JSON number without fraction or exponent
// (what Erlang's JSON decoder turns into an integer).
func isJSONInt(v []byte) bool {
	if len(v) > 0 && v[0] == '-' {
		v = v[1:]
	}
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ValidateDocID applies CouchDB's doc id rules (couch_doc:validate_docid).
// Ids of _design/ and _local/ documents are allowed; any other leading
// underscore is not.
func ValidateDocID(id string) error {
	switch {
	case id == "":
		return Errorf(CodeIllegalDocID, "Document id must not be empty")
	case !utf8.ValidString(id):
		return Errorf(CodeIllegalDocID, "Document id must be valid UTF-8")
	case id == "_design/" || id == "_local/":
		return Errorf(CodeIllegalDocID, "Illegal document id `%s`", id)
	case id[0] == '_' && !strings.HasPrefix(id, "_design/") && !strings.HasPrefix(id, "_local/"):
		return Errorf(CodeIllegalDocID, "Only reserved document ids may start with underscore.")
	}
	return nil
}

// IsLocalID reports whether id names a _local document.
func IsLocalID(id string) bool { return strings.HasPrefix(id, "_local/") }

// InternalLocalPrefix starts the ids of the _local documents internal
// replication keeps per pair of copies (checkpoints, sequence histories).
// They are not user data: storage does not count them as changes to a
// copy's _local documents, and replication does not copy them.
const InternalLocalPrefix = "_local/shard-"

// IsInternalLocalID reports whether id is one of internal replication's
// own _local documents.
func IsInternalLocalID(id string) bool { return strings.HasPrefix(id, InternalLocalPrefix) }

// IsDesignID reports whether id names a design document.
func IsDesignID(id string) bool { return strings.HasPrefix(id, "_design/") }

// NewRevID computes the id of the revision that follows parent (zero for a
// new document) with the given body, deletedness and attachment digests. It
// is a pure function of its inputs, so every shard copy that applies the same
// edit produces the same revision, as CouchDB's couch_db:new_revid does.
func NewRevID(parent Rev, deleted bool, body []byte, attDigests []string) string {
	h := md5.New()
	var hdr [9]byte
	if deleted {
		hdr[0] = 1
	}
	binary.BigEndian.PutUint64(hdr[1:], uint64(parent.Pos))
	h.Write(hdr[:])
	writeLenPrefixed(h, []byte(parent.ID))
	writeLenPrefixed(h, body)
	for _, d := range attDigests {
		writeLenPrefixed(h, []byte(d))
	}
	var sum [md5.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

func writeLenPrefixed(h interface{ Write([]byte) (int, error) }, b []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	h.Write(n[:])
	h.Write(b)
}
