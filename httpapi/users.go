package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/auth"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// The authentication database ([chttpd_auth] authentication_db) and its
// document id prefix.
const (
	usersDB       = "_users"
	userDocPrefix = "org.couchdb.user:"
	authDDocID    = "_design/_auth"
)

// authDDocVDU is the validate_doc_update of CouchDB's _design/_auth
// (couch_js_functions.hrl). Divan enforces the same rules in Go
// (validateUserDoc); the design document is stored so that clients that
// look for it (Fauxton, CouchDB's own test suite) find it.
const authDDocVDU = `function(newDoc, oldDoc, userCtx, secObj) {
    if (newDoc._deleted === true) {
        // allow deletes by admins and matching users
        // without checking the other fields
        if ((userCtx.roles.indexOf('_admin') !== -1) ||
            (userCtx.name == oldDoc.name)) {
            return;
        } else {
            throw({forbidden: 'Only admins may delete other user docs.'});
        }
    }

    if ((oldDoc && oldDoc.type !== 'user') || newDoc.type !== 'user') {
        throw({forbidden : 'doc.type must be user'});
    } // we only allow user docs for now

    if (!newDoc.name) {
        throw({forbidden: 'doc.name is required'});
    }

    if (newDoc.roles && !isArray(newDoc.roles)) {
        throw({forbidden: 'doc.roles must be an array'});
    }

    if (newDoc._id !== ('org.couchdb.user:' + newDoc.name)) {
        throw({
            forbidden: 'Doc ID must be of the form org.couchdb.user:name'
        });
    }

    if (oldDoc) { // validate all updates
        if (oldDoc.name !== newDoc.name) {
            throw({forbidden: 'Usernames can not be changed.'});
        }
    }

    if (newDoc.password_sha && !newDoc.salt) {
        throw({
            forbidden: 'Users with password_sha must have a salt.' +
                'See /_utils/script/couch.js for example code.'
        });
    }

    if (userCtx.roles.indexOf('_admin') === -1) {
        if (oldDoc) { // validate non-admin updates
            if (userCtx.name !== newDoc.name) {
                throw({
                    forbidden: 'You may only update your own user document.'
                });
            }
            // validate role updates
            var oldRoles = oldDoc.roles.sort();
            var newRoles = newDoc.roles.sort();

            if (oldRoles.length !== newRoles.length) {
                throw({forbidden: 'Only _admin may edit roles'});
            }

            for (var i = 0; i < oldRoles.length; i++) {
                if (oldRoles[i] !== newRoles[i]) {
                    throw({forbidden: 'Only _admin may edit roles'});
                }
            }
        } else if (newDoc.roles.length > 0) {
            throw({forbidden: 'Only _admin may set roles'});
        }
    }

    // no system roles in users db
    for (var i = 0; i < newDoc.roles.length; i++) {
        if (newDoc.roles[i][0] === '_') {
            throw({
                forbidden:
                'No system roles (starting with underscore) in users db.'
            });
        }
    }

    // no system names as names
    if (newDoc.name[0] === '_') {
        throw({forbidden: 'Username may not start with underscore.'});
    }

    var badUserNameChars = [':'];

    for (var i = 0; i < badUserNameChars.length; i++) {
        if (newDoc.name.indexOf(badUserNameChars[i]) >= 0) {
            throw({forbidden: 'Character ` + "`" + `' + badUserNameChars[i] +
                    '` + "`" + ` is not allowed in usernames.'});
        }
    }
}`

// userDocName is couch_users_db:get_doc_name/1: the user a document id
// belongs to, or "" for ids outside org.couchdb.user:.
func userDocName(id string) string {
	name, ok := strings.CutPrefix(id, userDocPrefix)
	if !ok {
		return ""
	}
	return name
}

// ---------------------------------------------------------------------------
// Request user context
// ---------------------------------------------------------------------------

type userCtxKey struct{}

