package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/divandb/divan/internal/auth"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// Cookie authentication (couch_httpd_auth:cookie_authentication_handler and
// handle_session_req): POST /_session checks a name and password and sets
// AuthSession; later requests carrying the cookie are that user until the
// cookie times out, and are re-issued a fresh cookie once a tenth of its life
// has passed.

const sessionCookie = "AuthSession"

// cookieAuth authenticates rq from its AuthSession cookie, if any. A bad or
// errMalformedCookie answers an AuthSession cookie that does not even
// parse (couch_httpd_auth:cookie_authentication_handler); one that parses
// but does not verify leaves the request anonymous.
var errMalformedCookie = couch.Errorf(couch.CodeBadRequest, "Malformed AuthSession cookie. Please clear your cookies.")

// expired cookie leaves the request anonymous, as in CouchDB.
func (a *API) cookieAuth(rq *request) (bool, error) {
	if a.conf().SessionSecret == nil || a.conf().UserSalt == nil {
		return false, nil
	}
	c, err := rq.r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return false, nil
	}
	name, err := auth.ParseCookie(c.Value)
	if err != nil {
		return true, errMalformedCookie
	}
	u, salt, ok := a.sessionUser(rq.ctx, name)
	if !ok {
		return false, nil
	}
	now := time.Now()
	issued, err := auth.VerifyCookie(c.Value, a.conf().SessionSecret, salt, a.conf().SessionTimeout, now)
	if err != nil {
		return false, nil
	}
	u.handler = "cookie"
	rq.user = u
	if now.Sub(issued) > a.conf().SessionTimeout/10 {
		a.setSessionCookie(rq, auth.MakeCookie(a.conf().SessionSecret, name, salt, now))
	}
	return true, nil
}

// sessionUser returns the user a session cookie names and the password
// salt its signature is keyed with: a server admin first, else a _users
// user (couch_httpd_auth:cookie_authentication_handler's get_user_creds).
func (a *API) sessionUser(ctx context.Context, name string) (userCtx, string, bool) {
	if salt, admin, ok := a.conf().UserSalt(name); ok {
		u := userCtx{name: name, roles: []string{}, admin: admin}
		if admin {
			u.roles = adminRoles
		}
		return u, salt, true
	}
	creds, err := a.users.lookup(ctx, a, name)
	if err != nil || creds == nil || creds.hash.Salt == "" {
		return userCtx{}, "", false
	}
	return userCtx{name: name, roles: creds.roles}, creds.hash.Salt, true
}

// setSessionCookie sets the AuthSession cookie as mochiweb_cookies writes
// it, with Expires beside Max-Age: clients such as nano keep a cookie only
// while its Expires lies in the future.
func (a *API) setSessionCookie(rq *request, value string) {
	timeout := a.conf().SessionTimeout
	expires := time.Now().Add(timeout).UTC().Format("Mon, 02-Jan-2006 15:04:05 GMT")
	cookie := sessionCookie + "=" + value + "; Version=1; Expires=" + expires +
		"; Max-Age=" + strconv.Itoa(int(timeout/time.Second)) + "; Path=/; HttpOnly"
	if rq.r.TLS != nil {
		cookie += "; Secure"
	}
	rq.w.Header().Add("Set-Cookie", cookie)
}

// login serves POST /_session with a JSON or form body of name (or
// username) and password.
func (a *API) login(rq *request) error {
	if a.conf().SessionSecret == nil || a.conf().UserSalt == nil {
		return errNotImpl
	}
	ctype, _, _ := strings.Cut(rq.r.Header.Get("Content-Type"), ";")
	ctype = strings.TrimSpace(strings.ToLower(ctype))
	data, err := rq.body()
	if err != nil {
		return err
	}
	var name, password string
	switch ctype {
	case "application/json":
		var creds struct {
			Name     *string `json:"name"`
			Username *string `json:"username"`
			Password string  `json:"password"`
		}
		if err := json.Unmarshal(data, &creds); err != nil {
			return errInvalidJSON
		}
		if creds.Name != nil {
			name = *creds.Name
		} else if creds.Username != nil {
			name = *creds.Username
		}
		password = creds.Password
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(data))
		if err != nil {
			return badRequest("Invalid form body")
		}
		name, password = form.Get("name"), form.Get("password")
		if name == "" {
			name = form.Get("username")
		}
	default:
		return couch.Errorf(couch.CodeBadContentType, "Content-Type must be application/x-www-form-urlencoded or application/json")
	}
	var u userCtx
	var salt string
	ok := false
	if name != "" {
		if u, err = a.checkLogin(rq, name, password); err == nil {
			_, salt, ok = a.sessionUser(rq.ctx, name)
		} else if !errors.Is(err, errBadCreds) {
			return err
		}
	}
	if !ok {
		// A failed login also clears the cookie.
		rq.w.Header().Add("Set-Cookie", sessionCookie+"=; Version=1; Path=/; HttpOnly")
		return errBadCreds
	}
	a.setSessionCookie(rq, auth.MakeCookie(a.conf().SessionSecret, name, salt, time.Now()))
	if next, ok := rq.qs("next"); ok {
		rq.setHeader("Location", rq.absoluteURI(next))
		rq.sendOK(http.StatusFound)
		return nil
	}
	b := append(rq.buf[:0], `{"ok":true,"name":`...)
	b = rawjson.AppendString(b, name)
	b = append(b, `,"roles":`...)
	b = appendStrings(b, u.roles)
	rq.sendJSON(http.StatusOK, append(b, '}'))
	return nil
}
