package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/divandb/divan/internal/testnode"
)

// TestAuthenticationHandlers configures every handler CouchDB has — JWT,
// proxy, cookie and Basic — through [chttpd] authentication_handlers as an
// operator writes it, and checks each identifies the user it should and
// refuses what it should.
func TestAuthenticationHandlers(t *testing.T) {
	t.Parallel()
	hmacKey := []byte("jwt-test-key-0123456789abcdef")
	const proxySecret = "proxy-secret-42"
	n := testnode.Start(t, testnode.Options{Config: "[chttpd]\n" +
		"authentication_handlers = {chttpd_auth, jwt_authentication_handler}, {chttpd_auth, proxy_authentication_handler}, {chttpd_auth, cookie_authentication_handler}, {chttpd_auth, default_authentication_handler}\n" +
		"[jwt_keys]\nhmac:_default = " + base64.StdEncoding.EncodeToString(hmacKey) + "\n" +
		"[chttpd_auth]\nproxy_use_secret = true\nsecret = " + proxySecret + "\n"})
	c := n.Client()
	anon := n.AnonClient()

	session := func(headers ...string) map[string]any {
		t.Helper()
		_, body := anon.Expect(t, http.StatusOK, http.MethodGet, "/_session", nil, headers...)
		return testnode.Object(t, body)
	}
	token := func(claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(hmacKey)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	// JWT: sub is the name, _couchdb.roles the roles; _admin makes a
	// server admin.
	admin := token(jwt.MapClaims{"sub": "jwt-admin", "exp": time.Now().Add(time.Minute).Unix(), "_couchdb.roles": []string{"_admin"}})
	s := session("Authorization", "Bearer "+admin)
	info := s["info"].(map[string]any)
	if s["userCtx"].(map[string]any)["name"] != "jwt-admin" || info["authenticated"] != "jwt" {
		t.Errorf("JWT session: %v", s)
	}
	if got := info["authentication_handlers"]; len(got.([]any)) != 4 {
		t.Errorf("authentication_handlers = %v, want jwt, proxy, cookie, default", got)
	}
	anon.Expect(t, http.StatusOK, http.MethodGet, "/_all_dbs", nil, "Authorization", "Bearer "+admin)
	expired := token(jwt.MapClaims{"sub": "late", "exp": time.Now().Add(-time.Minute).Unix()})
	status, _, body := anon.Do(t, http.MethodGet, "/_session", nil, "Authorization", "Bearer "+expired)
	if status != http.StatusUnauthorized || !strings.Contains(string(body), "exp not in future") {
		t.Errorf("expired JWT: %d %s", status, body)
	}
	forged := admin[:strings.LastIndexByte(admin, '.')+1] + base64.RawURLEncoding.EncodeToString([]byte("not the signature"))
	if status, _, body := anon.Do(t, http.MethodGet, "/_all_dbs", nil, "Authorization", "Bearer "+forged); status == http.StatusOK {
		t.Errorf("forged JWT accepted: %d %s", status, body)
	}

	// Proxy: headers signed with the shared secret.
	mac := hmac.New(sha256.New, []byte(proxySecret))
	mac.Write([]byte("proxied"))
	s = session("X-Auth-CouchDB-UserName", "proxied", "X-Auth-CouchDB-Roles", "a, b",
		"X-Auth-CouchDB-Token", hex.EncodeToString(mac.Sum(nil)))
	if s["userCtx"].(map[string]any)["name"] != "proxied" || s["info"].(map[string]any)["authenticated"] != "proxy" {
		t.Errorf("proxy session: %v", s)
	}
	s = session("X-Auth-CouchDB-UserName", "proxied", "X-Auth-CouchDB-Token", "00")
	if s["userCtx"].(map[string]any)["name"] != nil {
		t.Errorf("proxy headers with a wrong token authenticated: %v", s)
	}

	// Basic still works, and malformed credentials are refused cleanly.
	s = session("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(n.AdminUser()+":"+n.AdminPassword())))
	if s["info"].(map[string]any)["authenticated"] != "default" {
		t.Errorf("basic session: %v", s)
	}
	for _, hdr := range []string{"Basic !!!not-base64", "Basic " + strings.Repeat("QUFB", 8<<10)} {
		status, _, body := anon.Do(t, http.MethodGet, "/_session", nil, "Authorization", hdr)
		if status != http.StatusBadRequest || !strings.Contains(string(body), "Authorization header has invalid base64 value") {
			t.Errorf("Authorization %.20q…: %d %s", hdr, status, body)
		}
	}
	// Cookies: one that does not parse is a 400 (clear your cookies); a
	// forged one that parses leaves the request anonymous.
	status, _, body = anon.Do(t, http.MethodGet, "/_session", nil, "Cookie", "AuthSession=%%%not-base64")
	if status != http.StatusBadRequest || !strings.Contains(string(body), "Malformed AuthSession cookie. Please clear your cookies.") {
		t.Errorf("malformed cookie: %d %s", status, body)
	}
	forgedCookie := base64.RawURLEncoding.EncodeToString([]byte(n.AdminUser() + ":6A000000:forged-signature"))
	if s := session("Cookie", "AuthSession="+forgedCookie); s["userCtx"].(map[string]any)["name"] != nil {
		t.Errorf("forged cookie authenticated: %v", s)
	}
	// A unicode name is just a name: wrong credentials, not a crash.
	status, _, body = anon.Do(t, http.MethodGet, "/_session", nil, "Authorization",
		"Basic "+base64.StdEncoding.EncodeToString([]byte("Zoë-😀:pw")))
	if status != http.StatusUnauthorized || !strings.Contains(string(body), "Name or password is incorrect.") {
		t.Errorf("unicode name: %d %s", status, body)
	}
	c.Expect(t, http.StatusOK, http.MethodGet, "/_up", nil)
}

// TestRequireValidUser: [chttpd] require_valid_user closes the node to
// anonymous requests, /_up excepted when require_valid_user_except_for_up
// is set, and [chttpd_auth] require_valid_user adds the browser's login
// popup header.
func TestRequireValidUser(t *testing.T) {
	t.Parallel()
	n := testnode.Start(t, testnode.Options{Config: "[chttpd]\nrequire_valid_user = true\nrequire_valid_user_except_for_up = true\n" +
		"[chttpd_auth]\nrequire_valid_user = true\n"})
	anon := n.AnonClient()
	for _, path := range []string{"/", "/_session", "/_uuids", "/_all_dbs"} {
		status, hdr, body := anon.Do(t, http.MethodGet, path, nil)
		if status != http.StatusUnauthorized || !strings.Contains(string(body), `"reason":"Authentication required."`) {
			t.Errorf("anonymous GET %s: %d %s", path, status, body)
		}
		if got := hdr.Get("WWW-Authenticate"); got != `Basic realm="server"` {
			t.Errorf("GET %s: WWW-Authenticate %q", path, got)
		}
	}
	anon.Expect(t, http.StatusOK, http.MethodGet, "/_up", nil)
	n.Client().Expect(t, http.StatusOK, http.MethodGet, "/", nil)
}

// TestNoCredentialsInLogsOrErrors: passwords, hashes' inputs and secrets
// that pass through the node — Basic and cookie logins (right and wrong),
// a _users signup, admins and secrets set through _config, and an add_node
// whose remote refuses — appear in no response body and nowhere in the
// node's log, even at debug level.
func TestNoCredentialsInLogsOrErrors(t *testing.T) {
	t.Parallel()
	n := testnode.Start(t, testnode.Options{Args: []string{"-log-level", "debug"}, Config: "[couchdb]\nsingle_node = true\n"})
	admin, anon := n.Client(), n.AnonClient()
	secrets := []string{"LeakPw-user-1", "LeakPw-wrong-2", "LeakPw-admin-3", "LeakSecret-4", "LeakPw-remote-5"}
	var bodies []string
	keep := func(_ int, _ http.Header, body []byte) { bodies = append(bodies, string(body)) }
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}

	keep(admin.Do(t, http.MethodPut, "/_users/org.couchdb.user:leaky",
		map[string]any{"type": "user", "name": "leaky", "roles": []string{}, "password": secrets[0]}))
	keep(anon.Do(t, http.MethodGet, "/_session", nil, "Authorization", basic("leaky", secrets[0])))
	keep(anon.Do(t, http.MethodGet, "/_all_dbs", nil, "Authorization", basic("leaky", secrets[1])))
	keep(anon.Do(t, http.MethodPost, "/_session", map[string]any{"name": "leaky", "password": secrets[1]}, "Content-Type", "application/json"))
	keep(anon.Do(t, http.MethodPost, "/_session", map[string]any{"name": "leaky", "password": secrets[0]}, "Content-Type", "application/json"))
	keep(admin.Do(t, http.MethodPut, "/_node/_local/_config/admins/other", `"`+secrets[2]+`"`))
	keep(admin.Do(t, http.MethodGet, "/_node/_local/_config/admins", nil))
	keep(admin.Do(t, http.MethodPut, "/_node/_local/_config/chttpd_auth/secret", `"`+secrets[3]+`"`))
	keep(admin.Do(t, http.MethodPost, "/_cluster_setup", map[string]any{
		"action": "add_node", "host": "127.0.0.1", "port": 1, "username": "admin", "password": secrets[4]},
		"Content-Type", "application/json"))

	stored := admin.Get(t, "/_users/org.couchdb.user:leaky")
	if _, ok := stored["password"]; ok {
		t.Error("the _users doc keeps the clear password")
	}
	out := n.Output()
	for _, s := range secrets {
		for _, b := range bodies {
			if strings.Contains(b, s) {
				t.Errorf("a response body shows %q: %s", s, b)
			}
		}
		if strings.Contains(out, s) {
			t.Errorf("the node's log shows %q", s)
		}
	}
}
