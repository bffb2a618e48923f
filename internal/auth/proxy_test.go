package auth

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestParseProxyConfig(t *testing.T) {
	c := ParseProxyConfig(nil)
	if c.UserHeader != DefaultProxyUserHeader || c.RolesHeader != DefaultProxyRolesHeader ||
		c.TokenHeader != DefaultProxyTokenHeader || c.UseSecret || c.Secret != nil ||
		!reflect.DeepEqual(c.HashAlgorithms, []string{"sha256", "sha"}) {
		t.Fatalf("defaults = %+v", c)
	}
	c = ParseProxyConfig(map[string]string{
		"x_auth_username": "X-User", "x_auth_roles": "X-Roles", "x_auth_token": "X-Token",
		"proxy_use_secret": "true", "secret": "s3cret", "hash_algorithms": "sha512, bogus ,sha",
	})
	if c.UserHeader != "X-User" || c.RolesHeader != "X-Roles" || c.TokenHeader != "X-Token" ||
		!c.UseSecret || string(c.Secret) != "s3cret" || !reflect.DeepEqual(c.HashAlgorithms, []string{"sha512", "sha"}) {
		t.Fatalf("explicit = %+v", c)
	}
	if ParseProxyConfig(map[string]string{"proxy_use_secret": "yes"}).UseSecret {
		t.Fatal(`proxy_use_secret "yes" is not true`)
	}
}

func TestProxyToken(t *testing.T) {
	// HMAC-SHA1("secret", "foo") and HMAC-SHA256, lower-case hex.
	if got := ProxyToken([]byte("secret"), "foo", "sha"); got != "9baed91be7f58b57c824b60da7cb262b2ecafbd2" {
		t.Fatalf("sha = %s", got)
	}
	if got := ProxyToken([]byte("secret"), "foo", "sha256"); got != "773ba44693c7553d6ee20f61ea5d2757a9a4f4a44d2841ae4e95b52e4cd62db4" {
		t.Fatalf("sha256 = %s", got)
	}
	if ProxyToken([]byte("secret"), "foo", "nope") != "" {
		t.Fatal("unknown algorithm gave a token")
	}
}

