package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/auth"
	"github.com/divandb/divan/internal/couch"
)

// memBackend is a tiny in-memory Backend for the authorization tests: one
// revision per document, conflicts on a stale or missing _rev.
type memBackend struct {
	stubBackend
	mu    sync.Mutex
	sec   map[string][]byte
	docs  map[string]map[string]memDoc
	reads int // OpenDoc calls on _users user documents
}

type memDoc struct {
	rev     couch.Rev
	body    []byte
	deleted bool
}

func newMemBackend(dbs ...string) *memBackend {
	m := &memBackend{stubBackend: stubBackend{dbs: dbs}, sec: map[string][]byte{}, docs: map[string]map[string]memDoc{}}
	for _, db := range dbs {
		m.sec[db] = []byte(`{"members":{"roles":["_admin"]},"admins":{"roles":["_admin"]}}`)
		m.docs[db] = map[string]memDoc{}
	}
	return m
}

func (m *memBackend) Security(_ context.Context, db string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sec[db]
	if !ok {
		return nil, couch.ErrNoDB
	}
	return s, nil
}

func (m *memBackend) SetSecurity(_ context.Context, db string, sec []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sec[db] = sec
	return nil
}

func (m *memBackend) OpenDoc(_ context.Context, db, id string, o fabric.ReadOptions) (*couch.Document, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	docs, ok := m.docs[db]
	if !ok {
		return nil, couch.ErrNoDB
	}
	if strings.HasPrefix(id, userDocPrefix) {
		m.reads++
	}
	d, ok := docs[id]
	if !ok || (!o.Rev.IsZero() && o.Rev != d.rev) {
		return nil, couch.ErrNotFound
	}
	if d.deleted && o.Rev.IsZero() {
		return nil, couch.ErrDeleted
	}
	t := couch.NewRevTree()
	t.Merge([]couch.Rev{d.rev}, d.deleted)
	return &couch.Document{ID: id, Tree: t, Revisions: []couch.Revision{{Rev: d.rev, Body: d.body, Deleted: d.deleted}}}, nil
}

func (m *memBackend) UpdateDocs(_ context.Context, db string, docs []*couch.Doc, _ fabric.WriteOptions) ([]fabric.DocResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]fabric.DocResult, len(docs))
	for i, d := range docs {
		cur, exists := m.docs[db][d.ID]
		if exists && !cur.deleted && d.Rev != cur.rev || !exists && !d.Rev.IsZero() {
			out[i] = fabric.DocResult{ID: d.ID, Err: couch.ErrConflict}
			continue
		}
		rev := couch.Rev{Pos: cur.rev.Pos + 1, ID: fmt.Sprintf("%032x", cur.rev.Pos+1)}
		m.docs[db][d.ID] = memDoc{rev: rev, body: d.Body, deleted: d.Deleted}
		out[i] = fabric.DocResult{ID: d.ID, Rev: rev}
	}
	return out, nil
}

func (m *memBackend) body(db, id string) map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	var v map[string]any
	_ = json.Unmarshal(m.docs[db][id].body, &v)
	return v
}

// WaitForChange never fires: the users cache watcher gets a position and
// then waits.
func (m *memBackend) WaitForChange(ctx context.Context, _ string) (<-chan struct{}, error) {
	return ctx.Done(), nil
}

