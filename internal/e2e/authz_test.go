package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/divandb/divan/internal/testnode"
)

// Who is asking, in the order every row is tried (server admin last, so
// destructive rows succeed only at the end).
var authzUsers = []string{"anon", "wrong", "plain", "member", "role", "dbadmin", "admin"}

// outcome is an expected answer: a status and, for errors, CouchDB's error
// name and reason.
type outcome struct {
	status int
	err    string
	reason string
}

// Refusals, with CouchDB's exact wording (chttpd_auth_request.erl,
// couch_db.erl check_is_member/check_is_admin, couch_httpd_auth.erl).
var (
	badCreds     = outcome{401, "unauthorized", "Name or password is incorrect."}
	notSrvAdmin  = outcome{401, "unauthorized", "You are not a server admin."}
	anonNoDB     = outcome{401, "unauthorized", "You are not authorized to access this db."}
	userNoDB     = outcome{403, "forbidden", "You are not allowed to access this db."}
	notDBAdmin   = outcome{401, "unauthorized", "You are not a server or db admin."}
	notDBAdmin2  = outcome{403, "forbidden", "You are not a db or server admin."}
	usersSecLock = outcome{403, "forbidden", "You can't edit the security object of the user database."}
)

// access classes: who may do what, as a function of the user.
type access func(user string, ok outcome) outcome

// public endpoints answer everyone (chttpd_auth_request's exemptions).
func public(user string, ok outcome) outcome {
	if user == "wrong" {
		return badCreds
	}
	return ok
}

// serverAdmin endpoints: require_admin (couch_httpd:verify_is_server_admin).
func serverAdmin(user string, ok outcome) outcome {
	switch user {
	case "wrong":
		return badCreds
	case "admin":
		return ok
	}
	return notSrvAdmin
}

// member endpoints: db_authorization_check against the test db's
// _security (members: name "member", role "staff"; admins: name "dbadmin").
func member(user string, ok outcome) outcome {
	switch user {
	case "anon":
		return anonNoDB
	case "wrong":
		return badCreds
	case "plain":
		return userNoDB
	}
	return ok
}

// dbAdminHTTP is require_db_admin (_compact, _view_cleanup): always 401.
func dbAdminHTTP(user string, ok outcome) outcome {
	switch user {
	case "wrong":
		return badCreds
	case "dbadmin", "admin":
		return ok
	}
	return notDBAdmin
}

// dbAdminShard is a member check, then couch_db:check_is_admin on the
// shards (design documents, _revs_limit, _purged_infos_limit).
func dbAdminShard(user string, ok outcome) outcome {
	if o := member(user, ok); o != ok {
		return o
	}
	if user == "member" || user == "role" {
		return notDBAdmin2
	}
	return ok
}

// securityPut is a member check, then check_is_admin: members who are not
// db admins get 403 "You are not a db or server admin.", as the issue's
// acceptance asks (CouchDB 3.5 itself lets every shard refuse and answers
// 500 no_majority).
func securityPut(user string, ok outcome) outcome {
	if o := member(user, ok); o != ok {
		return o
	}
	if user == "member" || user == "role" {
		return notDBAdmin2
	}
	return ok
}

// memberThenServerAdmin is _purge: the member check, then server admins
// only.
func memberThenServerAdmin(user string, ok outcome) outcome {
	if o := member(user, ok); o != ok {
		return o
	}
	if user != "admin" {
		return notSrvAdmin
	}
	return ok
}

// adminOnlyDB is a database with CouchDB 3's default _security
// (default_security = admin_only), such as _users.
func adminOnlyDB(user string, ok outcome) outcome {
	switch user {
	case "anon":
		return anonNoDB
	case "wrong":
		return badCreds
	case "admin":
		return ok
	}
	return userNoDB
}

