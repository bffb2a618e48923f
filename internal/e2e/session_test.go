package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/divandb/divan/internal/testnode"
)

func TestCookieSession(t *testing.T) {
	t.Parallel()
	n := testnode.Start(t, testnode.Options{})
	anon := n.AnonClient()

	// Wrong password: 401 and the cookie is cleared.
	status, hdr, body := anon.Do(t, http.MethodPost, "/_session",
		map[string]any{"name": n.AdminUser(), "password": "nope"}, "Content-Type", "application/json")
	if status != http.StatusUnauthorized || !strings.Contains(string(body), `"Name or password is incorrect."`) {
		t.Fatalf("bad login: %d %s", status, body)
	}
	if !strings.HasPrefix(hdr.Get("Set-Cookie"), "AuthSession=;") {
		t.Fatalf("bad login did not clear the cookie: %q", hdr.Get("Set-Cookie"))
	}
	// Other content types are refused.
	if status, _, body := anon.Do(t, http.MethodPost, "/_session", "x", "Content-Type", "text/plain"); status != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain login: %d %s", status, body)
	}

	login := func(contentType string, payload any) string {
		t.Helper()
		status, hdr, body := anon.Do(t, http.MethodPost, "/_session", payload, "Content-Type", contentType)
		if status != http.StatusOK {
			t.Fatalf("login (%s): %d %s", contentType, status, body)
		}
		var res struct {
			OK    bool     `json:"ok"`
			Name  string   `json:"name"`
			Roles []string `json:"roles"`
		}
		if err := json.Unmarshal(body, &res); err != nil || !res.OK || res.Name != n.AdminUser() || len(res.Roles) != 1 || res.Roles[0] != "_admin" {
			t.Fatalf("login body: %s", body)
		}
		c := hdr.Get("Set-Cookie")
		for _, part := range []string{"AuthSession=", "Version=1", "Expires=", " GMT", "Path=/", "HttpOnly", "Max-Age=600"} {
			if !strings.Contains(c, part) {
				t.Fatalf("Set-Cookie %q lacks %s", c, part)
			}
		}
		return strings.SplitN(c, ";", 2)[0]
	}
	cookie := login("application/json", map[string]any{"name": n.AdminUser(), "password": n.AdminPassword()})
	formCookie := login("application/x-www-form-urlencoded", "name="+n.AdminUser()+"&password="+n.AdminPassword())
	if formCookie == "" {
		t.Fatal("no cookie from a form login")
	}

	// The cookie authenticates later requests as the admin.
	var sess struct {
		UserCtx struct {
			Name  string   `json:"name"`
			Roles []string `json:"roles"`
		} `json:"userCtx"`
		Info struct {
			Handlers      []string `json:"authentication_handlers"`
			Authenticated string   `json:"authenticated"`
		} `json:"info"`
	}
	anon.ExpectJSON(t, http.StatusOK, http.MethodGet, "/_session", nil, &sess, "Cookie", cookie)
	if sess.UserCtx.Name != n.AdminUser() || sess.Info.Authenticated != "cookie" ||
		strings.Join(sess.Info.Handlers, ",") != "cookie,default" {
		t.Fatalf("_session with cookie: %+v", sess)
	}
	anon.Expect(t, http.StatusCreated, http.MethodPut, "/cookiedb", nil, "Cookie", cookie)
	anon.Expect(t, http.StatusOK, http.MethodGet, "/cookiedb", nil, "Cookie", cookie)
	// Without it, or with a forged one, the same request is anonymous.
	anon.Expect(t, http.StatusUnauthorized, http.MethodGet, "/cookiedb", nil)
	anon.Expect(t, http.StatusUnauthorized, http.MethodGet, "/cookiedb", nil, "Cookie", "AuthSession=YWRtaW46NjU1MzY6Zm9yZ2Vk")

	// DELETE /_session clears the cookie.
	_, hdr, _ = anon.Do(t, http.MethodDelete, "/_session", nil, "Cookie", cookie)
	if !strings.HasPrefix(hdr.Get("Set-Cookie"), "AuthSession=;") {
		t.Fatalf("logout Set-Cookie: %q", hdr.Get("Set-Cookie"))
	}
}