// withUser returns ctx carrying the request's user, which the write hooks
// (updateDocs) judge documents by, as CouchDB passes {user_ctx, Ctx} down
// to the shards.
func withUser(ctx context.Context, u userCtx) context.Context {
	return context.WithValue(ctx, userCtxKey{}, u)
}

// userFrom returns the user ctx carries. Writes that no HTTP request made
// (the API creating its own system documents) run as a server admin, as
// CouchDB's internal writes use ?ADMIN_CTX.
func userFrom(ctx context.Context) userCtx {
	if u, ok := ctx.Value(userCtxKey{}).(userCtx); ok {
		return u
	}
	return userCtx{roles: adminRoles, admin: true}
}

// ---------------------------------------------------------------------------
// Credentials of _users users, cached
// ---------------------------------------------------------------------------

// userCreds is what authentication needs from a user document.
type userCreds struct {
	roles []string
	hash  auth.UserHash
	// verified is an HMAC of the last password that matched hash, so a
	// repeated login costs one HMAC instead of a PBKDF2 derivation.
	verified []byte
}

// userStore caches _users credentials (chttpd_auth_cache). Entries are
// dropped when their document changes: a watcher follows the _users
// changes feed through fabric, so an update made through any node (it
// reaches this node's copies by internal replication) evicts the entry.
// Nothing is cached while the watcher is not following the feed.
type userStore struct {
	ctx    context.Context // ends at API shutdown; bounds the watcher
	cancel context.CancelFunc
	key    []byte // HMAC key for verified passwords, random per process

	mu       sync.Mutex
	creds    map[string]*userCreds
	gen      uint64 // bumped by every eviction; guards inserts of stale reads
	watching bool   // a watcher goroutine runs
	ready    bool   // it has a feed position: caching is safe
	failedAt time.Time
	done     chan struct{} // closed when the running watcher exits
}

func newUserStore() *userStore {
	ctx, cancel := context.WithCancel(context.Background())
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails on supported platforms
	return &userStore{ctx: ctx, cancel: cancel, key: key, creds: map[string]*userCreds{}}
}

// close stops the watcher and waits for it.
func (s *userStore) close() {
	s.cancel()
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done != nil {
		<-done
	}
}

// authenticate checks a _users user's password and returns their roles;
// errBadCreds when there is no such user or the password is wrong.
func (s *userStore) authenticate(ctx context.Context, a *API, name, password string) ([]string, error) {
	creds, err := s.lookup(ctx, a, name)
	if err != nil {
		return nil, err
	}
	if creds == nil {
		return nil, errBadCreds
	}
	digest := s.passwordDigest(name, password, &creds.hash)
	s.mu.Lock()
	hit := creds.verified != nil && hmac.Equal(creds.verified, digest)
	s.mu.Unlock()
	if hit {
		return creds.roles, nil
	}
	if !auth.VerifyUserPassword(password, creds.hash) {
		return nil, errBadCreds
	}
	s.mu.Lock()
	creds.verified = digest
	s.mu.Unlock()
	return creds.roles, nil
}

// passwordDigest binds a password to the user and to the stored hash it
// matched, so a changed document never reuses an old verification.
func (s *userStore) passwordDigest(name, password string, h *auth.UserHash) []byte {
	mac := hmac.New(sha256.New, s.key)
	for _, part := range []string{name, password, h.Scheme, h.PRF, h.Salt, strconv.Itoa(h.Iterations), h.DerivedKey} {
		mac.Write([]byte(part))
		mac.Write([]byte{0})
	}
	return mac.Sum(nil)
}

