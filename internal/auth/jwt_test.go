package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"hash"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/divandb/divan/internal/couch"
)

var jwtNow = time.Unix(1_700_000_000, 0)

type jwtFixture struct {
	hmacSecret []byte
	rsaKey     *rsa.PrivateKey
	ecKey      *ecdsa.PrivateKey
	rsaPEM     string // \n-escaped, as in ini files
	ecPEM      string
}

var (
	fixtureOnce sync.Once
	fixture     jwtFixture
)

// testKeys generates the key material once per test binary (RSA key
// generation is slow on a shared 2-core machine).
func testKeys(t testing.TB) jwtFixture {
	t.Helper()
	fixtureOnce.Do(func() {
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		fixture = jwtFixture{
			hmacSecret: []byte("a-super-secret-key"),
			rsaKey:     rk,
			ecKey:      ek,
			rsaPEM:     escapedPEM(t, &rk.PublicKey),
			ecPEM:      escapedPEM(t, &ek.PublicKey),
		}
	})
	return fixture
}

func escapedPEM(t testing.TB, pub any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return strings.ReplaceAll(string(p), "\n", `\n`)
}

func signToken(t testing.TB, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
			continue
		}
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// rawToken assembles a token from literal JSON parts and a signature.
func rawToken(header, payload string, sig []byte) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(payload)) + "." + enc(sig)
}

func hmacSig(h func() hash.Hash, key []byte, signing string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(signing))
	return m.Sum(nil)
}

func verifier(t testing.TB, jwtAuth map[string]string) *JWTVerifier {
	k := testKeys(t)
	keys := map[string]string{
		"hmac:_default": base64.StdEncoding.EncodeToString(k.hmacSecret),
		"hmac:other":    base64.StdEncoding.EncodeToString([]byte("another secret")),
		"rsa:_default":  k.rsaPEM,
		"rsa:rk1":       k.rsaPEM,
		"ec:_default":   k.ecPEM,
		"ec:ek1":        k.ecPEM,
		"hmac:badb64":   "!!!not base64",
		"rsa:garbage":   "not a pem",
		"rsa:ecslot":    k.ecPEM,
		"ec:rsaslot":    k.rsaPEM,
	}
	return NewJWTVerifier(ParseJWTConfig(jwtAuth, keys))
}

func wantCouchErr(t *testing.T, err error, code couch.Code, reason string) {
	t.Helper()
	var ce *couch.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want couch error %s %q", err, code, reason)
	}
	if ce.Code != code || ce.Reason != reason {
		t.Fatalf("err = %s %q, want %s %q", ce.Code, ce.Reason, code, reason)
	}
}

func TestParseJWTConfigDefaults(t *testing.T) {
	c := ParseJWTConfig(nil, nil)
	if c.RequiredClaims != "exp" || c.RolesClaimName != "_couchdb.roles" || c.HasRolesClaimPath {
		t.Fatalf("defaults = %+v", c)
	}
	c = ParseJWTConfig(map[string]string{"required_claims": "", "roles_claim_path": `a\.b.c`}, nil)
	if c.RequiredClaims != "" || !c.HasRolesClaimPath || c.RolesClaimPath != `a\.b.c` {
		t.Fatalf("explicit = %+v", c)
	}
}

func TestBearerToken(t *testing.T) {
	for hdr, want := range map[string]bool{
		"Bearer abc": true, "bearer abc": false, "Bearer": false, "Basic abc": false, "": false,
	} {
		if _, ok := BearerToken(hdr); ok != want {
			t.Errorf("BearerToken(%q) ok = %v", hdr, ok)
		}
	}
}