func (m *memBackend) Changes(context.Context, string, fabric.ChangesOptions, func(fabric.ChangeRow) error) (fabric.ChangesResult, error) {
	return fabric.ChangesResult{LastSeq: "1"}, nil
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func newUsersAPI(t *testing.T, m *memBackend, mutate func(*Config)) *API {
	t.Helper()
	a, _ := newTestAPI(t, func(c *Config) {
		c.PasswordIterations = 10
		c.SessionSecret = []byte("secret")
		c.UserSalt = func(u string) (string, bool, bool) { return "salt", u == testUser, u == testUser }
		if mutate != nil {
			mutate(c)
		}
	})
	a.b = m
	t.Cleanup(a.users.close)
	return a
}

func TestSecurityObjectRules(t *testing.T) {
	sec := parseSecurity([]byte(`{"admins":{"names":["ann"],"roles":["boss"]},"members":{"names":["bob"],"roles":["staff"]}}`))
	cases := []struct {
		user          userCtx
		member, admin bool
	}{
		{userCtx{}, false, false},
		{userCtx{name: "eve", roles: []string{}}, false, false},
		{userCtx{name: "bob", roles: []string{}}, true, false},
		{userCtx{name: "sue", roles: []string{"staff"}}, true, false},
		{userCtx{name: "ann", roles: []string{}}, true, true},
		{userCtx{name: "joe", roles: []string{"boss"}}, true, true},
		{userCtx{name: "root", roles: adminRoles, admin: true}, true, true},
	}
	for _, c := range cases {
		if got := sec.isMember(&c.user); got != c.member {
			t.Errorf("%+v member = %v", c.user, got)
		}
		if got := sec.isAdmin(&c.user); got != c.admin {
			t.Errorf("%+v admin = %v", c.user, got)
		}
	}
	// Public: no member names nor roles. Legacy readers stand in for members.
	if !parseSecurity([]byte(`{}`)).isMember(&userCtx{}) {
		t.Error("{} is public")
	}
	if parseSecurity([]byte(`{"readers":{"names":["x"]}}`)).isMember(&userCtx{name: "y"}) {
		t.Error("readers restrict like members")
	}
	// The first of duplicate members wins, as in CouchDB: never fail open.
	if parseSecurity([]byte(`{"members":{"names":["x"]},"members":{}}`)).isMember(&userCtx{name: "y"}) {
		t.Error("duplicate members: the first must win")
	}
}

func TestDatabaseAuthorization(t *testing.T) {
	m := newMemBackend("db", "_users")
	m.sec["db"] = []byte(`{"admins":{"names":["dba"]},"members":{"names":["mem"],"roles":["staff"]}}`)
	a := newUsersAPI(t, m, nil)
	for _, u := range []struct{ name, roles string }{{"mem", `[]`}, {"dba", `[]`}, {"staffer", `["staff"]`}, {"plain", `[]`}} {
		m.docs["_users"][userDocPrefix+u.name] = memDoc{rev: couch.Rev{Pos: 1, ID: "a"}, body: mustUserBody(t, u.name, u.roles)}
	}
	const (
		none = ""
	)
	who := map[string]string{"anon": none, "wrong": basic("mem", "nope"), "plain": basic("plain", "pw"),
		"mem": basic("mem", "pw"), "staff": basic("staffer", "pw"), "dba": basic("dba", "pw"), "admin": basic(testUser, testPass)}
	type want struct {
		status int
		err    string
	}
	unauthDB := want{401, "unauthorized"}
	forbidDB := want{403, "forbidden"}
	cases := []struct {
		method, path, body string
		want               map[string]want // by user; absent users get def
	}{
		{"GET", "/db/_security", "", map[string]want{"anon": unauthDB, "wrong": unauthDB, "plain": forbidDB, "mem": {200, ""}, "staff": {200, ""}, "dba": {200, ""}, "admin": {200, ""}}},
		{"PUT", "/db/_design/x-{u}", `{}`, map[string]want{"anon": unauthDB, "wrong": unauthDB, "plain": forbidDB, "mem": {403, "forbidden"}, "staff": {403, "forbidden"}, "dba": {201, ""}, "admin": {201, ""}}},
		{"PUT", "/db/_compact", ``, map[string]want{"anon": unauthDB, "wrong": unauthDB, "plain": unauthDB, "mem": unauthDB, "staff": unauthDB}},
		{"DELETE", "/db", ``, map[string]want{"anon": unauthDB, "wrong": unauthDB, "plain": unauthDB, "mem": unauthDB, "staff": unauthDB, "dba": unauthDB}},
		{"PUT", "/db/_security", `{}`, map[string]want{"anon": unauthDB, "wrong": unauthDB, "plain": forbidDB, "mem": {403, "forbidden"}, "staff": {403, "forbidden"}}},
	}
	for _, c := range cases {
		for _, u := range []string{"anon", "wrong", "plain", "mem", "staff", "dba", "admin"} {
			w, ok := c.want[u]
			if !ok {
				continue
			}
			hdr := []string{"Content-Type", "application/json"}
			if who[u] != "" {
				hdr = append(hdr, "Authorization", who[u])
			}
			r := call(a, c.method, strings.ReplaceAll(c.path, "{u}", u), c.body, hdr...)
			if r.status != w.status || w.err != "" && !strings.Contains(r.body, `"error":"`+w.err+`"`) {
				t.Errorf("%s %s as %s: %d %s, want %d %s", c.method, c.path, u, r.status, r.body, w.status, w.err)
			}
		}
	}
	// Design doc refusal names CouchDB's reason.
	expectError(t, call(a, "PUT", "/db/_design/y", `{}`, "Authorization", who["mem"], "Content-Type", "application/json"),
		403, "forbidden", "You are not a db or server admin.")
	expectError(t, call(a, "POST", "/db/_compact", ``, "Authorization", who["mem"], "Content-Type", "application/json"),
		401, "unauthorized", "You are not a server or db admin.")
	// A _security PUT is seen at once by the next request.
	call(a, "PUT", "/db/_security", `{"members":{"names":["plain"]}}`, "Authorization", who["dba"], "Content-Type", "application/json")
	if r := call(a, "GET", "/db/_security", "", "Authorization", who["plain"]); r.status != 200 {
		t.Errorf("security cache not invalidated: %d %s", r.status, r.body)
	}
}

func mustUserBody(t *testing.T, name, roles string) []byte {
	t.Helper()
	h, err := auth.HashUserPassword("pw", 5)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(fmt.Sprintf(`{"type":"user","name":%q,"roles":%s,"password_scheme":"pbkdf2","pbkdf2_prf":"sha256","salt":%q,"iterations":5,"derived_key":%q}`,
		name, roles, h.Salt, h.DerivedKey))
}

func TestUsersDBRules(t *testing.T) {
	m := newMemBackend("_users")
	m.sec["_users"] = []byte(`{}`) // opened, as with users_db_security_editable
	a := newUsersAPI(t, m, nil)
	json := []string{"Content-Type", "application/json"}
	as := func(auth string) []string {
		if auth == "" {
			return json
		}
		return append([]string{"Authorization", auth}, json...)
	}
	admin := basic(testUser, testPass)

	// Anonymous sign-up works, but not with roles; the password is hashed.
	r := call(a, "PUT", "/_users/org.couchdb.user:tom", `{"type":"user","name":"tom","roles":[],"password":"mp3","extra":1}`, as("")...)
	if r.status != 201 {
		t.Fatalf("signup: %d %s", r.status, r.body)
	}
	body := m.body("_users", "org.couchdb.user:tom")
	if body["password"] != nil || body["password_scheme"] != "pbkdf2" || body["pbkdf2_prf"] != "sha256" ||
		len(body["derived_key"].(string)) != 64 || len(body["salt"].(string)) != 32 || body["iterations"] != float64(10) || body["extra"] != float64(1) {
		t.Fatalf("stored user doc: %v", body)
	}
	expectError(t, call(a, "PUT", "/_users/org.couchdb.user:jim", `{"type":"user","name":"jim","roles":["x"],"password":"a"}`, as("")...),
		403, "forbidden", "Only _admin may set roles")

	// The _design/_auth rules, with their exact reasons.
	for _, c := range []struct{ id, body, reason string }{
		{"org.couchdb.user:a", `{"name":"a","roles":[]}`, "doc.type must be user"},
		{"org.couchdb.user:a", `{"type":"user","roles":[]}`, "doc.name is required"},
		{"org.couchdb.user:a", `{"type":"user","name":"a","roles":"x"}`, "doc.roles must be an array"},
		{"org.couchdb.user:a", `{"type":"user","name":"b","roles":[]}`, "Doc ID must be of the form org.couchdb.user:name"},
		{"org.couchdb.user:_a", `{"type":"user","name":"_a","roles":[]}`, "Username may not start with underscore."},
		{"org.couchdb.user:a:b", `{"type":"user","name":"a:b","roles":[]}`, "Character `:` is not allowed in usernames."},
		{"org.couchdb.user:a", `{"type":"user","name":"a","roles":["_admin"]}`, "No system roles (starting with underscore) in users db."},
		{"org.couchdb.user:a", `{"type":"user","name":"a","roles":[],"password_sha":"x"}`, "Users with password_sha must have a salt.See /_utils/script/couch.js for example code."},
	} {
		expectError(t, call(a, "PUT", "/_users/"+c.id, c.body, as(admin)...), 403, "forbidden", c.reason)
	}

	tom := basic("tom", "mp3")
	// Users read their own document, not another's (404, as CouchDB hides it).
	if r := call(a, "GET", "/_users/org.couchdb.user:tom", "", as(tom)...); r.status != 200 {
		t.Fatalf("own doc: %d %s", r.status, r.body)
	}
	call(a, "PUT", "/_users/org.couchdb.user:spike", `{"type":"user","name":"spike","roles":[],"password":"x"}`, as(admin)...)
	expectError(t, call(a, "GET", "/_users/org.couchdb.user:spike", "", as(tom)...), 404, "not_found", "missing")
	expectError(t, call(a, "GET", "/_users/org.couchdb.user:tom", "", as("")...), 404, "not_found", "missing")
	// ... and cannot write another's (404) nor change their roles.
	expectError(t, call(a, "PUT", "/_users/org.couchdb.user:spike", `{"type":"user","name":"spike","roles":[]}`, as(tom)...), 404, "not_found", "missing")
	rev := m.docs["_users"]["org.couchdb.user:tom"].rev.String()
	expectError(t, call(a, "PUT", "/_users/org.couchdb.user:tom", `{"_rev":"`+rev+`","type":"user","name":"tom","roles":["boss"]}`, as(tom)...),
		403, "forbidden", "Only _admin may edit roles")
	// Anonymous cannot take over an existing user.
	expectError(t, call(a, "PUT", "/_users/org.couchdb.user:tom", `{"_rev":"`+rev+`","type":"user","name":"tom","roles":[],"password":"x"}`, as("")...),
		403, "forbidden", "You may only update your own user document.")
	// Changing one's password works, and the old one stops working.
	if r := call(a, "PUT", "/_users/org.couchdb.user:tom", `{"_rev":"`+rev+`","type":"user","name":"tom","roles":[],"password":"couch"}`, as(tom)...); r.status != 201 {
		t.Fatalf("password change: %d %s", r.status, r.body)
	}
	a.users.evict("org.couchdb.user:tom") // the watcher's job; memBackend has no feed
	expectError(t, call(a, "GET", "/_session", "", as(tom)...), 401, "unauthorized", "Name or password is incorrect.")
	sess := call(a, "GET", "/_session", "", as(basic("tom", "couch"))...)
	if !strings.Contains(sess.body, `"userCtx":{"name":"tom","roles":[]}`) {
		t.Fatalf("_session: %s", sess.body)
	}
	// _bulk_docs takes the same path: hashing and per-document errors.
	r = call(a, "POST", "/_users/_bulk_docs", `{"docs":[{"_id":"org.couchdb.user:zed","type":"user","name":"zed","roles":[],"password":"z"},{"_id":"org.couchdb.user:x","type":"user","name":"x","roles":["r"]}]}`, as("")...)
	if r.status != 201 || !strings.Contains(r.body, `"error":"forbidden","reason":"Only _admin may set roles"`) {
		t.Fatalf("bulk: %d %s", r.status, r.body)
	}
	if b := m.body("_users", "org.couchdb.user:zed"); b["derived_key"] == nil || b["password"] != nil {
		t.Fatalf("bulk doc not hashed: %v", b)
	}
	// Listing and design documents are for admins.
	tom = basic("tom", "couch")
	expectError(t, call(a, "GET", "/_users/_all_docs", "", as(tom)...), 401, "unauthorized", "You are not a server admin.")
	expectError(t, call(a, "GET", "/_users/_changes", "", as("")...), 401, "unauthorized", "You are not a server admin.")
	call(a, "PUT", "/_users/_design/x", `{}`, as(admin)...)
	expectError(t, call(a, "GET", "/_users/_design/x", "", as(tom)...), 403, "forbidden", "Only administrators can view design docs in the users database.")
	// _security of _users is not editable by default.
	expectError(t, call(a, "PUT", "/_users/_security", `{}`, as(admin)...), 403, "forbidden", "You can't edit the security object of the user database.")
}

func TestUsersCredentialCache(t *testing.T) {
	m := newMemBackend("_users")
	a := newUsersAPI(t, m, nil)
	m.docs["_users"][userDocPrefix+"bob"] = memDoc{rev: couch.Rev{Pos: 1, ID: "a"}, body: mustUserBody(t, "bob", `["r1"]`)}
	bob := basic("bob", "pw")
	call(a, "GET", "/_session", "", "Authorization", bob) // starts the watcher
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		a.users.mu.Lock()
		ready := a.users.ready
		a.users.mu.Unlock()
		if ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("users watcher never got a feed position")
		}
	}
	m.mu.Lock()
	m.reads = 0
	m.mu.Unlock()
	for i := 0; i < 20; i++ {
		r := call(a, "GET", "/_session", "", "Authorization", bob)
		if !strings.Contains(r.body, `"roles":["r1"]`) {
			t.Fatalf("session: %s", r.body)
		}
	}
	m.mu.Lock()
	reads := m.reads
	m.mu.Unlock()
	if reads > 1 {
		t.Errorf("%d user document reads for 20 requests: not cached", reads)
	}
	// A wrong password is still refused from the cache.
	expectError(t, call(a, "GET", "/_session", "", "Authorization", basic("bob", "px")), 401, "unauthorized", "Name or password is incorrect.")
	// Server admins keep priority over a _users document of the same name.
	m.docs["_users"][userDocPrefix+testUser] = memDoc{rev: couch.Rev{Pos: 1, ID: "a"}, body: mustUserBody(t, testUser, `[]`)}
	if r := call(a, "GET", "/_session", "", "Authorization", basic(testUser, testPass)); !strings.Contains(r.body, `"roles":["_admin"]`) {
		t.Errorf("admin: %s", r.body)
	}
	// Cookie login for a _users user carries their roles.
	r := call(a, "POST", "/_session", `{"name":"bob","password":"pw"}`, "Content-Type", "application/json")
	if r.status != http.StatusOK || !strings.Contains(r.body, `"roles":["r1"]`) {
		t.Fatalf("cookie login: %d %s", r.status, r.body)
	}
}