// lookup returns name's credentials (nil when there is no usable user
// document), from the cache when the watcher vouches for it.
func (s *userStore) lookup(ctx context.Context, a *API, name string) (*userCreds, error) {
	s.mu.Lock()
	c, cached := s.creds[name]
	gen, ready := s.gen, s.ready
	s.mu.Unlock()
	if cached && ready {
		return c, nil
	}
	c, err := readUserCreds(ctx, a.b, name)
	if isNoDB(err) {
		return nil, nil // no _users database: nobody but server admins
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.ready && s.gen == gen {
		s.creds[name] = c
	}
	s.mu.Unlock()
	s.ensureWatcher(a)
	return c, nil
}

// readUserCreds reads org.couchdb.user:name (chttpd_auth_cache's
// get_user_props). Missing and deleted documents, and documents with
// conflicts (validate_user_creds refuses them), yield nil.
func readUserCreds(ctx context.Context, b Backend, name string) (*userCreds, error) {
	doc, err := b.OpenDoc(ctx, usersDB, userDocPrefix+name, fabric.ReadOptions{})
	if isNoDB(err) {
		return nil, err
	}
	if errors.Is(err, couch.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read user document: %w", err)
	}
	if len(doc.Revisions) == 0 || doc.Revisions[0].Deleted || doc.Revisions[0].Missing {
		return nil, nil
	}
	if doc.Tree != nil && len(doc.Tree.Conflicts()) > 0 {
		return nil, nil
	}
	var v struct {
		Roles       []any  `json:"roles"`
		Scheme      string `json:"password_scheme"`
		PRF         string `json:"pbkdf2_prf"`
		Salt        string `json:"salt"`
		Iterations  any    `json:"iterations"`
		DerivedKey  string `json:"derived_key"`
		PasswordSHA string `json:"password_sha"`
	}
	if err := json.Unmarshal(doc.Revisions[0].Body, &v); err != nil {
		return nil, nil // not a usable user document
	}
	c := &userCreds{roles: []string{}, hash: auth.UserHash{Scheme: v.Scheme, PRF: v.PRF, Salt: v.Salt, DerivedKey: v.DerivedKey}}
	for _, r := range v.Roles {
		if s, ok := r.(string); ok {
			c.roles = append(c.roles, s)
		}
	}
	switch c.hash.Scheme {
	case "", auth.SchemeSimple:
		c.hash.Scheme, c.hash.DerivedKey = auth.SchemeSimple, v.PasswordSHA
	case auth.SchemePBKDF2:
		c.hash.Iterations = 10000 // couch_httpd_auth's default when absent
		if f, ok := v.Iterations.(float64); ok {
			c.hash.Iterations = int(f)
		}
	}
	return c, nil
}

// isNoDB reports whether err is couch.ErrNoDB itself (errors.Is matches
// every not_found).
func isNoDB(err error) bool {
	var ce *couch.Error
	return errors.As(err, &ce) && ce.Code == couch.ErrNoDB.Code && ce.Reason == couch.ErrNoDB.Reason
}

// ensureWatcher starts the changes watcher unless one runs (or one failed
// within the last second: no busy retries while _users is unreachable).
func (s *userStore) ensureWatcher(a *API) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watching || s.ctx.Err() != nil || time.Since(s.failedAt) < time.Second {
		return
	}
	s.watching = true
	s.done = make(chan struct{})
	go s.watch(a, s.done)
}

// watch follows the _users changes feed and evicts every user whose
// document changed. Whatever ends it, the cache is emptied: entries are
// only trusted while someone watches.
func (s *userStore) watch(a *API, done chan struct{}) {
	defer close(done)
	defer func() {
		s.mu.Lock()
		s.watching, s.ready, s.failedAt = false, false, time.Now()
		clear(s.creds)
		s.gen++
		s.mu.Unlock()
	}()
	ctx := s.ctx
	since := "now"
	for {
		// Register for the next change before reading the feed, so a
		// write landing between the two is not missed.
		wctx, cancel := context.WithCancel(ctx)
		changed, err := a.b.WaitForChange(wctx, usersDB)
		if err != nil {
			cancel()
			a.log.DebugContext(ctx, "users cache watcher stopped", "err", err)
			return
		}
		res, err := a.b.Changes(ctx, usersDB, fabric.ChangesOptions{Since: since, Limit: -1}, func(row fabric.ChangeRow) error {
			s.evict(row.ID)
			return nil
		})
		if err != nil {
			cancel()
			a.log.DebugContext(ctx, "users cache watcher stopped", "err", err)
			return
		}
		since = res.LastSeq
		s.mu.Lock()
		first := !s.ready
		if first {
			s.ready = true
			s.gen++ // reads made before the feed position was known are not cached
		}
		s.mu.Unlock()
		if first {
			// As chttpd_auth_cache's listener does, put _design/_auth back
			// if an admin deleted or changed it.
			if err := a.ensureAuthDDoc(ctx); err != nil {
				a.log.DebugContext(ctx, "users cache watcher: ensure _design/_auth", "err", err)
			}
		}
		select {
		case <-changed:
			cancel()
		case <-ctx.Done():
			cancel()
			return
		}
	}
}

