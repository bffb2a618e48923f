package auth

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"net/http"
	"net/textproto"
	"strings"
)

// Proxy authentication, as CouchDB 3.4+/3.5's
// couch_httpd_auth:proxy_authentication_handler/1 (proxy_auth_user/1):
//
//   - the user name comes from the header named by [chttpd_auth]
//     x_auth_username (default X-Auth-CouchDB-UserName); without that
//     header the handler does nothing and the next handler runs;
//   - roles come from x_auth_roles (default X-Auth-CouchDB-Roles), split
//     with re:split(Value, "\\s*,\\s*", [trim]): commas with surrounding
//     whitespace separate roles, trailing empty roles are dropped, leading
//     and inner empty ones are kept;
//   - when [chttpd_auth] proxy_use_secret = true and [chttpd_auth] secret
//     is set, the header named by x_auth_token (default
//     X-Auth-CouchDB-Token) must equal the lower-case hex HMAC of the user
//     name keyed by the secret, with any algorithm of [chttpd_auth]
//     hash_algorithms (default "sha256, sha"; CouchDB < 3.3 used sha1 only).
//     The comparison is couch_passwords:verify/2, constant time. A missing
//     or wrong token is not an error: the request is simply not
//     authenticated by this handler;
//   - with proxy_use_secret = true but no secret configured CouchDB trusts
//     the headers as if proxy_use_secret were false. Divan mirrors that
//     (the secret is normally always set: CouchDB and Divan generate one).
//
// The handler never fails a request. A successful proxy login reports
// "proxy" as GET /_session's info.authenticated.

// Default proxy header names ([chttpd_auth] x_auth_username, x_auth_roles,
// x_auth_token).
const (
	DefaultProxyUserHeader  = "X-Auth-CouchDB-UserName"
	DefaultProxyRolesHeader = "X-Auth-CouchDB-Roles"
	DefaultProxyTokenHeader = "X-Auth-CouchDB-Token"
)

// reSpace is the character class of Erlang re's \s.
const reSpace = " \t\n\v\f\r"

// DefaultHashAlgorithms is CouchDB 3.5's [chttpd_auth] hash_algorithms.
const DefaultHashAlgorithms = "sha256, sha"

// ProxyConfig is the [chttpd_auth] subset the proxy handler reads.
type ProxyConfig struct {
	UserHeader  string // x_auth_username
	RolesHeader string // x_auth_roles
	TokenHeader string // x_auth_token
	UseSecret   bool   // proxy_use_secret
	// Secret is [chttpd_auth] secret. It is never logged or returned.
	Secret []byte
	// HashAlgorithms is the parsed [chttpd_auth] hash_algorithms; empty
	// means DefaultHashAlgorithms.
	HashAlgorithms []string
}

// ParseProxyConfig builds a ProxyConfig from the [chttpd_auth] section's
// key/values. Absent keys take CouchDB's defaults; proxy_use_secret is
// true only for the value "true" (config:get_boolean).
func ParseProxyConfig(chttpdAuth map[string]string) ProxyConfig {
	get := func(k, def string) string {
		if v, ok := chttpdAuth[k]; ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
		return def
	}
	c := ProxyConfig{
		UserHeader:     get("x_auth_username", DefaultProxyUserHeader),
		RolesHeader:    get("x_auth_roles", DefaultProxyRolesHeader),
		TokenHeader:    get("x_auth_token", DefaultProxyTokenHeader),
		UseSecret:      strings.TrimSpace(chttpdAuth["proxy_use_secret"]) == "true",
		HashAlgorithms: ParseHashAlgorithms(chttpdAuth["hash_algorithms"]),
	}
	if s := chttpdAuth["secret"]; s != "" {
		c.Secret = []byte(s)
	}
	return c
}

// hashFuncs are the Erlang crypto hash names Divan accepts in
// hash_algorithms (couch_util:get_config_hash_algorithms keeps only names
// crypto supports).
func hashFunc(name string) func() hash.Hash {
	switch name {
	case "sha":
		return sha1.New
	case "sha224":
		return sha256.New224
	case "sha256":
		return sha256.New
	case "sha384":
		return sha512.New384
	case "sha512":
		return sha512.New
	case "md5":
		return md5.New
	case "sha3_224":
		return func() hash.Hash { return sha3.New224() }
	case "sha3_256":
		return func() hash.Hash { return sha3.New256() }
	case "sha3_384":
		return func() hash.Hash { return sha3.New384() }
	case "sha3_512":
		return func() hash.Hash { return sha3.New512() }
	}
	return nil
}