// TestAuthorizationTable runs every endpoint Divan serves as each kind of
// user and checks the status (and error) CouchDB 3.5 answers.
func TestAuthorizationTable(t *testing.T) {
	t.Parallel()
	// The "wrong password" identity fails again and again from one
	// address; lockout (TestLoginLockout) would turn its 401s into 403s.
	n := testnode.Start(t, testnode.Options{Config: "[chttpd_auth_lockout]\nmode = off\n"})
	admin := n.Client()

	// _users as CouchDB's setup creates it, and one user per role.
	admin.Expect(t, http.StatusCreated, http.MethodPut, "/_users", nil)
	passwords := map[string]string{"plain": "pw-plain", "member": "pw-member", "role": "pw-role", "dbadmin": "pw-dbadmin"}
	roles := map[string][]string{"plain": {}, "member": {}, "role": {"staff"}, "dbadmin": {}}
	for name, pw := range passwords {
		admin.Expect(t, http.StatusCreated, http.MethodPut, "/_users/org.couchdb.user:"+name,
			map[string]any{"type": "user", "name": name, "roles": roles[name], "password": pw})
	}
	clients := map[string]*testnode.Client{
		"anon":  n.AnonClient(),
		"wrong": n.ClientAs("member", "not-the-password"),
		"admin": admin,
	}
	for name, pw := range passwords {
		clients[name] = n.ClientAs(name, pw)
	}

	// The database under test, opened to its members and admins.
	createDB(t, admin, "sec")
	admin.Expect(t, http.StatusOK, http.MethodPut, "/sec/_security", map[string]any{
		"admins":  map[string]any{"names": []string{"dbadmin"}, "roles": []string{}},
		"members": map[string]any{"names": []string{"member"}, "roles": []string{"staff"}},
	})
	putDoc(t, admin, "sec", "d1", map[string]any{"v": 1, "_attachments": map[string]any{
		"a.txt": map[string]any{"content_type": "text/plain", "data": "aGVsbG8="}}})
	putDoc(t, admin, "sec", "_design/dd", map[string]any{"views": map[string]any{}})
	admin.Expect(t, http.StatusCreated, http.MethodPut, "/sec/_local/l1", map[string]any{"v": 1})
	createDB(t, admin, "victim")

	ok := func(s int) outcome { return outcome{status: s} }
	jsonCT := []string{"Content-Type", "application/json"}
	secObj := map[string]any{"admins": map[string]any{"names": []string{"dbadmin"}}, "members": map[string]any{"names": []string{"member"}, "roles": []string{"staff"}}}
	rows := []struct {
		method, path string
		body         any
		who          access
		ok           outcome
		headers      []string
	}{
		// Server endpoints.
		{"GET", "/", nil, public, ok(200), nil},
		{"GET", "/_up", nil, public, ok(200), nil},
		{"GET", "/_uuids", nil, public, ok(200), nil},
		{"GET", "/_session", nil, public, ok(200), nil},
		{"GET", "/favicon.ico", nil, public, ok(200), nil},
		{"GET", "/_all_dbs", nil, serverAdmin, ok(200), nil},
		{"POST", "/_dbs_info", map[string]any{"keys": []string{"sec"}}, serverAdmin, ok(200), nil},
		{"GET", "/_membership", nil, serverAdmin, ok(200), nil},
		{"GET", "/_node/_local", nil, serverAdmin, ok(200), nil},
		{"GET", "/_node/_local/_all_dbs", nil, serverAdmin, ok(200), nil},
		{"GET", "/_cluster_setup", nil, serverAdmin, ok(200), nil},
		{"GET", "/_node/_local/_config", nil, serverAdmin, ok(200), nil},
		{"GET", "/_node/_local/_config/uuids/max_count", nil, serverAdmin, ok(200), nil},
		{"PUT", "/_node/_local/_config/uuids/max_count", `"1000"`, serverAdmin, ok(200), nil},
		{"GET", "/_config", nil, serverAdmin, outcome{404, "not_found", "Database does not exist."}, nil},
		{"GET", "/_active_tasks", nil, serverAdmin, ok(501), nil},
		{"GET", "/_scheduler/jobs", nil, serverAdmin, ok(501), nil},
		{"PUT", "/newdb-{u}", nil, serverAdmin, ok(201), nil},
		{"DELETE", "/victim", nil, serverAdmin, ok(200), nil},
		// Database endpoints.
		{"GET", "/sec", nil, member, ok(200), nil},
		{"HEAD", "/sec", nil, member, ok(200), nil},
		{"POST", "/sec", map[string]any{"v": 2}, member, ok(201), nil},
		{"GET", "/sec/_all_docs", nil, member, ok(200), nil},
		{"POST", "/sec/_all_docs", map[string]any{"keys": []string{"d1"}}, member, ok(200), nil},
		{"GET", "/sec/_design_docs", nil, member, ok(200), nil},
		{"GET", "/sec/_changes", nil, member, ok(200), nil},
		{"POST", "/sec/_bulk_docs", map[string]any{"docs": []any{map[string]any{"v": 3}}}, member, ok(201), nil},
		{"POST", "/sec/_bulk_get", map[string]any{"docs": []any{map[string]any{"id": "d1"}}}, member, ok(200), nil},
		{"POST", "/sec/_revs_diff", map[string]any{}, member, ok(200), nil},
		{"POST", "/sec/_missing_revs", map[string]any{}, member, ok(200), nil},
		{"GET", "/sec/_security", nil, member, ok(200), nil},
		{"PUT", "/sec/_security", secObj, securityPut, ok(200), nil},
		{"GET", "/sec/_revs_limit", nil, member, ok(200), nil},
		{"PUT", "/sec/_revs_limit", 1000, dbAdminShard, ok(200), nil},
		{"GET", "/sec/_purged_infos_limit", nil, member, ok(200), nil},
		{"PUT", "/sec/_purged_infos_limit", 1000, dbAdminShard, ok(200), nil},
		{"POST", "/sec/_purge", map[string]any{}, memberThenServerAdmin, ok(201), nil},
		{"POST", "/sec/_compact", nil, dbAdminHTTP, ok(202), jsonCT},
		{"POST", "/sec/_view_cleanup", nil, dbAdminHTTP, ok(202), jsonCT},
		{"POST", "/sec/_ensure_full_commit", nil, member, ok(201), jsonCT},
		{"GET", "/sec/_shards", nil, member, ok(200), nil},
		{"POST", "/sec/_sync_shards", nil, serverAdmin, ok(202), nil},
		// Documents, design documents, _local documents, attachments.
		{"GET", "/sec/d1", nil, member, ok(200), nil},
		{"PUT", "/sec/doc-{u}", map[string]any{"v": 1}, member, ok(201), nil},
		{"COPY", "/sec/d1", nil, member, ok(201), []string{"Destination", "copy-{u}"}},
		{"GET", "/sec/d1/a.txt", nil, member, ok(200), nil},
		{"PUT", "/sec/att-{u}/a.txt", "hi", member, ok(201), []string{"Content-Type", "text/plain"}},
		{"GET", "/sec/_design/dd", nil, member, ok(200), nil},
		{"PUT", "/sec/_design/dd-{u}", map[string]any{"views": map[string]any{}}, dbAdminShard, ok(201), nil},
		{"POST", "/sec/_bulk_docs", map[string]any{"docs": []any{map[string]any{"_id": "_design/bulk-{u}"}}}, member, ok(201), nil},
		{"GET", "/sec/_design/dd/_view/v", nil, member, ok(501), nil},
		{"GET", "/sec/_local/l1", nil, member, ok(200), nil},
		{"PUT", "/sec/_local/l-{u}", map[string]any{"v": 1}, member, ok(201), nil},
		// _users, with CouchDB 3's default (admin_only) security.
		{"GET", "/_users", nil, adminOnlyDB, ok(200), nil},
		{"GET", "/_users/_all_docs", nil, serverAdmin, ok(200), nil},
		{"GET", "/_users/_changes", nil, serverAdmin, ok(200), nil},
		{"GET", "/_users/org.couchdb.user:plain", nil, adminOnlyDB, ok(200), nil},
		{"PUT", "/_users/org.couchdb.user:new-{u}", map[string]any{"type": "user", "name": "new-{u}", "roles": []string{}, "password": "x"}, adminOnlyDB, ok(201), nil},
		{"GET", "/_users/_design/_auth", nil, adminOnlyDB, ok(200), nil},
		{"PUT", "/_users/_security", map[string]any{}, adminOnlyDB, usersSecLock, nil},
		{"PUT", "/_users", nil, serverAdmin, outcome{412, "file_exists", "The database could not be created, the file already exists."}, nil},
	}
	for _, row := range rows {
		for _, user := range authzUsers {
			want := row.who(user, row.ok)
			path := strings.ReplaceAll(row.path, "{u}", user)
			body := row.body
			if body != nil {
				raw, _ := json.Marshal(body)
				body = json.RawMessage(strings.ReplaceAll(string(raw), "{u}", user))
			}
			if s, isStr := row.body.(string); isStr {
				body = s
			}
			headers := make([]string, len(row.headers))
			for i, h := range row.headers {
				headers[i] = strings.ReplaceAll(h, "{u}", user)
			}
			status, _, data := clients[user].Do(t, row.method, path, body, headers...)
			what := row.method + " " + path + " as " + user
			if want.err == "" {
				if status != want.status {
					t.Errorf("%s: status %d, want %d; body: %s", what, status, want.status, data)
				}
				continue
			}
			if row.method == http.MethodHead {
				if status != want.status {
					t.Errorf("%s: status %d, want %d", what, status, want.status)
				}
				continue
			}
			checkError(t, what, status, data, want.status, want.err, want.reason)
		}
	}

	// The user context of each kind of user.
	for user, wantRoles := range map[string]string{"anon": "[]", "plain": "[]", "role": `["staff"]`, "admin": `["_admin"]`} {
		var s struct {
			UserCtx struct {
				Roles json.RawMessage `json:"roles"`
			} `json:"userCtx"`
		}
		clients[user].ExpectJSON(t, http.StatusOK, http.MethodGet, "/_session", nil, &s)
		if string(s.UserCtx.Roles) != wantRoles {
			t.Errorf("_session as %s: roles %s, want %s", user, s.UserCtx.Roles, wantRoles)
		}
	}
	// Cookie login works for _users users and carries their roles.
	anon := n.AnonClient()
	status, hdr, data := anon.Do(t, http.MethodPost, "/_session", map[string]any{"name": "role", "password": "pw-role"})
	if status != http.StatusOK || !strings.Contains(string(data), `"roles":["staff"]`) {
		t.Fatalf("cookie login: %d %s", status, data)
	}
	cookie := strings.SplitN(hdr.Get("Set-Cookie"), ";", 2)[0]
	anon.Expect(t, http.StatusOK, http.MethodGet, "/sec/d1", nil, "Cookie", cookie)
	anon.Expect(t, http.StatusOK, http.MethodPost, "/_session", "name=member&password=pw-member", "Content-Type", "application/x-www-form-urlencoded")
	expectError(t, anon, http.StatusUnauthorized, "unauthorized", "Name or password is incorrect.",
		http.MethodPost, "/_session", map[string]any{"name": "role", "password": "nope"})

	// Passwords are stored hashed, CouchDB 3.5 style.
	doc := admin.Get(t, "/_users/org.couchdb.user:plain")
	if doc["password"] != nil || doc["password_scheme"] != "pbkdf2" || doc["pbkdf2_prf"] != "sha256" ||
		fmt.Sprint(doc["iterations"]) != "600000" || len(str(t, doc, "derived_key")) != 64 || len(str(t, doc, "salt")) != 32 {
		t.Errorf("stored user doc: %v", doc)
	}
	// A changed password takes effect at once (the credential cache
	// follows the _users changes feed).
	doc["password"] = "pw-new"
	admin.Expect(t, http.StatusCreated, http.MethodPut, "/_users/org.couchdb.user:plain", doc)
	testnode.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
		st, _, b := clients["plain"].Do(t, http.MethodGet, "/_session", nil, "X-Probe", "1")
		return st == http.StatusUnauthorized, string(b)
	})
	n.ClientAs("plain", "pw-new").Expect(t, http.StatusOK, http.MethodGet, "/_session", nil)
}

