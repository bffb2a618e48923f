package httpapi

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/divandb/divan/internal/config"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// configBlacklist are the sections CouchDB refuses to change over HTTP
// (couch_util:check_config_blacklist): they name code to run.
var configBlacklist = map[string]bool{
	"daemons": true, "external": true, "httpd_design_handlers": true,
	"httpd_db_handlers": true, "httpd_global_handlers": true,
	"native_query_servers": true, "os_daemons": true, "query_servers": true,
	"feature_flags": true,
}

var (
	errConfigBlacklisted = couch.Errorf(couch.CodeForbidden, "Config section blacklisted for modification over HTTP API.")
	errConfigNotFound    = couch.Errorf(couch.CodeNotFound, "unknown_config_value")
	errConfigNotString   = couch.Errorf(couch.CodeBadRequest, "a JSON string expected")
)

// handleConfig serves /_node/{this node}/_config[/section[/key]] and
// _config/_reload (chttpd_node:handle_node_req). rest is the path after
// _config. The caller has checked for a server admin.
func (a *API) handleConfig(rq *request, rest []string) error {
	st := a.conf().ConfigStore
	if st == nil {
		return errNotImpl
	}
	switch len(rest) {
	case 0:
		if rq.method != http.MethodGet {
			return notAllowed("GET")
		}
		all := st.All()
		b := append(rq.buf[:0], '{')
		for i, sec := range slices.Sorted(maps.Keys(all)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = rawjson.AppendString(b, sec)
			b = append(b, ':')
			b = appendStringMap(b, all[sec])
		}
		rq.sendJSON(http.StatusOK, append(b, '}'))
		return nil
	case 1:
		if rest[0] == "_reload" {
			if rq.method != http.MethodPost {
				return notAllowed("POST")
			}
			if err := st.Reload(rq.ctx); err != nil {
				return badRequest(err.Error())
			}
			rq.sendOK(http.StatusOK)
			return nil
		}
		if rq.method != http.MethodGet {
			return notAllowed("GET")
		}
		rq.sendJSON(http.StatusOK, appendStringMap(rq.buf[:0], st.Section(rest[0])))
		return nil
	case 2:
		section, key := rest[0], rest[1]
		persist := rq.r.Header.Get("X-Couch-Persist") != "false"
		switch rq.method {
		case http.MethodGet:
			v, ok := st.Get(section, key)
			if !ok {
				return errConfigNotFound
			}
			rq.sendJSON(http.StatusOK, rawjson.AppendString(rq.buf[:0], v))
			return nil
		case http.MethodPut:
			if configBlacklist[section] {
				return errConfigBlacklisted
			}
			body, err := rq.jsonBody()
			if err != nil {
				return err
			}
			if firstByte(body) != '"' {
				return errConfigNotString
			}
			value, ok := rawjson.String(body)
			if !ok {
				return errConfigNotString
			}
			old, err := st.Set(rq.ctx, section, key, trimCouch(value), persist)
			if err != nil {
				return configError(err)
			}
			rq.sendJSON(http.StatusOK, rawjson.AppendString(rq.buf[:0], old))
			return nil
		case http.MethodDelete:
			if configBlacklist[section] {
				return errConfigBlacklisted
			}
			old, err := st.Delete(rq.ctx, section, key, persist)
			if err != nil {
				return configError(err)
			}
			rq.sendJSON(http.StatusOK, rawjson.AppendString(rq.buf[:0], old))
			return nil
		}
		return notAllowed("GET,PUT,DELETE")
	}
	return couch.ErrNotFound
}

// configError maps a store error to CouchDB's answer: a missing key is 404
// unknown_config_value, anything else {bad_request, Reason}.
func configError(err error) error {
	if errors.Is(err, config.ErrNotFound) {
		return errConfigNotFound
	}
	return badRequest(err.Error())
}

// trimCouch is couch_util:trim: it strips the white space characters
// CouchDB's is_whitespace lists from both ends.
func trimCouch(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		switch r {
		case 9, 10, 11, 12, 13, 32, 133, 160, 5760, 6158, 8192, 8193, 8194, 8195,
			8196, 8197, 8198, 8199, 8200, 8201, 8202, 8203, 8204, 8205, 8232, 8233,
			8239, 8287, 8288, 12288, 65279:
			return true
		}
		return false
	})
}

// appendStringMap appends m as a JSON object with sorted keys.
func appendStringMap(b []byte, m map[string]string) []byte {
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = rawjson.AppendString(b, k)
		b = append(b, ':')
		b = rawjson.AppendString(b, m[k])
	}
	return append(b, '}')
}
