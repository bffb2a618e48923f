package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/divandb/divan/internal/auth"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// userCtx is CouchDB's #user_ctx: the authenticated name (empty for the
// anonymous user, rendered null) and roles.
type userCtx struct {
	name    string
	roles   []string
	admin   bool   // a server admin (holds the _admin role)
	handler string // the authentication handler that succeeded
}

var adminRoles = []string{"_admin"}

// authHandler is one of chttpd's authentication_handlers. It returns done
// when it settled who the request is (an error ends the request); a
// handler that does not apply returns false and the next one runs.
type authHandler func(a *API, rq *request) (done bool, err error)

// The authentication handlers by their names in [chttpd]
// authentication_handlers and in GET /_session's info.
const (
	AuthJWT     = "jwt"
	AuthProxy   = "proxy"
	AuthCookie  = "cookie"
	AuthDefault = "default"
)

// DefaultAuthHandlers is CouchDB's default chain: cookie, then Basic.
var DefaultAuthHandlers = []string{AuthCookie, AuthDefault}

func handlerByName(name string) authHandler {
	switch name {
	case AuthJWT:
		return (*API).jwtAuth
	case AuthProxy:
		return (*API).proxyAuth
	case AuthCookie:
		return (*API).cookieAuth
	case AuthDefault:
		return (*API).basicAuth
	}
	return nil
}

// authenticate runs the configured authentication handlers in order. A
// request no handler claims stays anonymous; wrong credentials are a 401
// on every path, as with CouchDB's default handler. The Basic handler runs
// before the cookie whatever the order, as CouchDB's cookie handler defers
// to an Authorization header.
func (a *API) authenticate(rq *request) error {
	c := a.conf()
	if c.RequireValidUserExceptUp && len(rq.parts) == 1 && rq.parts[0] == "_up" {
		return nil // health checks stay anonymous (chttpd's _up exemption)
	}
	if err := a.runAuthHandlers(rq, c.AuthHandlers); err != nil {
		return err
	}
	if c.RequireValidUser && rq.user.handler == "" {
		return errAuthRequired
	}
	return nil
}

func (a *API) runAuthHandlers(rq *request, names []string) error {
	if strings.HasPrefix(rq.r.Header.Get("Authorization"), "Basic ") && slices.Contains(names, AuthDefault) {
		_, err := a.basicAuth(rq)
		return err
	}
	for _, name := range names {
		if h := handlerByName(name); h != nil {
			if done, err := h(a, rq); err != nil || done {
				return err
			}
		}
	}
	return nil
}

// errAuthRequired answers anonymous requests under [chttpd]
// require_valid_user.
var errAuthRequired = couch.Errorf(couch.CodeUnauthorized, "Authentication required.")

// jwtAuth is couch_httpd_auth:jwt_authentication_handler: an
// "Authorization: Bearer" token verified against [jwt_keys]; a bad token
// ends the request with CouchDB's error.
func (a *API) jwtAuth(rq *request) (bool, error) {
	v := a.conf().JWT
	if v == nil {
		return false, nil
	}
	token, ok := auth.BearerToken(rq.r.Header.Get("Authorization"))
	if !ok {
		return false, nil
	}
	name, roles, err := v.Verify(token, time.Now())
	if err != nil {
		return true, err
	}
	rq.user = userCtx{name: name, roles: roles, admin: slices.Contains(roles, "_admin"), handler: AuthJWT}
	return true, nil
}

// proxyAuth is couch_httpd_auth:proxy_authentication_handler: a trusted
// proxy names the user and roles in headers, signed with the shared secret
// when proxy_use_secret is set.
func (a *API) proxyAuth(rq *request) (bool, error) {
	p := a.conf().Proxy
	if p == nil {
		return false, nil
	}
	name, roles, ok := p.Authenticate(rq.r.Header)
	if !ok {
		return false, nil
	}
	rq.user = userCtx{name: name, roles: roles, admin: slices.Contains(roles, "_admin"), handler: AuthProxy}
	return true, nil
}

