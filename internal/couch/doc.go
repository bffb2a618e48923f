// Package couch holds CouchDB's document model as every Divan layer shares it:
// revisions, document parsing and rendering, doc id rules and the error
// vocabulary. It knows nothing of storage, clustering or HTTP.
package couch

import (
	"bytes"
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
func (r Rev) String() string { return strconv.Itoa(r.Pos) + "-" + r.ID }

// Less orders revisions by position, then by id bytes: CouchDB's order for
// choosing a winner among leaves of equal deletedness.
func (r Rev) Less(o Rev) bool {
	if r.Pos != o.Pos {
		return r.Pos < o.Pos
	}
	return r.ID < o.ID
}

// ParseRev parses "<pos>-<id>". pos must be a non-negative integer and id
// non-empty; anything else is ErrBadRev.
func ParseRev(s string) (Rev, error) {
	dash := strings.IndexByte(s, '-')
	if dash <= 0 || dash == len(s)-1 {
		return Rev{}, ErrBadRev
	}
	pos, err := strconv.Atoi(s[:dash])
	if err != nil || pos < 0 {
		return Rev{}, ErrBadRev
	}
	return Rev{Pos: pos, ID: s[dash+1:]}, nil
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
}

// specials CouchDB accepts in a document body and drops or handles itself.
var ignoredSpecials = map[string]bool{
	"_revs_info": true, "_conflicts": true, "_deleted_conflicts": true,
	"_local_seq": true, "_access": true,
}

// ParseDoc parses a document body. It validates the JSON, extracts the
// specials and rejects members CouchDB rejects (400 doc_validation "Bad
// special document member: _x"). It does not validate the doc id: the caller
// knows whether the id came from the URL or the body.
func ParseDoc(data []byte) (*Doc, error) {
	if !json.Valid(data) {
		return nil, Errorf(CodeBadRequest, "invalid UTF-8 JSON")
	}
	d := &Doc{}
	body := make([]byte, 0, len(data))
	body = append(body, '{')
	first := true
	err := rawjson.Members(data, func(m rawjson.Member) error {
		if len(m.Key) == 0 || m.Key[0] != '_' || strings.HasPrefix(m.Key, "_replication_") {
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
				return Errorf(CodeBadRequest, "Document id must be a string")
			}
			d.ID = s
		case "_rev":
			s, ok := rawjson.String(m.Value)
			if !ok {
				return ErrBadRev
			}
			rev, err := ParseRev(s)
			if err != nil {
				return err
			}
			d.Rev = rev
		case "_deleted":
			d.Deleted = bytes.Equal(bytes.TrimSpace(m.Value), []byte("true"))
		case "_revisions":
			p, err := parseRevisions(m.Value)
			if err != nil {
				return err
			}
			d.Revisions = p
		case "_attachments":
			v := bytes.TrimSpace(m.Value)
			if !bytes.Equal(v, []byte("null")) {
				d.Attachments = json.RawMessage(v)
			}
		default:
			if !ignoredSpecials[m.Key] {
				return Errorf(CodeDocValidation, "Bad special document member: %s", m.Key)
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
	if d.Revisions != nil && d.Rev.IsZero() && len(d.Revisions.IDs) > 0 {
		d.Rev = Rev{Pos: d.Revisions.Start, ID: d.Revisions.IDs[0]}
	}
	return d, nil
}

func parseRevisions(v []byte) (*RevPath, error) {
	var raw struct {
		Start json.RawMessage `json:"start"`
		IDs   json.RawMessage `json:"ids"`
	}
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, Errorf(CodeDocValidation, "_revisions is not an object")
	}
	var p RevPath
	if err := json.Unmarshal(raw.Start, &p.Start); err != nil || p.Start < 0 {
		return nil, Errorf(CodeDocValidation, "_revisions.start isn't an integer.")
	}
	if err := json.Unmarshal(raw.IDs, &p.IDs); err != nil || p.IDs == nil {
		return nil, Errorf(CodeDocValidation, "_revisions.ids isn't a array.")
	}
	if len(p.IDs) > p.Start {
		return nil, Errorf(CodeDocValidation, "RevId isn't a string")
	}
	for _, id := range p.IDs {
		if id == "" {
			return nil, Errorf(CodeDocValidation, "RevId isn't a string")
		}
	}
	return &p, nil
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
