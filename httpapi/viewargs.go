package httpapi

import (
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// viewArgs are the _all_docs (and _all_dbs) query arguments
// (couch_mrview's #mrargs), parsed in order so that later parameters win.
type viewArgs struct {
	startKey, endKey     []byte // raw JSON; nil when unset
	startDocID, endDocID *string
	keys                 []byte // raw JSON of `keys`; nil when unset

	limit        int // -1: none
	skip         int
	descending   bool
	inclusiveEnd bool
	includeDocs  bool
	conflicts    bool
	updateSeq    bool

	reduce     *bool
	group      *bool
	groupLevel *int
}

func newViewArgs() viewArgs { return viewArgs{limit: -1, inclusiveEnd: true} }

// set applies one parameter (couch_mrview_http:parse_param). Unknown
// parameters are ignored.
func (va *viewArgs) set(key string, v paramVal) error {
	var err error
	switch key {
	case "key":
		var raw []byte
		if raw, err = jsonParam(v); err == nil {
			va.startKey, va.endKey = raw, raw
		}
	case "keys":
		va.keys, err = jsonParam(v)
	case "startkey", "start_key":
		va.startKey, err = jsonParam(v)
	case "endkey", "end_key":
		va.endKey, err = jsonParam(v)
	case "startkey_docid", "start_key_doc_id":
		s := stringParam(v)
		va.startDocID = &s
	case "endkey_docid", "end_key_doc_id":
		s := stringParam(v)
		va.endDocID = &s
	case "limit":
		va.limit, err = parsePosInt(v)
	case "skip":
		va.skip, err = parsePosInt(v)
	case "descending":
		va.descending, err = parseBoolean(v)
	case "inclusive_end":
		va.inclusiveEnd, err = parseBoolean(v)
	case "include_docs":
		va.includeDocs, err = parseBoolean(v)
	case "conflicts":
		va.conflicts, err = parseBoolean(v)
	case "update_seq":
		va.updateSeq, err = parseBoolean(v)
	case "reduce":
		var b bool
		if b, err = parseBoolean(v); err == nil {
			va.reduce = &b
		}
	case "group":
		var b bool
		if b, err = parseBoolean(v); err == nil {
			va.group = &b
		}
	case "group_level":
		var n int
		if n, err = parsePosInt(v); err == nil {
			va.groupLevel = &n
		}
	case "attachments", "att_encoding_info", "sorted":
		_, err = parseBoolean(v)
	case "stale":
		if s := stringParam(v); s != "ok" && s != "update_after" {
			err = queryParseError("Invalid value for `stale`.")
		}
	case "stable":
		if s := stringParam(v); s != "true" && s != "false" {
			err = queryParseError("Invalid value for `stable`.")
		}
	case "update":
		if s := stringParam(v); s != "true" && s != "false" && s != "lazy" {
			err = queryParseError("Invalid value for `update`.")
		}
	}
	return err
}

// setQuery applies the query-string parameters.
func (va *viewArgs) setQuery(params []qparam) error {
	for _, p := range params {
		if err := va.set(p.key, paramVal{text: p.val}); err != nil {
			return err
		}
	}
	return nil
}

// setBody applies the members of a POST body (decoded values), except
// `keys`, which the caller handles.
func (va *viewArgs) setBody(body []byte) error {
	return rawjson.Members(body, func(m rawjson.Member) error {
		if m.Key == "keys" {
			return nil
		}
		return va.set(m.Key, paramVal{json: m.Value, decoded: true})
	})
}

// validate is couch_mrview_util:validate_args for a map-only view.
func (va *viewArgs) validate() error {
	// determine_group_level
	grouped := false
	switch {
	case va.group == nil && va.groupLevel == nil:
	case va.groupLevel == nil:
		grouped = *va.group // group=true is "exact"
	case va.group != nil && !*va.group && *va.groupLevel > 0:
		return queryParseError("Can't specify group=false and group_level>0 at the same time")
	default:
		grouped = *va.groupLevel != 0
	}
	if va.reduce != nil && *va.reduce {
		return queryParseError("Reduce is invalid for map-only views.")
	}
	if va.keys != nil {
		if firstByte(va.keys) != '[' {
			return queryParseError("`keys` must be an array of strings.")
		}
		if (va.startKey != nil || va.endKey != nil) && !emptyArray(va.keys) {
			return queryParseError("`keys` is incompatible with `key`, `start_key` and `end_key`")
		}
	}
	if grouped {
		return queryParseError("Invalid use of grouping on a map view.")
	}
	return nil
}

// emptyArray reports whether raw is the JSON array [].
func emptyArray(raw []byte) bool {
	n := 0
	_ = rawjson.Elements(raw, func([]byte) error { n++; return nil })
	return n == 0
}

// keyRange resolves the start and end ids as couch_mrview_util's
// all_docs_key_opts does: a string start_key/end_key, else the *_docid
// parameter, else unbounded.
func (va *viewArgs) keyRange() (start, end *string) {
	if s, ok := rawjson.String(va.startKey); ok && va.startKey != nil {
		start = &s
	} else if va.startDocID != nil {
		start = va.startDocID
	}
	if s, ok := rawjson.String(va.endKey); ok && va.endKey != nil {
		end = &s
	} else if va.endDocID != nil {
		end = va.endDocID
	}
	return start, end
}

// keyList splits the `keys` array into document ids. Non-string keys can
// name no document; they are kept (raw) for their error rows.
func (va *viewArgs) keyList() (ids []string, raw [][]byte, err error) {
	ids = []string{}
	err = rawjson.Elements(va.keys, func(v []byte) error {
		s, ok := rawjson.String(v)
		if !ok {
			s = ""
		}
		ids = append(ids, s)
		raw = append(raw, v)
		return nil
	})
	if err != nil {
		return nil, nil, couch.Errorf(couch.CodeQueryParse, "`keys` must be an array of strings.")
	}
	return ids, raw, nil
}