// basicAuth is couch_httpd_auth:default_authentication_handler: HTTP Basic
// credentials checked against the server admins first, then the _users
// database.
func (a *API) basicAuth(rq *request) (bool, error) {
	hdr := rq.r.Header.Get("Authorization")
	if !strings.HasPrefix(hdr, "Basic ") {
		return false, nil
	}
	user, pass, ok, err := auth.ParseBasicHeader(hdr)
	if err != nil || !ok {
		return true, err // undecodable, or the "log me out" pair: anonymous
	}
	u, err := a.checkLogin(rq, user, pass)
	if err != nil {
		return true, err
	}
	u.handler = AuthDefault
	rq.user = u
	return true, nil
}

// checkLogin is checkPassword behind [chttpd_auth_lockout]: once a name
// failed threshold times from one peer, that peer is refused with 403
// before its password is even checked, while everyone else is served.
func (a *API) checkLogin(rq *request, name, password string) (userCtx, error) {
	lock := a.conf().Lockout
	if lock == nil {
		return a.checkPassword(rq.ctx, name, password)
	}
	key := auth.LockoutKey{
		Peer: auth.PeerAddress(rq.r.RemoteAddr, rq.r.Header.Get("X-Forwarded-For")),
		User: name,
	}
	// The salt is part of the key so that a new password starts afresh.
	if _, salt, ok := a.sessionUser(rq.ctx, name); ok {
		key.Salt = salt
	}
	now := time.Now()
	switch lock.Check(key, now) {
	case auth.LockoutLocked:
		return userCtx{}, auth.LockedOutError()
	case auth.LockoutWarned:
		a.log.WarnContext(rq.ctx, "authentication failure threshold reached", "user", name, "peer", key.Peer)
	}
	u, err := a.checkPassword(rq.ctx, name, password)
	if errors.Is(err, errBadCreds) {
		lock.Failed(key, now)
	}
	return u, err
}

// checkPassword authenticates name and password: a server admin from the
// configuration (who takes priority), else a _users user. Wrong
// credentials are errBadCreds.
func (a *API) checkPassword(ctx context.Context, name, password string) (userCtx, error) {
	if f := a.conf().Authenticate; f != nil {
		if ok, admin := f(name, password); ok {
			u := userCtx{name: name, roles: []string{}, admin: admin}
			if admin {
				u.roles = adminRoles
			}
			return u, nil
		}
	}
	roles, err := a.users.authenticate(ctx, a, name, password)
	if err != nil {
		return userCtx{}, err
	}
	return userCtx{name: name, roles: roles}, nil
}

// requireAdmin is couch_httpd:verify_is_server_admin.
func (rq *request) requireAdmin() error {
	if rq.user.admin {
		return nil
	}
	return errNotAdmin
}

// requireMember is chttpd_auth_request's db_authorization_check
// (fabric:get_security with the user's context, which opens the database
// and runs couch_db:check_is_member): a missing database is a 404, then
// anonymous non-members get a 401 and named ones a 403.
func (rq *request) requireMember(db string) error {
	sec, err := rq.api.securityOf(rq.ctx, db)
	if err != nil {
		return err
	}
	rq.dbChecked = true
	if sec.isMember(&rq.user) {
		return nil
	}
	if rq.user.name == "" {
		return errNoDBAccess
	}
	return errDBForbidden
}

// requireDBAdmin is chttpd_auth_request's require_db_admin (_compact,
// _view_cleanup): always a 401, whoever asks.
func (rq *request) requireDBAdmin(db string) error {
	sec, err := rq.api.securityOf(rq.ctx, db)
	if err != nil {
		return err
	}
	rq.dbChecked = true
	if sec.isAdmin(&rq.user) {
		return nil
	}
	return errNotDBAdmin
}

// checkIsAdmin is couch_db:check_is_admin/1, which the shards run for
// design document writes, _revs_limit and _purged_infos_limit: 401 for
// the anonymous user, 403 for anyone else.
func (a *API) checkIsAdmin(ctx context.Context, u *userCtx, db string) error {
	if u.admin {
		return nil
	}
	sec, err := a.securityOf(ctx, db)
	if err != nil {
		return err
	}
	if sec.isAdmin(u) {
		return nil
	}
	return securityError(u, "You are not a db or server admin.")
}

