// Package mango compiles and evaluates CouchDB Mango selectors, as used by
// _changes?filter=_selector, _find and replication selectors.
//
// Parse follows mango_selector:normalize/1: implicit $and and $eq are made
// explicit, nested objects become dotted field paths ({"a": {"b": 1}} is
// {"a.b": 1}; "a\\.b" names the field "a.b"), and $not/$nor are pushed down
// to the conditions by De Morgan's laws and by negating comparison operators.
// The normalisation is observable and kept exact: {"$not": {"x": 5}} becomes
// {"x": {"$ne": 5}}, which, like every condition except {"$exists": false},
// does not match a document without x.
//
// Match follows mango_selector:match/3: values compare in CouchDB view
// collation (internal/collate), raw collation under _id; an array field
// compares as a whole for $eq/$lt/..., element by element for $in/$nin;
// $all uses exact term equality; $mod needs an integer literal; $regex is
// searched unanchored.
//
// Known differences from CouchDB:
//   - $regex uses Go's RE2 syntax, not PCRE: backreferences, lookaround,
//     atomic groups, possessive quantifiers and \Z are refused at Parse
//     (bad_arg), "$" matches only at the very end (PCRE also matches before
//     a final newline), \s does not match \v, (?i) also folds Latin-1
//     letters, and counted repetition is limited to 1000. Byte semantics are
//     kept: "." matches one byte of UTF-8, as in Erlang's re without the
//     unicode option.
//   - Invalid field paths ("a..b") fail Parse; CouchDB fails while matching.
//   - {"$mod": [0, r]} fails Parse (bad_arg); CouchDB crashes while matching.
//   - A $nor left inside $elemMatch/$allMatch/$keyMapMatch by normalisation
//     is evaluated; CouchDB fails with invalid_operator while matching.
//   - $text ($default) matches every document, as CouchDB's matcher does
//     (it trusts the text index); no text search is done here.
package mango

import (
	"encoding/json"
	"strings"

	"github.com/divandb/divan/internal/couch"
)

// The error codes of mango_error.erl (all HTTP 400), reported by ParseFind.
const (
	CodeInvalidSelectorJSON couch.Code = "invalid_selector_json"
	CodeInvalidSelector     couch.Code = "invalid_selector"
	CodeBadArg              couch.Code = "bad_arg"
	CodeNotSupported        couch.Code = "not_supported"
	CodeInvalidOperator     couch.Code = "invalid_operator"
	CodeBadField            couch.Code = "bad_field"
)

// Selector is a compiled selector. It is immutable and safe for concurrent
// use.
type Selector struct {
	root node // nil: the empty selector, which matches everything
}

// Parse compiles a selector (a JSON object). Invalid selectors are reported
// as _changes?filter=_selector reports them: a *couch.Error with
// couch.CodeBadRequest and CouchDB's reason, e.g. "Invalid operator: $foo",
// "Bad argument for operator $in: 1" or "Selector error: expected a JSON
// object".
func Parse(raw []byte) (*Selector, error) {
	s, err := parse(raw, false)
	if err != nil {
		return nil, &couch.Error{Code: couch.CodeBadRequest, Reason: err.(*couch.Error).Reason}
	}
	return s, nil
}

// ParseFind is Parse with the error codes of _find: invalid_selector_json,
// invalid_selector, bad_arg, not_supported, invalid_operator, bad_field (all
// HTTP 400 in CouchDB) and unknown_error for an invalid field path (500).
func ParseFind(raw []byte) (*Selector, error) {
	return parse(raw, true)
}

func parse(raw []byte, find bool) (*Selector, error) {
	if !json.Valid(raw) {
		return nil, &couch.Error{Code: couch.CodeBadRequest, Reason: "invalid UTF-8 JSON"}
	}
	v := parseJSON(raw)
	if v.kind != jObject {
		if !find {
			return nil, &couch.Error{Code: couch.CodeBadRequest, Reason: "Selector error: expected a JSON object"}
		}
		return nil, &couch.Error{Code: CodeInvalidSelectorJSON,
			Reason: "Selector must be a JSON object, not: " + v.erlang()}
	}
	s, err := normalize(v)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return &Selector{}, nil
	}
	root, err := compile(s)
	if err != nil {
		return nil, err
	}
	return &Selector{root: root}, nil
}

// Match reports whether the document (its JSON text, with _id, _rev,
// _deleted and the rest) satisfies the selector. Text that is not a JSON
// object never matches a non-empty selector.
func (s *Selector) Match(doc []byte) bool {
	if s.root == nil {
		return true
	}
	doc = trim(doc)
	if len(doc) == 0 || doc[0] != '{' {
		return false
	}
	return s.root.match(doc, false)
}

var errMissingFieldName = &couch.Error{Code: CodeInvalidSelector, Reason: "One or more conditions is missing a field name."}

func badArg(op string, arg *jv) error { return badArgText(op, arg.erlang()) }

func badArgText(op, arg string) error {
	return &couch.Error{Code: CodeBadArg, Reason: "Bad argument for operator " + op + ": " + arg}
}

func errInvalidOperator(op string) error {
	return &couch.Error{Code: CodeInvalidOperator, Reason: "Invalid operator: " + op}
}

func errNotSupported(op string) error {
	return &couch.Error{Code: CodeNotSupported, Reason: "Unsupported operator: " + op}
}

func errBadField(s *sel) error {
	return &couch.Error{Code: CodeBadField, Reason: "Invalid field normalization on selector: " + s.erlang()}
}

// errInvalidFieldName is how CouchDB reports a bad field path (it is not in
// mango_error's table, hence the generic form).
func errInvalidFieldName(f string) error {
	var b strings.Builder
	b.WriteString("Unknown Error: mango_util :: {invalid_field_name,")
	writeErlangBinary(&b, f)
	b.WriteString("}")
	return &couch.Error{Code: couch.CodeUnknown, Reason: b.String()}
}