func TestParseRequiredClaims(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   []jwtCheck
		config bool // misconfigured_server
		checks bool // unknown/duplicate
	}{
		{in: "", want: []jwtCheck{{name: "alg"}}},
		{in: "exp", want: []jwtCheck{{name: "alg"}, {name: "exp"}}},
		{in: "exp, iat,nbf", want: []jwtCheck{{name: "alg"}, {name: "exp"}, {name: "iat"}, {name: "nbf"}}},
		{in: `exp, {iss, "https://idp"}`, want: []jwtCheck{{name: "alg"}, {name: "exp"}, {name: "iss", value: "https://idp", hasValue: true}}},
		{in: `{iss,"x"}`, want: []jwtCheck{{name: "alg"}, {name: "iss", value: "x", hasValue: true}}},
		{in: "EXP", config: true},
		{in: ", ,", config: true},
		{in: "exp, sub", checks: true},
		{in: "alg", checks: true},
		{in: "exp,exp", checks: true},
	} {
		got, cfgErr, chkErr := parseRequiredClaims(tc.in)
		if (cfgErr != nil) != tc.config || (chkErr != nil) != tc.checks {
			t.Errorf("%q: errs = %v, %v", tc.in, cfgErr, chkErr)
			continue
		}
		if cfgErr == nil && chkErr == nil && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: checks = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestTokenizeClaimPath(t *testing.T) {
	for in, want := range map[string][]string{
		"roles":           {"roles"},
		"a.b.roles":       {"a", "b", "roles"},
		`_couchdb\.roles`: {"_couchdb.roles"},
		`resource_access.security\.settings.account.roles`: {"resource_access", "security.settings", "account", "roles"},
		"": {""},
	} {
		if got := tokenizeClaimPath(in); !reflect.DeepEqual(got, want) {
			t.Errorf("tokenizeClaimPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestJWTVerify(t *testing.T) {
	k := testKeys(t)
	future := jwtNow.Add(time.Hour).Unix()
	past := jwtNow.Add(-time.Hour).Unix()
	hs := func(claims jwt.MapClaims) string {
		return signToken(t, jwt.SigningMethodHS256, k.hmacSecret, nil, claims)
	}
	base := func() jwt.MapClaims { return jwt.MapClaims{"sub": "alice", "exp": future} }
	with := func(extra jwt.MapClaims) jwt.MapClaims {
		c := base()
		for k, v := range extra {
			if v == nil {
				delete(c, k)
				continue
			}
			c[k] = v
		}
		return c
	}
	unsigned := func(header string) string {
		enc := base64.RawURLEncoding.EncodeToString
		return enc([]byte(header)) + "." + enc([]byte(`{"sub":"admin","exp":99999999999,"_couchdb.roles":["_admin"]}`)) + "."
	}

	type tc struct {
		name    string
		auth    map[string]string
		token   string
		user    string
		roles   []string
		code    couch.Code
		reason  string
		wantErr bool
	}
	cases := []tc{
		{name: "HS256 default kid", token: hs(base()), user: "alice", roles: []string{}},
		{name: "HS384", token: signToken(t, jwt.SigningMethodHS384, k.hmacSecret, nil, base()), user: "alice", roles: []string{}},
		{name: "HS512 named kid", token: signToken(t, jwt.SigningMethodHS512, []byte("another secret"), map[string]any{"kid": "other"}, base()), user: "alice", roles: []string{}},
		{name: "RS256", token: signToken(t, jwt.SigningMethodRS256, k.rsaKey, nil, base()), user: "alice", roles: []string{}},
		{name: "RS512 kid", token: signToken(t, jwt.SigningMethodRS512, k.rsaKey, map[string]any{"kid": "rk1"}, base()), user: "alice", roles: []string{}},
		{name: "ES256", token: signToken(t, jwt.SigningMethodES256, k.ecKey, nil, base()), user: "alice", roles: []string{}},
		{name: "ES256 kid", token: signToken(t, jwt.SigningMethodES256, k.ecKey, map[string]any{"kid": "ek1"}, base()), user: "alice", roles: []string{}},
		{name: "roles list", token: hs(with(jwt.MapClaims{"_couchdb.roles": []string{"_admin", "x"}})), user: "alice", roles: []string{"_admin", "x"}},
		{name: "roles comma string", token: hs(with(jwt.MapClaims{"_couchdb.roles": "a , b,c"})), user: "alice", roles: []string{"a", "b", "c"}},
		{name: "roles element not string", token: hs(with(jwt.MapClaims{"_couchdb.roles": []any{"a", 1}})), code: couch.CodeBadRequest, reason: "Malformed token"},
		{name: "roles null", token: hs(with(jwt.MapClaims{"_couchdb.roles": nil})), user: "alice", roles: []string{}},
		{name: "custom roles_claim_name", auth: map[string]string{"roles_claim_name": "https://example.com/roles"},
			token: hs(with(jwt.MapClaims{"https://example.com/roles": []string{"r"}, "_couchdb.roles": []string{"ignored"}})), user: "alice", roles: []string{"r"}},
		{name: "roles_claim_path nested", auth: map[string]string{"roles_claim_path": `resource_access.security\.settings.account.roles`},
			token: hs(with(jwt.MapClaims{"resource_access": map[string]any{"security.settings": map[string]any{"account": map[string]any{"roles": []string{"manage"}}}}})),
			user:  "alice", roles: []string{"manage"}},
		{name: "roles_claim_path escaped top level", auth: map[string]string{"roles_claim_path": `_couchdb\.roles`},
			token: hs(with(jwt.MapClaims{"_couchdb.roles": []string{"a"}})), user: "alice", roles: []string{"a"}},
		{name: "roles_claim_path missing", auth: map[string]string{"roles_claim_path": "realm_access.roles"},
			token: hs(base()), code: couch.CodeNotFound, reason: "missing json key: realm_access"},
		{name: "roles_claim_path through non-object", auth: map[string]string{"roles_claim_path": "a.roles"},
			token: hs(with(jwt.MapClaims{"a": []string{"x"}})), code: couch.CodeNotFound, reason: "json_mismatch"},
		{name: "roles_claim_path replaces name", auth: map[string]string{"roles_claim_path": "r", "roles_claim_name": "x"},
			token: hs(with(jwt.MapClaims{"r": "p,q", "x": []string{"no"}})), user: "alice", roles: []string{"p", "q"}},

		// Time claims.
		{name: "expired", token: hs(with(jwt.MapClaims{"exp": past})), code: couch.CodeUnauthorized, reason: "exp not in future"},
		{name: "exp equals now", token: hs(with(jwt.MapClaims{"exp": jwtNow.Unix()})), code: couch.CodeUnauthorized, reason: "exp not in future"},
		{name: "exp missing (required by default)", token: hs(with(jwt.MapClaims{"exp": nil})), code: couch.CodeBadRequest, reason: "Missing exp claim"},
		{name: "exp as string refused", token: hs(with(jwt.MapClaims{"exp": "99999999999"})), code: couch.CodeUnauthorized, reason: "exp not in future"},
		{name: "exp null refused", token: rawTokenHS(k.hmacSecret, `{"alg":"HS256"}`, `{"sub":"a","exp":null}`), code: couch.CodeUnauthorized, reason: "exp not in future"},
		{name: "exp float", token: hs(with(jwt.MapClaims{"exp": float64(jwtNow.Unix()) + 0.5})), user: "alice", roles: []string{}},
		{name: "exp not required: expired accepted", auth: map[string]string{"required_claims": ""},
			token: hs(with(jwt.MapClaims{"exp": past})), user: "alice", roles: []string{}},
		{name: "nbf future", auth: map[string]string{"required_claims": "exp, nbf"},
			token: hs(with(jwt.MapClaims{"nbf": future})), code: couch.CodeUnauthorized, reason: "nbf not in past"},
		{name: "nbf past", auth: map[string]string{"required_claims": "exp, nbf"},
			token: hs(with(jwt.MapClaims{"nbf": past})), user: "alice", roles: []string{}},
		{name: "nbf missing", auth: map[string]string{"required_claims": "nbf"},
			token: hs(base()), code: couch.CodeBadRequest, reason: "Missing nbf claim"},
		{name: "nbf unrequired ignored", token: hs(with(jwt.MapClaims{"nbf": future})), user: "alice", roles: []string{}},
		{name: "iat integer", auth: map[string]string{"required_claims": "exp,iat"},
			token: hs(with(jwt.MapClaims{"iat": past})), user: "alice", roles: []string{}},
		{name: "iat float", auth: map[string]string{"required_claims": "exp,iat"},
			token: hs(with(jwt.MapClaims{"iat": 1.5})), code: couch.CodeBadRequest, reason: "Invalid iat claim"},
		{name: "iat missing", auth: map[string]string{"required_claims": "iat"},
			token: hs(base()), code: couch.CodeBadRequest, reason: "Missing iat claim"},

		// iss.
		{name: "iss matches", auth: map[string]string{"required_claims": `exp, {iss, "https://idp"}`},
			token: hs(with(jwt.MapClaims{"iss": "https://idp"})), user: "alice", roles: []string{}},
		{name: "iss wrong", auth: map[string]string{"required_claims": `exp, {iss, "https://idp"}`},
			token: hs(with(jwt.MapClaims{"iss": "https://evil"})), code: couch.CodeBadRequest, reason: "Invalid iss claim"},
		{name: "iss missing", auth: map[string]string{"required_claims": `{iss, "https://idp"}`},
			token: hs(base()), code: couch.CodeBadRequest, reason: "Missing iss claim"},
		{name: "bare iss (CouchDB quirk)", auth: map[string]string{"required_claims": "iss"},
			token: hs(with(jwt.MapClaims{"iss": "x"})), code: couch.CodeBadRequest, reason: "Invalid iss claim"},
		{name: "iss unrequired ignored", token: hs(with(jwt.MapClaims{"iss": "anything"})), user: "alice", roles: []string{}},

		// Header checks.
		{name: "typ required ok", auth: map[string]string{"required_claims": "exp,typ"}, token: hs(base()), user: "alice", roles: []string{}},
		{name: "typ required missing", auth: map[string]string{"required_claims": "exp,typ"},
			token: signToken(t, jwt.SigningMethodHS256, k.hmacSecret, map[string]any{"typ": nil}, base()), code: couch.CodeBadRequest, reason: "Missing typ header parameter"},
		{name: "typ required wrong", auth: map[string]string{"required_claims": "exp,typ"},
			token: signToken(t, jwt.SigningMethodHS256, k.hmacSecret, map[string]any{"typ": "at+jwt"}, base()), code: couch.CodeBadRequest, reason: "Invalid typ header parameter"},
		{name: "typ at+jwt tolerated", token: signToken(t, jwt.SigningMethodHS256, k.hmacSecret, map[string]any{"typ": "at+jwt"}, base()), user: "alice", roles: []string{}},
		{name: "alg none", token: unsigned(`{"alg":"none","typ":"JWT"}`), code: couch.CodeBadRequest, reason: "Invalid alg header parameter"},
		{name: "alg None", token: unsigned(`{"alg":"None"}`), code: couch.CodeBadRequest, reason: "Invalid alg header parameter"},
		{name: "alg missing", token: unsigned(`{"typ":"JWT"}`), code: couch.CodeBadRequest, reason: "Missing alg header parameter"},
		{name: "alg PS256 unsupported", token: unsigned(`{"alg":"PS256"}`), code: couch.CodeBadRequest, reason: "Invalid alg header parameter"},
		{name: "alg HS256 with empty signature", token: unsigned(`{"alg":"HS256"}`), code: couch.CodeBadRequest, reason: "Bad HMAC"},
		{name: "alg RS256 with empty signature", token: unsigned(`{"alg":"RS256"}`), code: couch.CodeBadRequest, reason: "Bad signature"},

		// Keys.
		{name: "wrong kid", token: signToken(t, jwt.SigningMethodHS256, k.hmacSecret, map[string]any{"kid": "nope"}, base()), code: couch.CodeBadRequest, reason: "Unknown kid"},
		{name: "kid of other kty", token: signToken(t, jwt.SigningMethodHS256, k.hmacSecret, map[string]any{"kid": "rk1"}, base()), code: couch.CodeBadRequest, reason: "Unknown kid"},
		{name: "kid not a string", token: rawTokenHS(k.hmacSecret, `{"alg":"HS256","kid":1}`, `{"sub":"a","exp":99999999999}`), code: couch.CodeBadRequest, reason: "Unknown kid"},
		{name: "kid required missing", auth: map[string]string{"required_claims": "exp,kid"}, token: hs(base()), code: couch.CodeBadRequest, reason: "Missing kid claim"},
		{name: "kid required present", auth: map[string]string{"required_claims": "exp,kid"},
			token: signToken(t, jwt.SigningMethodHS256, []byte("another secret"), map[string]any{"kid": "other"}, base()), user: "alice", roles: []string{}},
		{name: "hmac key not base64", token: signToken(t, jwt.SigningMethodHS256, k.hmacSecret, map[string]any{"kid": "badb64"}, base()), code: couch.CodeBadRequest, reason: "Not a valid key"},
		{name: "rsa key not PEM", token: signToken(t, jwt.SigningMethodRS256, k.rsaKey, map[string]any{"kid": "garbage"}, base()), code: couch.CodeBadRequest, reason: "Not a valid key"},
		{name: "rsa slot holds EC key", token: signToken(t, jwt.SigningMethodRS256, k.rsaKey, map[string]any{"kid": "ecslot"}, base()), code: couch.CodeBadRequest, reason: "not an RSA public key"},
		{name: "ec slot holds RSA key", token: signToken(t, jwt.SigningMethodES256, k.ecKey, map[string]any{"kid": "rsaslot"}, base()), code: couch.CodeBadRequest, reason: "not an EC public key"},

		// Signatures and algorithm confusion.
		{name: "HS256 with wrong secret", token: signToken(t, jwt.SigningMethodHS256, []byte("guess"), nil, base()), code: couch.CodeBadRequest, reason: "Bad HMAC"},
		{name: "HS256 keyed with the RSA public PEM (alg confusion)",
			token: signToken(t, jwt.SigningMethodHS256, []byte(strings.ReplaceAll(k.rsaPEM, `\n`, "\n")), nil, base()), code: couch.CodeBadRequest, reason: "Bad HMAC"},
		{name: "HS256 keyed with the RSA public PEM, kid of the RSA key",
			token: signToken(t, jwt.SigningMethodHS256, []byte(strings.ReplaceAll(k.rsaPEM, `\n`, "\n")), map[string]any{"kid": "rk1"}, base()), code: couch.CodeBadRequest, reason: "Unknown kid"},
		{name: "RS256 header, HS256 signature", token: rawTokenWith(jwt.SigningMethodHS256, k.hmacSecret, `{"alg":"RS256"}`, `{"sub":"a","exp":99999999999}`), code: couch.CodeBadRequest, reason: "Bad signature"},
		{name: "ES256 signed by another key", token: signToken(t, jwt.SigningMethodES256, mustEC(t), nil, base()), code: couch.CodeBadRequest, reason: "Bad signature"},
		{name: "RS256 tampered payload", token: tamper(signToken(t, jwt.SigningMethodRS256, k.rsaKey, nil, base())), code: couch.CodeBadRequest, reason: "Bad signature"},
		{name: "HS256 tampered payload", token: tamper(hs(base())), code: couch.CodeBadRequest, reason: "Bad HMAC"},

		// Structure.
		{name: "two parts", token: "a.b", code: couch.CodeBadRequest, reason: "Malformed token"},
		{name: "four parts", token: "a.b.c.d", code: couch.CodeBadRequest, reason: "Malformed token"},
		{name: "empty", token: "", code: couch.CodeBadRequest, reason: "Malformed token"},
		{name: "bad base64", token: "!!.e30.e30", code: couch.CodeBadRequest, reason: "bad_block"},
		{name: "padded base64", token: base64.URLEncoding.EncodeToString([]byte(`{"alg":"HS256" }`)) + ".e30.", code: couch.CodeBadRequest, reason: "bad_block"},
		{name: "invalid json", token: "fQ.fQ.fQ", code: couch.CodeBadRequest, reason: "invalid_json"},
		{name: "truncated json", token: "ew.ew.ew", code: couch.CodeBadRequest, reason: "invalid_json"},
		{name: "header not object", token: rawToken(`[1]`, `{}`, nil), code: couch.CodeBadRequest, reason: "Not an object"},
		{name: "payload not object", token: rawToken(`{"alg":"HS256"}`, `"x"`, nil), code: couch.CodeBadRequest, reason: "Not an object"},

		// sub.
		{name: "sub missing", token: hs(with(jwt.MapClaims{"sub": nil})), code: couch.CodeUnauthorized, reason: "Token missing sub claim."},
		{name: "sub null", token: rawTokenHS(k.hmacSecret, `{"alg":"HS256"}`, `{"sub":null,"exp":99999999999}`), code: couch.CodeUnauthorized, reason: "Token missing sub claim."},
		{name: "roles error before sub error", token: hs(jwt.MapClaims{"exp": future, "_couchdb.roles": 7}), code: couch.CodeBadRequest, reason: "Malformed token"},
		{name: "duplicate sub keeps the first", token: rawTokenHS(k.hmacSecret, `{"alg":"HS256"}`, `{"sub":"first","sub":"second","exp":99999999999}`), user: "first", roles: []string{}},

		// Configuration errors.
		{name: "required_claims unparsable", auth: map[string]string{"required_claims": "EXP"}, token: "x", code: CodeMisconfiguredServer, reason: "JWT is not configured correctly"},
		{name: "required_claims unknown check", auth: map[string]string{"required_claims": "exp, sub"}, token: hs(base()), code: couch.CodeUnknown, reason: "{unknown_checks,[sub]}"},
		{name: "unknown check after malformed", auth: map[string]string{"required_claims": "sub"}, token: "x", code: couch.CodeBadRequest, reason: "Malformed token"},
		{name: "required claim with a value", auth: map[string]string{"required_claims": `{exp, "1"}`}, token: hs(base()), code: codeCaseClause, reason: `{<<"exp">>,...}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := verifier(t, c.auth)
			user, roles, err := v.Verify(c.token, jwtNow)
			if c.code != "" {
				wantCouchErr(t, err, c.code, c.reason)
				if user != "" || roles != nil {
					t.Fatalf("failed verification returned %q %v", user, roles)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if user != c.user || !reflect.DeepEqual(roles, c.roles) {
				t.Fatalf("Verify = %q %#v, want %q %#v", user, roles, c.user, c.roles)
			}
		})
	}
}

func rawTokenWith(m jwt.SigningMethod, key any, header, payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	signing := enc([]byte(header)) + "." + enc([]byte(payload))
	sig, err := m.Sign(signing, key)
	if err != nil {
		panic(err)
	}
	return signing + "." + enc(sig)
}

func rawTokenHS(key []byte, header, payload string) string {
	return rawTokenWith(jwt.SigningMethodHS256, key, header, payload)
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	var claims map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(raw, &claims)
	claims["sub"] = "admin"
	b, _ := json.Marshal(claims)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func mustEC(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestJWTKeyFormats(t *testing.T) {
	k := testKeys(t)
	der := x509.MarshalPKCS1PublicKey(&k.rsaKey.PublicKey)
	pkcs1 := strings.ReplaceAll(string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: der})), "\n", `\n`)
	two := k.rsaPEM + k.rsaPEM
	v := NewJWTVerifier(ParseJWTConfig(nil, map[string]string{"rsa:pkcs1": pkcs1, "rsa:two": two}))
	tok := signToken(t, jwt.SigningMethodRS256, k.rsaKey, map[string]any{"kid": "pkcs1"}, jwt.MapClaims{"sub": "bob", "exp": jwtNow.Unix() + 10})
	if u, _, err := v.Verify(tok, jwtNow); err != nil || u != "bob" {
		t.Fatalf("PKCS#1 key: %q %v", u, err)
	}
	tok = signToken(t, jwt.SigningMethodRS256, k.rsaKey, map[string]any{"kid": "two"}, jwt.MapClaims{"sub": "bob", "exp": jwtNow.Unix() + 10})
	_, _, err := v.Verify(tok, jwtNow)
	wantCouchErr(t, err, couch.CodeBadRequest, "Not a valid key")
}

// The error must never echo key material.
func TestJWTErrorsHideSecrets(t *testing.T) {
	k := testKeys(t)
	v := verifier(t, nil)
	_, _, err := v.Verify(signToken(t, jwt.SigningMethodHS256, []byte("guess"), nil, jwt.MapClaims{"sub": "a", "exp": jwtNow.Unix() + 5}), jwtNow)
	if err == nil || strings.Contains(err.Error(), string(k.hmacSecret)) || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(k.hmacSecret)) {
		t.Fatalf("err = %v", err)
	}
}

func FuzzJWTVerify(f *testing.F) {
	k := testKeys(f)
	claims := jwt.MapClaims{"sub": "alice", "exp": jwtNow.Unix() + 60, "_couchdb.roles": []string{"_admin"}}
	f.Add(signToken(f, jwt.SigningMethodHS256, k.hmacSecret, nil, claims))
	f.Add(signToken(f, jwt.SigningMethodHS512, k.hmacSecret, map[string]any{"kid": "_default"}, claims))
	f.Add(signToken(f, jwt.SigningMethodRS256, k.rsaKey, nil, claims))
	f.Add(signToken(f, jwt.SigningMethodES256, k.ecKey, nil, claims))
	f.Add(rawToken(`{"alg":"none"}`, `{"sub":"admin","exp":99999999999}`, nil))
	f.Add(rawToken(`{"alg":"HS256","kid":"../x"}`, `{"sub":"admin","exp":99999999999}`, nil))
	f.Add("a.b.c")
	f.Add("..")
	f.Add("")
	v := NewJWTVerifier(ParseJWTConfig(map[string]string{"required_claims": "exp"}, map[string]string{
		"hmac:_default": base64.StdEncoding.EncodeToString(k.hmacSecret),
		"rsa:_default":  k.rsaPEM,
		"ec:_default":   k.ecPEM,
	}))
	f.Fuzz(func(t *testing.T, token string) {
		user, roles, err := v.Verify(token, jwtNow)
		if err != nil {
			var ce *couch.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error without a CouchDB error: %v", err)
			}
			if user != "" || roles != nil {
				t.Fatalf("error with a user: %q %v", user, roles)
			}
			return
		}
		if roles == nil {
			t.Fatalf("nil roles on success")
		}
		// Accepted: the signature must check out independently of the
		// verifier, with the key its alg selects.
		parts := strings.Split(token, ".")
		hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
		var h struct {
			Alg string `json:"alg"`
		}
		if json.Unmarshal(hdr, &h) != nil {
			t.Fatalf("accepted token with unreadable header %q", token)
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil || len(sig) == 0 {
			t.Fatalf("accepted token without a signature: %q", token)
		}
		signing := parts[0] + "." + parts[1]
		switch h.Alg {
		case "HS256":
			if !hmac.Equal(sig, hmacSig(sha256.New, k.hmacSecret, signing)) {
				t.Fatalf("accepted forged HS256 token %q", token)
			}
		case "HS384":
			if !hmac.Equal(sig, hmacSig(sha512.New384, k.hmacSecret, signing)) {
				t.Fatalf("accepted forged HS384 token %q", token)
			}
		case "HS512":
			if !hmac.Equal(sig, hmacSig(sha512.New, k.hmacSecret, signing)) {
				t.Fatalf("accepted forged HS512 token %q", token)
			}
		case "RS256", "RS384", "RS512":
			if jwt.GetSigningMethod(h.Alg).Verify(signing, sig, &k.rsaKey.PublicKey) != nil {
				t.Fatalf("accepted forged %s token %q", h.Alg, token)
			}
		case "ES256", "ES384", "ES512":
			if jwt.GetSigningMethod(h.Alg).Verify(signing, sig, &k.ecKey.PublicKey) != nil {
				t.Fatalf("accepted forged %s token %q", h.Alg, token)
			}
		default:
			t.Fatalf("accepted token with alg %q: %q", h.Alg, token)
		}
	})
}