func TestSplitRoles(t *testing.T) {
	for in, want := range map[string][]string{
		"":              {},
		"a":             {"a"},
		"a,b":           {"a", "b"},
		"a , b ,\tc":    {"a", "b", "c"},
		" a, b ":        {" a", "b "},
		"a,,b":          {"a", "", "b"},
		",a":            {"", "a"},
		"a,b,,":         {"a", "b"},
		",":             {},
		"_admin,reader": {"_admin", "reader"},
	} {
		if got := splitRoles(in); !reflect.DeepEqual(got, want) {
			t.Errorf("splitRoles(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProxyAuthenticate(t *testing.T) {
	secret := []byte("92de07df7e7a3fe14808cef90a7cc0d91")
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	open := NewProxyAuth(ParseProxyConfig(nil))
	withSecret := NewProxyAuth(ProxyConfig{UseSecret: true, Secret: secret})
	sha512Only := NewProxyAuth(ProxyConfig{UseSecret: true, Secret: secret, HashAlgorithms: []string{"sha512"}})
	secretUnset := NewProxyAuth(ProxyConfig{UseSecret: true})
	secretUnused := NewProxyAuth(ProxyConfig{Secret: secret})
	custom := NewProxyAuth(ParseProxyConfig(map[string]string{"x_auth_username": "X-User", "x_auth_roles": "X-Groups"}))

	for _, tc := range []struct {
		name  string
		p     *ProxyAuth
		h     http.Header
		ok    bool
		user  string
		roles []string
	}{
		{"no headers", open, hdr(), false, "", nil},
		{"roles only", open, hdr("X-Auth-CouchDB-Roles", "a"), false, "", nil},
		{"user only", open, hdr("X-Auth-CouchDB-UserName", "bob"), true, "bob", []string{}},
		{"user and roles", open, hdr("X-Auth-CouchDB-UserName", "bob", "X-Auth-CouchDB-Roles", "users, _admin"), true, "bob", []string{"users", "_admin"}},
		{"lower-case header names", open, http.Header{"x-auth-couchdb-username": {"bob"}}, true, "bob", []string{}},
		{"empty user header", open, hdr("X-Auth-CouchDB-UserName", ""), true, "", []string{}},
		{"repeated roles header", open, hdr("X-Auth-CouchDB-UserName", "bob", "X-Auth-CouchDB-Roles", "a", "X-Auth-CouchDB-Roles", "b"), true, "bob", []string{"a", "b"}},
		{"token ignored without proxy_use_secret", secretUnused, hdr("X-Auth-CouchDB-UserName", "bob", "X-Auth-CouchDB-Token", "junk"), true, "bob", []string{}},
		{"secret: sha256 token", withSecret, hdr("X-Auth-CouchDB-UserName", "bob", "X-Auth-CouchDB-Token", ProxyToken(secret, "bob", "sha256")), true, "bob", []string{}},
		{"secret: sha1 token", withSecret, hdr("X-Auth-CouchDB-UserName", "bob", "X-Auth-CouchDB-Token", ProxyToken(secret, "bob", "sha")), true, "bob", []string{}},
		{"secret: upper-case hex refused", withSecret, hdr("X-Auth-CouchDB-UserName", "bob", "X-Auth-CouchDB-Token", strings.ToUpper(ProxyToken(secret, "bob", "sha256"))), false, "", nil},
		{"secret: token of another user", withSecret, hdr("X-Auth-CouchDB-UserName", "bob", "X-Auth-CouchDB-Token", ProxyToken(secret, "alice", "sha256")), false, "", nil},
		{"secret: missing token", withSecret, hdr("X-Auth-CouchDB-UserName", "bob"), false, "", nil},
		{"secret: empty token", withSecret, hdr("X-Auth-CouchDB-UserName", "bob", "X-Auth-CouchDB-Token", ""), false, "", nil},
		{"secret: other secret", withSecret, hdr("X-Auth-CouchDB-UserName", "bob", "X-Auth-CouchDB-Token", ProxyToken([]byte("x"), "bob", "sha256")), false, "", nil},
		{"sha512 only refuses sha256", sha512Only, hdr("X-Auth-CouchDB-UserName", "bob", "X-Auth-CouchDB-Token", ProxyToken(secret, "bob", "sha256")), false, "", nil},
		{"sha512 only accepts sha512", sha512Only, hdr("X-Auth-CouchDB-UserName", "bob", "X-Auth-CouchDB-Token", ProxyToken(secret, "bob", "sha512")), true, "bob", []string{}},
		{"proxy_use_secret without a secret trusts headers", secretUnset, hdr("X-Auth-CouchDB-UserName", "bob"), true, "bob", []string{}},
		{"custom headers", custom, hdr("X-User", "carol", "X-Groups", "g1,g2", "X-Auth-CouchDB-UserName", "bob"), true, "carol", []string{"g1", "g2"}},
		{"custom headers: default ignored", custom, hdr("X-Auth-CouchDB-UserName", "bob"), false, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user, roles, ok := tc.p.Authenticate(tc.h)
			if ok != tc.ok || user != tc.user || !reflect.DeepEqual(roles, tc.roles) {
				t.Fatalf("Authenticate = %q %#v %v, want %q %#v %v", user, roles, ok, tc.user, tc.roles, tc.ok)
			}
		})
	}
}

func FuzzProxyAuth(f *testing.F) {
	secret := []byte("fuzz-secret")
	f.Add("bob", "a,b", ProxyToken(secret, "bob", "sha256"), true)
	f.Add("bob", " , ,", "", false)
	f.Add("", "", ProxyToken(secret, "", "sha"), true)
	p := NewProxyAuth(ProxyConfig{UseSecret: true, Secret: secret})
	open := NewProxyAuth(ProxyConfig{})
	f.Fuzz(func(t *testing.T, user, roles, token string, sendToken bool) {
		h := http.Header{}
		h.Set(DefaultProxyUserHeader, user)
		h.Set(DefaultProxyRolesHeader, roles)
		if sendToken {
			h.Set(DefaultProxyTokenHeader, token)
		}
		name, got, ok := p.Authenticate(h)
		valid := sendToken && (token == ProxyToken(secret, user, "sha256") || token == ProxyToken(secret, user, "sha"))
		if ok != valid {
			t.Fatalf("ok = %v for user %q token %q (valid %v)", ok, user, token, valid)
		}
		if ok && (name != user || got == nil) {
			t.Fatalf("Authenticate = %q %v", name, got)
		}
		n2, r2, ok2 := open.Authenticate(h)
		if !ok2 || n2 != user || !reflect.DeepEqual(r2, splitRoles(roles)) {
			t.Fatalf("open Authenticate = %q %q %v", n2, r2, ok2)
		}
		for _, r := range r2 {
			if strings.Contains(r, ",") {
				t.Fatalf("role %q contains a comma", r)
			}
		}
	})
}