// evict forgets the user a changed document belongs to.
func (s *userStore) evict(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	if name := userDocName(id); name != "" {
		delete(s.creds, name)
	}
}

// ---------------------------------------------------------------------------
// Document hooks: design-document rights, and _users' before_doc_update,
// validate_doc_update and after_doc_read.
// ---------------------------------------------------------------------------

// updateDocs is fabric:update_docs with the per-document checks CouchDB's
// shards make before storing (couch_db:update_docs): the _users hooks and
// the db-admin requirement for design documents. Rejected documents get
// their error in place; the others are written.
func (a *API) updateDocs(ctx context.Context, db string, docs []*couch.Doc, opts fabric.WriteOptions) ([]fabric.DocResult, error) {
	u := userFrom(ctx)
	var errs []error
	for i, d := range docs {
		if err := a.beforeWrite(ctx, &u, db, d, opts.NewEdits); err != nil {
			if errs == nil {
				errs = make([]error, len(docs))
			}
			errs[i] = err
		}
	}
	if errs == nil {
		return a.b.UpdateDocs(ctx, db, docs, opts)
	}
	pass := make([]*couch.Doc, 0, len(docs))
	for i, d := range docs {
		if errs[i] == nil {
			pass = append(pass, d)
		}
	}
	var res []fabric.DocResult
	if len(pass) > 0 {
		var err error
		if res, err = a.b.UpdateDocs(ctx, db, pass, opts); err != nil {
			return nil, err
		}
	}
	out := make([]fabric.DocResult, len(docs))
	j := 0
	for i, d := range docs {
		if errs[i] != nil {
			out[i] = fabric.DocResult{ID: d.ID, Err: errs[i]}
			continue
		}
		if j < len(res) {
			out[i] = res[j]
		}
		j++
	}
	return out, nil
}

// beforeWrite runs the checks of one document write, in CouchDB's order:
// the db's before_doc_update (which hashes _users passwords), then
// validation (design documents need a db admin; _users documents pass
// _design/_auth's rules). _local documents skip both.
func (a *API) beforeWrite(ctx context.Context, u *userCtx, db string, d *couch.Doc, newEdits bool) error {
	if strings.HasPrefix(d.ID, "_local/") {
		return nil
	}
	if db == usersDB {
		if err := a.usersBeforeUpdate(ctx, u, d, newEdits); err != nil {
			return err
		}
	}
	if db == replicatorDB {
		if err := a.replicatorBeforeUpdate(ctx, u, d, newEdits); err != nil {
			return err
		}
	}
	if strings.HasPrefix(d.ID, "_design/") {
		return a.checkIsAdmin(ctx, u, db)
	}
	if db == usersDB {
		return a.validateUserDocWrite(ctx, u, d, newEdits)
	}
	return nil
}

// isUsersAdmin reports whether u administers _users (a server admin or a
// db admin by its _security object).
func (a *API) isUsersAdmin(ctx context.Context, u *userCtx) (bool, error) {
	if u.admin {
		return true, nil
	}
	sec, err := a.securityOf(ctx, usersDB)
	if err != nil {
		return false, err
	}
	return sec.isAdmin(u), nil
}