// securityError is couch_db:throw_security_error/2.
func securityError(u *userCtx, reason string) error {
	if u.name == "" {
		return couch.Errorf(couch.CodeUnauthorized, "%s", reason)
	}
	return couch.Errorf(couch.CodeForbidden, "%s", reason)
}

// unauthorizedRedirect implements chttpd's error_headers for 401s: the
// X-CouchDB-WWW-Authenticate header is echoed as WWW-Authenticate, and a
// browser that accepts HTML but not JSON is redirected to the login page.
// It reports whether it wrote the (redirect) response.
func (rq *request) unauthorizedRedirect(name, reason string) bool {
	if v := rq.r.Header.Get("X-CouchDB-WWW-Authenticate"); v != "" {
		rq.w.Header().Set("WWW-Authenticate", v)
		return false
	}
	if v := rq.api.conf().WWWAuthenticate; v != "" {
		rq.w.Header().Set("WWW-Authenticate", v)
		return false
	}
	if name != string(couch.CodeUnauthorized) {
		return false
	}
	if rq.api.conf().BasicAuthPopup {
		// [chttpd_auth] require_valid_user: the browser's login popup
		// whatever the client accepts.
		rq.w.Header().Set("WWW-Authenticate", `Basic realm="server"`)
		return false
	}
	if accepts(rq.r, "application/json") || !accepts(rq.r, "text/html") {
		return false
	}
	loc := "/_utils/session.html?return=" + couchURLEncode(rq.r.URL.Path) + "&reason=" + couchURLEncode(reason)
	rq.w.Header().Set("Location", rq.absoluteURI(loc))
	rq.sendEmpty(http.StatusFound)
	return true
}

// accepts is mochiweb's accepts_content_type: whether the Accept header (all
// types when absent) admits ctype with a non-zero quality.
func accepts(r *http.Request, ctype string) bool {
	hdr := r.Header.Get("Accept")
	if hdr == "" {
		hdr = "*/*"
	}
	main, _, _ := strings.Cut(ctype, "/")
	super := main + "/*"
	found, refused := false, false
	for _, part := range strings.Split(hdr, ",") {
		typ, params, _ := strings.Cut(part, ";")
		typ = strings.ToLower(strings.TrimSpace(typ))
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.TrimSpace(k) == "q" {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || f < 0 || f > 1 {
					return false // invalid_qvalue_string
				}
				q = f
			}
		}
		switch {
		case q > 0 && (typ == "*/*" || typ == ctype || typ == super):
			found = true
		case q == 0 && (typ == ctype || typ == super):
			refused = true
		}
	}
	return found && !refused
}

// absoluteURI is chttpd:absolute_uri: scheme and host from the forwarding
// headers or the request.
func (rq *request) absoluteURI(path string) string {
	r := rq.r
	host := r.Header.Get("X-Forwarded-Host")
	if host == "" {
		host = r.Host
	}
	scheme := "http"
	switch {
	case r.Header.Get("X-Forwarded-Ssl") == "on":
		scheme = "https"
	case r.Header.Get("X-Forwarded-Proto") == "https":
		scheme = "https"
	case r.TLS != nil:
		scheme = "https"
	}
	return scheme + "://" + host + path
}

// couchURLEncode is couch_util:url_encode: everything but [A-Za-z0-9_.-:]
// becomes %XX (uppercase hex), byte by byte.
func couchURLEncode(s string) string {
	const hexdig = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !urlSafe(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if urlSafe(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexdig[c>>4], hexdig[c&0xf])
	}
	return string(b)
}

func urlSafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == '-' || c == ':'
}