// ParseHashAlgorithms parses a hash_algorithms value: a comma-separated
// list of Erlang hash names, unknown names dropped; an empty result is the
// default list (sha256, sha). The first algorithm signs, all verify.
func ParseHashAlgorithms(v string) []string {
	var out []string
	for _, name := range strings.Split(v, ",") {
		name = strings.TrimSpace(name)
		if hashFunc(name) != nil {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return []string{"sha256", "sha"}
	}
	return out
}

// ProxyToken returns the X-Auth-CouchDB-Token a proxy must send for user:
// the lower-case hex HMAC of the name keyed by secret, with algorithm alg
// (an Erlang hash name such as "sha256" or "sha"). It returns "" for an
// unknown algorithm.
func ProxyToken(secret []byte, user, alg string) string {
	h := hashFunc(alg)
	if h == nil {
		return ""
	}
	mac := hmac.New(h, secret)
	mac.Write([]byte(user))
	return hex.EncodeToString(mac.Sum(nil))
}

// ProxyAuth authenticates requests from proxy headers. It is immutable and
// safe for concurrent use; build a new one when the configuration changes.
type ProxyAuth struct {
	cfg ProxyConfig
}

// NewProxyAuth returns a ProxyAuth for cfg. The secret is copied.
func NewProxyAuth(cfg ProxyConfig) *ProxyAuth {
	cfg.Secret = append([]byte(nil), cfg.Secret...)
	cfg.HashAlgorithms = append([]string(nil), cfg.HashAlgorithms...)
	if len(cfg.HashAlgorithms) == 0 {
		cfg.HashAlgorithms = ParseHashAlgorithms("")
	}
	if cfg.UserHeader == "" {
		cfg.UserHeader = DefaultProxyUserHeader
	}
	if cfg.RolesHeader == "" {
		cfg.RolesHeader = DefaultProxyRolesHeader
	}
	if cfg.TokenHeader == "" {
		cfg.TokenHeader = DefaultProxyTokenHeader
	}
	return &ProxyAuth{cfg: cfg}
}

// Authenticate applies proxy authentication to a request's headers. ok is
// false when the request does not carry (valid) proxy credentials, in which
// case the next handler should run. roles is never nil when ok.
func (p *ProxyAuth) Authenticate(h http.Header) (name string, roles []string, ok bool) {
	name, present := headerValue(h, p.cfg.UserHeader)
	if !present {
		return "", nil, false
	}
	roles = []string{}
	if v, present := headerValue(h, p.cfg.RolesHeader); present {
		roles = splitRoles(v)
	}
	if p.cfg.UseSecret && len(p.cfg.Secret) > 0 {
		token, present := headerValue(h, p.cfg.TokenHeader)
		if !present || !p.tokenValid(name, token) {
			return "", nil, false
		}
	}
	return name, roles, true
}

// tokenValid checks token against every configured algorithm, in constant
// time per algorithm and without stopping early.
func (p *ProxyAuth) tokenValid(user, token string) bool {
	valid := 0
	for _, alg := range p.cfg.HashAlgorithms {
		want := ProxyToken(p.cfg.Secret, user, alg)
		if want == "" {
			continue
		}
		valid |= subtle.ConstantTimeCompare([]byte(want), []byte(token))
	}
	return valid == 1
}

// splitRoles is re:split(V, "\\s*,\\s*", [trim, {return, binary}]): the
// whitespace around each comma (Erlang re's \s: space, \t, \n, \v, \f,
// \r) goes with the separator, trailing empty roles are dropped.
func splitRoles(v string) []string {
	parts := strings.Split(v, ",")
	for i := range parts {
		if i > 0 {
			parts[i] = strings.TrimLeft(parts[i], reSpace)
		}
		if i < len(parts)-1 {
			parts[i] = strings.TrimRight(parts[i], reSpace)
		}
	}
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	if parts == nil {
		return []string{}
	}
	return parts
}

// headerValue is mochiweb's get_header_value: a header sent several times
// reads as its values joined with ", ". present distinguishes an empty
// header from a missing one.
func headerValue(h http.Header, name string) (v string, present bool) {
	vs, ok := h[textproto.CanonicalMIMEHeaderKey(name)]
	if !ok {
		// Non-canonical keys set directly in the map.
		for k, kv := range h {
			if strings.EqualFold(k, name) {
				vs, ok = kv, true
				break
			}
		}
	}
	if !ok || len(vs) == 0 {
		return "", false
	}
	return strings.Join(vs, ", "), true
}