// usersBeforeUpdate is couch_users_db:before_doc_update/3. A logged-in
// non-admin may only write their own document (anything else is a 404, so
// other users' names do not leak); the anonymous user may write any (to
// sign up; validation refuses the rest). A plain "password" is replaced by
// its PBKDF2 hash. Replicated writes (new_edits=false) keep their body:
// it is what their revision id was computed from.
func (a *API) usersBeforeUpdate(ctx context.Context, u *userCtx, d *couch.Doc, newEdits bool) error {
	admin, err := a.isUsersAdmin(ctx, u)
	if err != nil {
		return err
	}
	if !admin && u.name != "" && u.name != userDocName(d.ID) {
		return couch.ErrNotFound
	}
	if !newEdits || d.Deleted {
		return nil
	}
	body, err := hashUserPassword(d.Body, a.conf().PasswordIterations)
	if err != nil {
		return err
	}
	d.Body = body
	return nil
}

// passwordFields are the members couch_users_db:save_doc replaces.
var passwordFields = map[string]bool{
	"derived_key": true, "iterations": true, "password": true, "password_scheme": true,
	"password_sha": true, "preserve_salt": true, "pbkdf2_prf": true, "salt": true,
}

// hashUserPassword is couch_users_db:save_doc/1 for the pbkdf2 scheme: a
// string "password" member becomes password_scheme, pbkdf2_prf, salt,
// iterations and derived_key, placed first, followed by the other members
// as sent. preserve_salt: true keeps the document's salt. A body without a
// password (or with "password": null) is returned unchanged.
func hashUserPassword(body []byte, iterations int) ([]byte, error) {
	var password, salt string
	hasPassword, preserveSalt := false, false
	err := rawjson.Members(body, func(m rawjson.Member) error {
		switch m.Key {
		case "password":
			if s, ok := rawjson.String(m.Value); ok && !hasPassword {
				password, hasPassword = s, true
			}
		case "preserve_salt":
			preserveSalt = string(m.Value) == "true"
		case "salt":
			salt, _ = rawjson.String(m.Value)
		}
		return nil
	})
	if err != nil || !hasPassword {
		return body, nil
	}
	h, err := auth.HashUserPassword(password, iterations)
	if err != nil {
		return nil, err
	}
	if preserveSalt && salt != "" {
		h, err = auth.HashUserPasswordWithSalt(password, salt, iterations)
		if err != nil {
			return nil, err
		}
	}
	out := make([]byte, 0, len(body)+160)
	out = append(out, `{"password_scheme":"pbkdf2","pbkdf2_prf":"sha256","salt":`...)
	out = rawjson.AppendString(out, h.Salt)
	out = append(out, `,"iterations":`...)
	out = strconv.AppendInt(out, int64(h.Iterations), 10)
	out = append(out, `,"derived_key":`...)
	out = rawjson.AppendString(out, h.DerivedKey)
	_ = rawjson.Members(body, func(m rawjson.Member) error {
		if passwordFields[m.Key] {
			return nil
		}
		out = append(out, ',')
		out = rawjson.AppendString(out, m.Key)
		out = append(out, ':')
		out = append(out, m.Value...)
		return nil
	})
	return append(out, '}'), nil
}