// handleSession serves /_session: GET reports the user context, POST logs in
// with a cookie (session.go), DELETE logs out.
func (a *API) handleSession(rq *request) error {
	switch rq.method {
	case http.MethodGet:
		if v, _ := rq.qs("basic"); v == "true" && rq.user.name == "" {
			return couch.Errorf(couch.CodeUnauthorized, "Please login.")
		}
		b := append(rq.buf[:0], `{"ok":true,"userCtx":{"name":`...)
		if rq.user.name == "" {
			b = append(b, "null"...)
		} else {
			b = rawjson.AppendString(b, rq.user.name)
		}
		b = append(b, `,"roles":`...)
		b = appendStrings(b, rq.user.roles)
		b = append(b, `},"info":{"authentication_handlers":`...)
		var handlers []string
		for _, h := range a.conf().AuthHandlers {
			if h != AuthCookie || a.conf().SessionSecret != nil {
				handlers = append(handlers, h)
			}
		}
		b = appendStrings(b, handlers)
		if rq.user.handler != "" {
			b = append(b, `,"authenticated":`...)
			b = rawjson.AppendString(b, rq.user.handler)
		}
		b = append(b, `,"authentication_db":"_users"}}`...)
		rq.sendJSON(http.StatusOK, b)
		return nil
	case http.MethodDelete:
		cookie := "AuthSession=; Version=1; Path=/; HttpOnly"
		if rq.r.TLS != nil {
			cookie += "; Secure"
		}
		rq.w.Header().Add("Set-Cookie", cookie)
		status := http.StatusOK
		if next, ok := rq.qs("next"); ok {
			rq.setHeader("Location", rq.absoluteURI(next))
			status = http.StatusFound
		}
		rq.sendOK(status)
		return nil
	case http.MethodPost:
		return a.login(rq)
	}
	return notAllowed("GET,HEAD,POST,DELETE")
}

// appendStrings appends a JSON array of strings.
func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = rawjson.AppendString(b, s)
	}
	return append(b, ']')
}

func asMethodNotAllowed(err error, target **methodNotAllowed) bool { return errors.As(err, target) }

// authorizeDB is chttpd_auth_request:authorize_request_int/1 for /{db}/...
// (PUT and DELETE of the database itself are checked by routeDB), plus the
// checks CouchDB makes further down for particular endpoints: the server
// admin for _purge (restricted to admins since 2.3.1), couch_db's
// check_is_admin for setting _revs_limit and _purged_infos_limit, and the
// _users database's per-document read rule (after_doc_read).
func (a *API) authorizeDB(rq *request, db string) error {
	p := rq.parts
	second := ""
	if len(p) > 1 {
		second = p[1]
	}
	var err error
	switch {
	case (db == usersDB || db == "_replicator") && (second == "_all_docs" || second == "_changes"):
		err = rq.requireAdmin()
	case second == "_sync_shards" && len(p) == 2:
		err = rq.requireAdmin()
	case db == usersDB || db == "_replicator":
		// System databases take the member check even for _compact.
		err = rq.requireMember(db)
	case second == "_compact" || second == "_view_cleanup" && len(p) == 2:
		err = rq.requireDBAdmin(db)
	default:
		err = rq.requireMember(db)
	}
	if err != nil || len(p) != 2 && db != usersDB {
		return err
	}
	switch {
	case second == "_purge":
		return rq.requireAdmin()
	case (second == "_revs_limit" || second == "_purged_infos_limit") && rq.method == http.MethodPut:
		return a.checkIsAdmin(rq.ctx, &rq.user, db)
	case db == usersDB && second == "_design_docs" && rq.method != http.MethodPut:
		if v, _ := rq.qs("include_docs"); v == "true" {
			if admin, err := a.isUsersAdmin(rq.ctx, &rq.user); err != nil || !admin {
				if err != nil {
					return err
				}
				return couch.Errorf(couch.CodeForbidden, "Only administrators can view design docs in the users database.")
			}
		}
	case db == usersDB && (rq.method == http.MethodGet || rq.method == "COPY"):
		if id := requestDocID(p); id != "" {
			return a.userDocReadCheck(rq, db, id)
		}
	}
	return nil
}

// requestDocID returns the document a /{db}/... path reads (also through
// an attachment), or "" for database endpoints and _local documents.
func requestDocID(p []string) string {
	switch {
	case len(p) < 2:
		return ""
	case p[1] == "_design" && len(p) >= 3:
		return "_design/" + p[2]
	case strings.HasPrefix(p[1], "_design/"):
		return p[1]
	case strings.HasPrefix(p[1], "_"):
		return ""
	}
	return p[1]
}
