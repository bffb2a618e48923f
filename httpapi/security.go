package httpapi

import (
	"net/http"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// security serves GET/PUT /{db}/_security.
func (a *API) security(rq *request, db string) error {
	switch rq.method {
	case http.MethodGet:
		sec, err := a.b.Security(rq.ctx, db)
		if err != nil {
			return err
		}
		b := rq.buf[:0]
		if len(sec) == 0 {
			b = append(b, "{}"...)
		} else {
			b, _ = rawjson.Compact(b, sec)
		}
		rq.sendJSON(http.StatusOK, b)
		return nil
	case http.MethodPut:
		if db == "_users" {
			return couch.Errorf(couch.CodeForbidden, "You can't edit the security object of the user database.")
		}
		data, err := rq.jsonBody()
		if err != nil {
			return err
		}
		if reason := validateSecurity(data); reason != "" {
			// The shards reject it and the cluster reports no majority.
			if err := a.checkDB(rq.ctx, db); err != nil {
				return err
			}
			a.log.DebugContext(rq.ctx, "invalid security object", "db", db, "reason", reason, "req_id", rq.reqID)
			return errNoMajority
		}
		sec, err := rawjson.Compact(nil, data)
		if err != nil {
			return errInvalidJSON
		}
		if err := a.b.SetSecurity(rq.ctx, db, sec); err != nil {
			return err
		}
		rq.sendOK(http.StatusOK)
		return nil
	}
	return notAllowed("PUT,GET")
}

// validateSecurity is couch_db:validate_security_object; it returns the
// reason the object is rejected, or "".
func validateSecurity(data []byte) string {
	if firstByte(data) != '{' {
		return "bad_request"
	}
	var admins, members, readers []byte
	_ = rawjson.Members(data, func(m rawjson.Member) error {
		switch {
		case m.Key == "admins" && admins == nil:
			admins = m.Value
		case m.Key == "members" && members == nil:
			members = m.Value
		case m.Key == "readers" && readers == nil:
			readers = m.Value
		}
		return nil
	})
	if members == nil {
		members = readers
	}
	for _, group := range [][]byte{admins, members} {
		if group == nil {
			continue
		}
		if firstByte(group) != '{' {
			return "admins or members must be a JSON list of strings"
		}
		var reason string
		_ = rawjson.Members(group, func(m rawjson.Member) error {
			if (m.Key == "names" || m.Key == "roles") && reason == "" && !isStringArray(m.Value) {
				reason = m.Key + " must be a JSON list of strings"
			}
			return nil
		})
		if reason != "" {
			return reason
		}
	}
	return ""
}

func isStringArray(v []byte) bool {
	if firstByte(v) != '[' {
		return false
	}
	ok := true
	_ = rawjson.Elements(v, func(e []byte) error {
		if _, s := rawjson.String(e); !s {
			ok = false
		}
		return nil
	})
	return ok
}