// validateUserDocWrite runs _design/_auth's validate_doc_update against
// the revision the write is based on (CouchDB's oldDoc). A write that will
// conflict anyway is left to fabric, which reports the conflict, as
// CouchDB checks conflicts before validating.
func (a *API) validateUserDocWrite(ctx context.Context, u *userCtx, d *couch.Doc, newEdits bool) error {
	var old map[string]any
	opts := fabric.ReadOptions{}
	if !d.Rev.IsZero() && newEdits {
		opts.Rev = d.Rev
	}
	cur, err := a.b.OpenDoc(ctx, usersDB, d.ID, opts)
	switch {
	case err == nil && len(cur.Revisions) > 0 && !cur.Revisions[0].Missing:
		rv := cur.Revisions[0]
		if newEdits && d.Rev.IsZero() && !rv.Deleted {
			return nil // a conflict
		}
		if !(rv.Deleted && d.Rev.IsZero()) {
			old = map[string]any{}
			_ = json.Unmarshal(rv.Body, &old)
			if rv.Deleted {
				old["_deleted"] = true
			}
		}
	case errors.Is(err, couch.ErrNotFound): // missing or deleted
		if newEdits && !d.Rev.IsZero() {
			return nil // the edited revision does not exist: a conflict
		}
	case err != nil:
		return err
	}
	newDoc := map[string]any{}
	if err := json.Unmarshal(d.Body, &newDoc); err != nil {
		return badRequest("invalid UTF-8 JSON")
	}
	admin, err := a.isUsersAdmin(ctx, u)
	if err != nil {
		return err
	}
	if reason := validateUserDoc(d.ID, d.Deleted, newDoc, old, u.name, admin); reason != "" {
		return couch.Errorf(couch.CodeForbidden, "%s", reason)
	}
	return nil
}

// validateUserDoc is _design/_auth's validate_doc_update (authDDocVDU):
// it returns the forbidden reason, or "" when the write is allowed. old is
// nil for a new document. admin is "server or database admin".
func validateUserDoc(id string, deleted bool, newDoc, old map[string]any, userName string, admin bool) string {
	if deleted {
		if admin || (old != nil && jsEqual(old["name"], userName)) {
			return ""
		}
		return "Only admins may delete other user docs."
	}
	if (old != nil && old["type"] != "user") || newDoc["type"] != "user" {
		return "doc.type must be user"
	}
	name := newDoc["name"]
	if !jsTruthy(name) {
		return "doc.name is required"
	}
	roles, rolesIsArray := newDoc["roles"].([]any)
	if jsTruthy(newDoc["roles"]) && !rolesIsArray {
		return "doc.roles must be an array"
	}
	if id != userDocPrefix+jsString(name) {
		return "Doc ID must be of the form org.couchdb.user:name"
	}
	if old != nil && !jsStrictEqual(old["name"], name) {
		return "Usernames can not be changed."
	}
	if jsTruthy(newDoc["password_sha"]) && !jsTruthy(newDoc["salt"]) {
		return "Users with password_sha must have a salt.See /_utils/script/couch.js for example code."
	}
	if !admin {
		if old != nil {
			if !jsStrictEqual(name, userName) || userName == "" {
				return "You may only update your own user document."
			}
			oldRoles, _ := old["roles"].([]any)
			if !sameRoles(oldRoles, roles) {
				return "Only _admin may edit roles"
			}
		} else if len(roles) > 0 {
			return "Only _admin may set roles"
		}
	}
	for _, r := range roles {
		if s, ok := r.(string); ok && strings.HasPrefix(s, "_") {
			return "No system roles (starting with underscore) in users db."
		}
	}
	if s, ok := name.(string); ok {
		if strings.HasPrefix(s, "_") {
			return "Username may not start with underscore."
		}
		if strings.Contains(s, ":") {
			return "Character `:` is not allowed in usernames."
		}
	}
	return ""
}

// sameRoles compares two role lists as the VDU does (sorted, element by
// element).
func sameRoles(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	as, bs := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		as[i], bs[i] = jsString(a[i]), jsString(b[i])
	}
	slices.Sort(as)
	slices.Sort(bs)
	return slices.Equal(as, bs)
}

// jsTruthy is JavaScript truthiness for decoded JSON values.
func jsTruthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case float64:
		return v != 0
	case string:
		return v != ""
	}
	return true
}

// jsString is JavaScript's string conversion for the values a user
// document name can take.
func jsString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return "null"
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return "[object Object]"
}

// jsStrictEqual is === for scalars (objects are never equal).
func jsStrictEqual(a, b any) bool {
	switch a.(type) {
	case string, float64, bool, nil:
		return a == b
	}
	return false
}

// jsEqual is == between a document value and a user name (string or
// null for the anonymous user).
func jsEqual(v any, name string) bool {
	if name == "" {
		return v == nil
	}
	return v == name
}

