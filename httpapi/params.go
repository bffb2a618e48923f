package httpapi

import (
	"strconv"
	"strings"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// erlString renders s as Erlang's ~p prints a string: in double quotes with
// quotes and backslashes escaped.
func erlString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// paramVal is one view/_all_docs parameter value: a query-string text, or a
// decoded JSON value from a request body (parse_params' "decoded" mode).
type paramVal struct {
	text    string
	json    []byte
	decoded bool
}

// display renders the value as CouchDB's error messages print it.
func (v paramVal) display() string {
	if v.decoded {
		if s, ok := rawjson.String(v.json); ok {
			return erlString(s)
		}
		return string(v.json)
	}
	return erlString(v.text)
}

// parseBoolean is couch_mrview_http:parse_boolean.
func parseBoolean(v paramVal) (bool, error) {
	s := v.text
	if v.decoded {
		switch string(v.json) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		var ok bool
		if s, ok = rawjson.String(v.json); !ok {
			return false, queryParseError("Invalid boolean parameter: " + v.display())
		}
	}
	switch strings.ToLower(s) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, queryParseError("Invalid boolean parameter: " + v.display())
}

// parseInt is couch_mrview_http:parse_int.
func parseInt(v paramVal) (int, error) {
	s := v.text
	if v.decoded {
		if n, ok := jsonInt(v.json); ok {
			return int(n), nil
		}
		return 0, queryParseError("Invalid value for integer: " + v.display())
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, queryParseError("Invalid value for integer: " + v.display())
	}
	return n, nil
}

// parsePosInt is couch_mrview_http:parse_pos_int (zero allowed).
func parsePosInt(v paramVal) (int, error) {
	n, err := parseInt(v)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, queryParseError("Invalid value for positive integer: " + v.display())
	}
	return n, nil
}

// jsonParam returns the raw JSON of a JSON-valued parameter (startkey, key,
// keys, ...): query-string values must parse as JSON.
func jsonParam(v paramVal) ([]byte, error) {
	if v.decoded {
		return v.json, nil
	}
	b := []byte(v.text)
	if !rawjson.Valid(b) {
		return nil, errInvalidJSON
	}
	return b, nil
}

// stringParam returns the value of a string-valued parameter
// (startkey_docid, ...): couch_util:to_binary of the value.
func stringParam(v paramVal) string {
	if !v.decoded {
		return v.text
	}
	if s, ok := rawjson.String(v.json); ok {
		return s
	}
	return string(v.json)
}

// docQuery holds the document query parameters (chttpd_db:parse_doc_query).
// Only the value "true" enables a boolean option, as in CouchDB; unknown
// parameters are ignored.
type docQuery struct {
	rev         couch.Rev
	openRevs    []couch.Rev
	openAll     bool
	hasOpenRevs bool

	revs, revsInfo, conflicts, deletedConflicts bool
	localSeq, latest, attachments, deleted      bool
	attEncodingInfo                             bool
	attsSince                                   []couch.Rev // nil when absent

	newEdits bool
	r, w     int
}

// parseDocQuery parses the document query string.
func parseDocQuery(rq *request) (docQuery, error) {
	q := docQuery{newEdits: true}
	for _, p := range rq.params() {
		switch p.key {
		case "attachments":
			q.attachments = q.attachments || p.val == "true"
		case "meta":
			if p.val == "true" {
				q.revsInfo, q.conflicts, q.deletedConflicts = true, true, true
			}
		case "revs":
			q.revs = q.revs || p.val == "true"
		case "local_seq":
			q.localSeq = q.localSeq || p.val == "true"
		case "revs_info":
			q.revsInfo = q.revsInfo || p.val == "true"
		case "conflicts":
			q.conflicts = q.conflicts || p.val == "true"
		case "deleted":
			q.deleted = q.deleted || p.val == "true"
		case "deleted_conflicts":
			q.deletedConflicts = q.deletedConflicts || p.val == "true"
		case "latest":
			q.latest = q.latest || p.val == "true"
		case "att_encoding_info":
			q.attEncodingInfo = q.attEncodingInfo || p.val == "true"
		case "rev":
			r, err := couch.ParseRev(p.val)
			if err != nil {
				return q, err
			}
			q.rev = r
		case "open_revs":
			if p.val == "all" {
				q.openAll, q.openRevs, q.hasOpenRevs = true, nil, true
				continue
			}
			revs, err := parseRevList([]byte(p.val))
			if err != nil {
				return q, err
			}
			q.openAll, q.openRevs, q.hasOpenRevs = false, revs, len(revs) > 0
		case "atts_since":
			revs, err := parseRevList([]byte(p.val))
			if err != nil {
				return q, err
			}
			if revs == nil {
				revs = []couch.Rev{}
			}
			q.attsSince = revs
		case "new_edits":
			switch p.val {
			case "false":
				q.newEdits = false
			case "true":
				q.newEdits = true
			}
		case "r":
			if n, err := strconv.Atoi(p.val); err == nil && n > 0 {
				q.r = n
			}
		case "w":
			if n, err := strconv.Atoi(p.val); err == nil && n > 0 {
				q.w = n
			}
		}
	}
	return q, nil
}

// parseRevList parses a JSON array of rev strings (couch_doc:parse_revs).
func parseRevList(data []byte) ([]couch.Rev, error) {
	if !rawjson.Valid(data) {
		return nil, errInvalidJSON
	}
	if firstByte(data) != '[' {
		return nil, couch.ErrBadRev
	}
	var revs []couch.Rev
	err := rawjson.Elements(data, func(v []byte) error {
		s, ok := rawjson.String(v)
		if !ok {
			return couch.ErrBadRev
		}
		r, err := couch.ParseRev(s)
		if err != nil {
			return err
		}
		revs = append(revs, r)
		return nil
	})
	return revs, err
}