// TestLoginLockout: after [chttpd_auth_lockout] threshold failures, the
// account is refused from that address even with the right password, as
// CouchDB 3.4+ does, while every other account is served normally.
func TestLoginLockout(t *testing.T) {
	t.Parallel()
	n := testnode.Start(t, testnode.Options{Config: "[chttpd_auth_lockout]\nthreshold = 3\n"})
	admin := n.Client()
	admin.Expect(t, http.StatusCreated, http.MethodPut, "/_users", nil)
	for _, name := range []string{"victim", "bystander"} {
		admin.Expect(t, http.StatusCreated, http.MethodPut, "/_users/org.couchdb.user:"+name,
			map[string]any{"type": "user", "name": name, "roles": []string{}, "password": "pw-" + name})
	}
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	for i := range 3 {
		status, _, body := admin.Do(t, http.MethodGet, "/_session", nil, "Authorization", basic("victim", "wrong"))
		if status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s, want 401", i+1, status, body)
		}
	}
	locked := func(status int, body []byte) {
		t.Helper()
		if status != http.StatusForbidden || !strings.Contains(string(body), `"reason":"Account is temporarily locked due to multiple authentication failures"`) {
			t.Errorf("locked account: %d %s", status, body)
		}
	}
	status, _, body := admin.Do(t, http.MethodGet, "/_session", nil, "Authorization", basic("victim", "pw-victim"))
	locked(status, body)
	status, _, body = admin.Do(t, http.MethodPost, "/_session", map[string]any{"name": "victim", "password": "pw-victim"},
		"Content-Type", "application/json")
	locked(status, body)
	// Everyone else is served.
	if status, _, body := admin.Do(t, http.MethodGet, "/_session", nil, "Authorization", basic("bystander", "pw-bystander")); status != http.StatusOK || !strings.Contains(string(body), `"name":"bystander"`) {
		t.Errorf("bystander: %d %s", status, body)
	}
	admin.Expect(t, http.StatusOK, http.MethodGet, "/_all_dbs", nil)
}
