package httpapi

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// The [couchdb] default_security values.
const (
	DefaultSecurityAdminOnly = "admin_only"
	DefaultSecurityEveryone  = "everyone"
)

// security serves GET/PUT /{db}/_security. The caller checked membership
// (chttpd_auth_request's db_authorization_check); PUT additionally needs a
// db admin, which CouchDB checks on every shard copy (couch_db:set_security).
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
		if db == usersDB && !a.conf().UsersDBSecurityEditable {
			return couch.Errorf(couch.CodeForbidden, "You can't edit the security object of the user database.")
		}
		data, err := rq.jsonBody()
		if err != nil {
			return err
		}
		cur, err := a.securityOf(rq.ctx, db)
		if err != nil {
			return err
		}
		if !cur.isAdmin(&rq.user) {
			// couch_db:check_is_admin's refusal. (CouchDB 3.5 lets every
			// shard refuse and answers 500 no_majority; the refusal
			// itself is what the client needs to see.)
			return securityError(&rq.user, "You are not a db or server admin.")
		}
		if reason := validateSecurity(data); reason != "" {
			// The shards reject it and the cluster reports no majority.
			a.log.DebugContext(rq.ctx, "invalid security object", "db", db, "reason", reason, "req_id", rq.reqID)
			return errNoMajority
		}
		sec, err := rawjson.Compact(nil, data)
		if err != nil {
			return errInvalidJSON
		}
		err = a.b.SetSecurity(rq.ctx, db, sec)
		a.secs.forget(db)
		if err != nil {
			return err
		}
		rq.sendOK(http.StatusOK)
		return nil
	}
	return notAllowed("PUT,GET")
}

// secGroup is the "admins" or "members" member of a _security object.
type secGroup struct {
	Names []string
	Roles []string
}

// secObject is a parsed _security object (couch_db's get_admins and
// get_members view of it).
type secObject struct {
	admins  secGroup
	members secGroup
}

// parseSecurity parses a stored _security object the way couch_util's
// get_value reads it: the first of duplicate members wins, and the legacy
// "readers" stands in for a missing "members". A malformed object (it was
// validated when stored, so this means corruption) is treated as
// admin-only: failing closed never exposes a database.
func parseSecurity(raw []byte) *secObject {
	adminOnly := &secObject{admins: secGroup{Roles: adminRoles}, members: secGroup{Roles: adminRoles}}
	if len(raw) == 0 {
		return &secObject{}
	}
	vals, err := firstMembers(raw, "admins", "members", "readers")
	if err != nil {
		return adminOnly
	}
	admins, members, readers := vals[0], vals[1], vals[2]
	if members == nil {
		members = readers
	}
	s := &secObject{}
	if !parseSecGroup(admins, &s.admins) || !parseSecGroup(members, &s.members) {
		return adminOnly
	}
	return s
}

// parseSecGroup fills g from a {"names":[...],"roles":[...]} object (nil:
// absent, left empty); false when it is malformed.
func parseSecGroup(raw []byte, g *secGroup) bool {
	if raw == nil {
		return true
	}
	vals, err := firstMembers(raw, "names", "roles")
	if err != nil {
		return false
	}
	names, roles := vals[0], vals[1]
	var ok bool
	if g.Names, ok = stringList(names); !ok {
		return false
	}
	g.Roles, ok = stringList(roles)
	return ok
}

// stringList decodes a JSON array of strings (nil or null: empty).
func stringList(raw []byte) ([]string, bool) {
	if raw == nil || string(raw) == "null" {
		return nil, true
	}
	var out []string
	ok := true
	err := rawjson.Elements(raw, func(e []byte) error {
		s, isStr := rawjson.String(e)
		if !isStr {
			ok = false
		}
		out = append(out, s)
		return nil
	})
	return out, ok && err == nil
}

// isAdmin is couch_db:is_admin/1: a server admin (role _admin), or a name
// or role listed under "admins".
func (s *secObject) isAdmin(u *userCtx) bool {
	return u.admin || authorizedBy(u, &s.admins)
}

// isMember is couch_db:is_member/1: a db admin, anyone when the database is
// public (no member names and no member roles), or a listed name or role.
func (s *secObject) isMember(u *userCtx) bool {
	if s.isAdmin(u) {
		return true
	}
	if len(s.members.Names) == 0 && len(s.members.Roles) == 0 {
		return true
	}
	return authorizedBy(u, &s.members)
}

// authorizedBy is couch_db:is_authorized/2. The _admin role always counts;
// the anonymous user (no name) matches no name.
func authorizedBy(u *userCtx, g *secGroup) bool {
	for _, r := range u.roles {
		if r == "_admin" || slices.Contains(g.Roles, r) {
			return true
		}
	}
	return u.name != "" && slices.Contains(g.Names, u.name)
}

// secTTL bounds how long a cached _security object is trusted. A PUT on
// this node invalidates at once; a PUT through another node of a cluster
// (which stores the object on every copy) is seen here within secTTL.
const secTTL = time.Second

// secCache caches parsed _security objects per database so that the
// authorization check of every request does not read and parse one.
type secCache struct {
	mu sync.Mutex
	m  map[string]secEntry
}

type secEntry struct {
	sec     *secObject
	expires time.Time
}

func (c *secCache) get(db string, now time.Time) *secObject {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[db]
	if !ok || now.After(e.expires) {
		return nil
	}
	return e.sec
}

func (c *secCache) put(db string, sec *secObject, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]secEntry)
	}
	if len(c.m) > 10000 {
		clear(c.m) // bound memory; entries are cheap to rebuild
	}
	c.m[db] = secEntry{sec: sec, expires: now.Add(secTTL)}
}

// forget drops db's entry: its _security changed, or the database was
// created or deleted.
func (c *secCache) forget(db string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, db)
}

// securityOf returns db's parsed _security object (fabric:get_security),
// from the cache when fresh. A missing database is couch.ErrNoDB.
func (a *API) securityOf(ctx context.Context, db string) (*secObject, error) {
	now := time.Now()
	if s := a.secs.get(db, now); s != nil {
		return s, nil
	}
	raw, err := a.b.Security(ctx, db)
	if err != nil {
		return nil, err
	}
	s := parseSecurity(raw)
	a.secs.put(db, s, now)
	return s, nil
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
