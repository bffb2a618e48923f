package httpapi

import (
	"encoding/json"
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
// expired cookie leaves the request anonymous, as in CouchDB.
func (a *API) cookieAuth(rq *request) {
	if a.conf().SessionSecret == nil || a.conf().UserSalt == nil {
		return
	}
	c, err := rq.r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return
	}
	user, err := auth.ParseCookie(c.Value)
	if err != nil {
		return
	}
	salt, admin, ok := a.conf().UserSalt(user)
	if !ok {
		return
	}
	now := time.Now()
	issued, err := auth.VerifyCookie(c.Value, a.conf().SessionSecret, salt, a.conf().SessionTimeout, now)
	if err != nil {
		return
	}
	rq.user = userCtx{name: user, roles: []string{}, admin: admin, handler: "cookie"}
	if admin {
		rq.user.roles = adminRoles
	}
	if now.Sub(issued) > a.conf().SessionTimeout/10 {
		a.setSessionCookie(rq, auth.MakeCookie(a.conf().SessionSecret, user, salt, now))
	}
}

func (a *API) setSessionCookie(rq *request, value string) {
	cookie := sessionCookie + "=" + value + "; Version=1; Path=/; HttpOnly; Max-Age=" +
		strconv.Itoa(int(a.conf().SessionTimeout/time.Second))
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
	ok, admin := false, false
	if a.conf().Authenticate != nil && name != "" {
		ok, admin = a.conf().Authenticate(name, password)
	}
	salt, _, saltOK := a.conf().UserSalt(name)
	if !ok || !saltOK {
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
	roles := []string{}
	if admin {
		roles = adminRoles
	}
	b := append(rq.buf[:0], `{"ok":true,"name":`...)
	b = rawjson.AppendString(b, name)
	b = append(b, `,"roles":`...)
	b = appendStrings(b, roles)
	rq.sendJSON(http.StatusOK, append(b, '}'))
	return nil
}