// userDocReadCheck is couch_users_db:after_doc_read/2 for a non-admin
// reading _users document id: design documents are refused (when they
// exist) and other users' documents, whose public fields
// ([chttpd_auth] public_fields) are empty by default, are "missing".
func (a *API) userDocReadCheck(rq *request, db, id string) error {
	if db != usersDB || strings.HasPrefix(id, "_local/") {
		return nil
	}
	admin, err := a.isUsersAdmin(rq.ctx, &rq.user)
	if err != nil || admin {
		return err
	}
	if strings.HasPrefix(id, "_design/") {
		if _, err := a.b.OpenDoc(rq.ctx, db, id, fabric.ReadOptions{}); err != nil {
			return err
		}
		return couch.Errorf(couch.CodeForbidden, "Only administrators can view design docs in the users database.")
	}
	if rq.user.name == "" || userDocName(id) != rq.user.name {
		return couch.ErrNotFound
	}
	return nil
}

// ---------------------------------------------------------------------------
// System databases
// ---------------------------------------------------------------------------

// afterCreateDB finishes a database creation: the everyone
// default_security opens it, and _users gets its _design/_auth.
func (a *API) afterCreateDB(ctx context.Context, db string) error {
	a.secs.forget(db)
	if a.conf().DefaultSecurity == DefaultSecurityEveryone {
		if err := a.b.SetSecurity(ctx, db, []byte("{}")); err != nil {
			return fmt.Errorf("apply default security to %s: %w", db, err)
		}
	}
	if db == usersDB {
		return a.ensureAuthDDoc(ctx)
	}
	return nil
}

// ensureAuthDDoc writes _design/_auth unless it is there with the current
// validate_doc_update (chttpd_auth_cache:ensure_auth_ddoc_exists).
func (a *API) ensureAuthDDoc(ctx context.Context) error {
	doc := &couch.Doc{ID: authDDocID}
	cur, err := a.b.OpenDoc(ctx, usersDB, authDDocID, fabric.ReadOptions{})
	switch {
	case err == nil && len(cur.Revisions) > 0:
		var v struct {
			VDU string `json:"validate_doc_update"`
		}
		if json.Unmarshal(cur.Revisions[0].Body, &v) == nil && v.VDU == authDDocVDU && !cur.Revisions[0].Deleted {
			return nil
		}
		doc.Rev = cur.Revisions[0].Rev
	case errors.Is(err, couch.ErrNotFound): // missing or deleted
	default:
		return fmt.Errorf("read %s: %w", authDDocID, err)
	}
	body := append([]byte(`{"language":"javascript","validate_doc_update":`), rawjson.AppendString(nil, authDDocVDU)...)
	doc.Body = append(body, '}')
	res, err := a.b.UpdateDocs(ctx, usersDB, []*couch.Doc{doc}, fabric.WriteOptions{NewEdits: true})
	if err != nil {
		return fmt.Errorf("write %s: %w", authDDocID, err)
	}
	if len(res) == 1 && res[0].Err != nil && !errors.Is(res[0].Err, couch.ErrConflict) {
		return fmt.Errorf("write %s: %w", authDDocID, res[0].Err)
	}
	return nil
}

// EnsureSystemDBs creates _users (with _design/_auth) and _replicator when
// they are missing, as CouchDB does at start with [couchdb] single_node =
// true (setup:finish_cluster creates the same dbs for a cluster).
func (a *API) EnsureSystemDBs(ctx context.Context) error {
	for _, db := range clusterSystemDBs {
		err := a.b.CreateDB(ctx, db, fabric.CreateDBOptions{})
		switch {
		case err == nil:
			if err := a.afterCreateDB(ctx, db); err != nil {
				return err
			}
		case errors.Is(err, couch.ErrDBExists):
			if db == usersDB {
				if err := a.ensureAuthDDoc(ctx); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("create %s: %w", db, err)
		}
	}
	return nil
}
