package httpapi

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// userCtx is CouchDB's #user_ctx: the authenticated name (empty for the
// anonymous user, rendered null) and roles.
type userCtx struct {
	name    string
	roles   []string
	admin   bool
	handler string // "default" once Basic auth succeeded
}

var adminRoles = []string{"_admin"}

// authenticate applies the authentication handlers. Only HTTP Basic
// ("default") exists for now; cookies and _users come later. Wrong
// credentials are a 401 on every path, as with CouchDB's default handler.
func (a *API) authenticate(rq *request) error {
	hdr := rq.r.Header.Get("Authorization")
	if !strings.HasPrefix(hdr, "Basic ") {
		a.cookieAuth(rq)
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(hdr[len("Basic "):]))
	if err != nil {
		return badRequest("Authorization header has invalid base64 value")
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok || (user == "_" && pass == "_") {
		return nil // malformed or the "log me out" pair: anonymous
	}
	if a.conf().Authenticate == nil {
		return errBadCreds
	}
	valid, admin := a.conf().Authenticate(user, pass)
	if !valid {
		return errBadCreds
	}
	rq.user = userCtx{name: user, roles: []string{}, admin: admin, handler: "default"}
	if admin {
		rq.user.roles = adminRoles
	}
	return nil
}

// requireAdmin is couch_httpd:verify_is_server_admin.
func (rq *request) requireAdmin() error {
	if rq.user.admin {
		return nil
	}
	return errNotAdmin
}

// requireMember is chttpd_auth_request's db_authorization_check. Until
// per-database _security and _users arrive, databases are admin-only (the
// CouchDB 3 default_security): non-admins learn whether the database exists
// (404) and are then refused.
func (rq *request) requireMember(db string) error {
	if rq.user.admin {
		return nil
	}
	if err := rq.api.checkDB(rq.ctx, db); err != nil {
		return err
	}
	rq.dbChecked = true
	if rq.user.name == "" {
		return errNoDBAccess
	}
	return errDBForbidden
}

// requireDBAdmin is chttpd_auth_request's require_db_admin (_compact,
// _view_cleanup).
func (rq *request) requireDBAdmin(db string) error {
	if rq.user.admin {
		return nil
	}
	if err := rq.api.checkDB(rq.ctx, db); err != nil {
		return err
	}
	rq.dbChecked = true
	return errNotDBAdmin
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
	if name != string(couch.CodeUnauthorized) {
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
		if a.conf().SessionSecret != nil {
			b = append(b, `["cookie","default"]`...)
		} else {
			b = append(b, `["default"]`...)
		}
		if rq.user.handler != "" {
			b = append(b, `,"authenticated":`...)
			b = rawjson.AppendString(b, rq.user.handler)
		}
		b = append(b, "}}"...)
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
