package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// JWT authentication, as CouchDB 3.5's
// couch_httpd_auth:jwt_authentication_handler/1 with jwtf:decode/3 and
// jwtf_keystore:
//
//   - only "Authorization: Bearer <token>" (exactly that prefix) is
//     considered (BearerToken); otherwise the next handler runs;
//   - [jwt_auth] required_claims (default "exp" since 3.4) lists the checks
//     besides the always-present alg: bare names (exp, iat, nbf, kid, typ,
//     iss, sig) or {iss, "value"} tuples. Claims that are not required are
//     not validated at all (RFC 7519 §4: claims not understood are ignored);
//   - the header's alg must be one of RS256/384/512, ES256/384/512,
//     HS256/384/512 ("none" and anything else: 400 "Invalid alg header
//     parameter"). There is no configurable algorithm list in CouchDB;
//   - the key is [jwt_keys] "<kty>:<kid>", kty being hmac, rsa or ec as
//     the alg starts with HS, RS or ES, kid the header's kid or "_default".
//     So an HS token can only ever be checked with an hmac key and an RS
//     token with an RSA public key: no algorithm confusion. hmac values are
//     base64; rsa/ec values are PEM with newlines written as the two
//     characters "\n";
//   - the signature is checked last, by github.com/golang-jwt/jwt/v5 (HMAC
//     in constant time; ES* signatures in the JOSE R||S form, as CouchDB
//     since 3.2.2);
//   - the user name is the sub claim (401 "Token missing sub claim."), the
//     roles come from [jwt_auth] roles_claim_path (nested, "." separated,
//     "\." for a literal dot) when set, else the top-level claim named by
//     roles_claim_name (default "_couchdb.roles"). A roles value may be a
//     list of strings or one comma-separated string.
//
// Errors are wrapped *couch.Error values carrying CouchDB's status names and
// reasons: 400 bad_request for malformed tokens, missing claims, unknown
// kids and bad signatures ("Bad HMAC", "Bad signature"), 401 unauthorized
// for time checks ("exp not in future", "nbf not in past") and a missing
// sub, 404 not_found for a roles_claim_path that does not resolve, 500 for
// server misconfiguration.
//
// Deliberate differences, where CouchDB's behaviour is an Erlang crash or
// an artefact of Erlang term ordering:
//   - a typ header other than "JWT" is tolerated when typ is not required
//     (CouchDB 3.5 answers 500 case_clause; fixed upstream by
//     apache/couchdb#5853);
//   - a required exp that is not a number is refused with "exp not in
//     future" (Erlang compares any non-number as greater than a number, so
//     CouchDB would accept {"exp": "never"} forever);
//   - base64 and JSON failures answer 400 bad_request with the reasons
//     "bad_block" and "invalid_json" (CouchDB puts raw Erlang terms there);
//   - roles values of other JSON types, and non-string sub or kid values,
//     are refused as "Malformed token", "Token missing sub claim." and
//     "Unknown kid" (CouchDB crashes with a 500).

// DefaultRolesClaimName is [jwt_auth] roles_claim_name's default.
const DefaultRolesClaimName = "_couchdb.roles"

// DefaultRequiredClaims is [jwt_auth] required_claims's default (CouchDB
// 3.4+, apache/couchdb#5057).
const DefaultRequiredClaims = "exp"

// CodeMisconfiguredServer is the error name CouchDB answers (500) when
// [jwt_auth] required_claims cannot be parsed.
const CodeMisconfiguredServer couch.Code = "misconfigured_server"

// codeCaseClause is the 500 error name of an Erlang case_clause crash.
const codeCaseClause couch.Code = "case_clause"

// JWTConfig is the [jwt_auth] and [jwt_keys] configuration.
type JWTConfig struct {
	// RequiredClaims is the raw required_claims value.
	RequiredClaims string
	// RolesClaimName is the top-level roles claim, used only when
	// HasRolesClaimPath is false.
	RolesClaimName string
	// RolesClaimPath is the nested roles claim path; it replaces
	// RolesClaimName when HasRolesClaimPath (even when empty, as CouchDB
	// tests only that the key is set).
	RolesClaimPath    string
	HasRolesClaimPath bool
	// Keys is the [jwt_keys] section: "<kty>:<kid>" to the encoded key.
	Keys map[string]string
}

// ParseJWTConfig builds a JWTConfig from the [jwt_auth] and [jwt_keys]
// sections' key/values, applying CouchDB's defaults.
func ParseJWTConfig(jwtAuth, jwtKeys map[string]string) JWTConfig {
	c := JWTConfig{
		RequiredClaims: DefaultRequiredClaims,
		RolesClaimName: DefaultRolesClaimName,
		Keys:           make(map[string]string, len(jwtKeys)),
	}
	if v, ok := jwtAuth["required_claims"]; ok {
		c.RequiredClaims = strings.TrimSpace(v)
	}
	if v, ok := jwtAuth["roles_claim_name"]; ok && strings.TrimSpace(v) != "" {
		c.RolesClaimName = strings.TrimSpace(v)
	}
	if v, ok := jwtAuth["roles_claim_path"]; ok {
		c.RolesClaimPath, c.HasRolesClaimPath = strings.TrimSpace(v), true
	}
	for k, v := range jwtKeys {
		c.Keys[k] = v
	}
	return c
}

// BearerToken extracts the token of an "Authorization: Bearer <token>"
// header (the exact, case-sensitive prefix CouchDB matches).
func BearerToken(authorization string) (token string, ok bool) {
	return strings.CutPrefix(authorization, "Bearer ")
}

// jwtCheck is one entry of jwtf's Checks list: a bare atom (value true) or
// an {atom, "value"} tuple.
type jwtCheck struct {
	name     string
	value    string
	hasValue bool
}

// jwtKnownChecks is jwtf's ?CHECKS.
func jwtKnownCheck(name string) bool {
	switch name {
	case "alg", "exp", "iat", "iss", "kid", "nbf", "sig", "typ":
		return true
	}
	return false
}

// jwtAlgorithms maps jwtf's ?ALGS to the library's signing methods and
// jwtf_keystore's key types.
func jwtAlgorithm(alg string) (method jwt.SigningMethod, kty string, ok bool) {
	switch alg {
	case "RS256":
		return jwt.SigningMethodRS256, "rsa", true
	case "RS384":
		return jwt.SigningMethodRS384, "rsa", true
	case "RS512":
		return jwt.SigningMethodRS512, "rsa", true
	case "ES256":
		return jwt.SigningMethodES256, "ec", true
	case "ES384":
		return jwt.SigningMethodES384, "ec", true
	case "ES512":
		return jwt.SigningMethodES512, "ec", true
	case "HS256":
		return jwt.SigningMethodHS256, "hmac", true
	case "HS384":
		return jwt.SigningMethodHS384, "hmac", true
	case "HS512":
		return jwt.SigningMethodHS512, "hmac", true
	}
	return nil, "", false
}

// jwtKey is a decoded [jwt_keys] entry, or the error its use reports.
type jwtKey struct {
	key any // []byte, *rsa.PublicKey or *ecdsa.PublicKey
	err error
}

// JWTVerifier verifies bearer tokens against one configuration. It is
// immutable and safe for concurrent use; build a new one when [jwt_auth] or
// [jwt_keys] change.
type JWTVerifier struct {
	checks      []jwtCheck
	configErr   error // required_claims unparsable: answered before anything else
	checksErr   error // unknown/duplicate checks: answered once the token splits
	rolesPath   []string
	rolesNested bool // roles_claim_path (get_nested_json_value) rather than roles_claim_name
	keys        map[string]jwtKey
}

// NewJWTVerifier decodes cfg. A malformed required_claims or key does not
// fail here: as in CouchDB, the error is answered to each request that
// needs it.
func NewJWTVerifier(cfg JWTConfig) *JWTVerifier {
	v := &JWTVerifier{keys: make(map[string]jwtKey, len(cfg.Keys))}
	v.checks, v.configErr, v.checksErr = parseRequiredClaims(cfg.RequiredClaims)
	if cfg.HasRolesClaimPath {
		v.rolesPath, v.rolesNested = tokenizeClaimPath(cfg.RolesClaimPath), true
	} else {
		v.rolesPath = []string{cfg.RolesClaimName}
	}
	for name, enc := range cfg.Keys {
		kty, _, ok := strings.Cut(name, ":")
		if !ok {
			continue
		}
		key, err := decodeJWTKey(kty, enc)
		v.keys[name] = jwtKey{key: key, err: err}
	}
	return v
}

// parseRequiredClaims is get_configured_claims/0: every match of
// ((?<key1>[a-z]+)|{(?<key2>[a-z]+) *, *"(?<val>[^"]+)"}) in the value (the
// Erlang source's "\s" is an escaped space), alg prepended; no match in a
// non-empty value is 500 misconfigured_server "JWT is not configured
// correctly". Unknown or duplicate checks are jwtf:validate_checks/1's
// error, a 500 at request time.
func parseRequiredClaims(s string) (checks []jwtCheck, configErr, checksErr error) {
	checks = []jwtCheck{{name: "alg"}}
	matched := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isLowerASCII(c):
			j := i
			for j < len(s) && isLowerASCII(s[j]) {
				j++
			}
			checks = append(checks, jwtCheck{name: s[i:j]})
			matched, i = true, j
		case c == '{':
			if chk, n, ok := matchClaimTuple(s[i:]); ok {
				checks = append(checks, chk)
				matched, i = true, i+n
				continue
			}
			i++
		default:
			i++
		}
	}
	if !matched {
		if s == "" {
			return checks, nil, nil
		}
		return nil, fmt.Errorf("auth: jwt: required_claims %q: %w", s,
			couch.Errorf(CodeMisconfiguredServer, "JWT is not configured correctly")), nil
	}
	seen := make(map[jwtCheck]bool, len(checks))
	for _, c := range checks {
		if !jwtKnownCheck(c.name) {
			return nil, nil, fmt.Errorf("auth: jwt: required_claims: %w",
				couch.Errorf(couch.CodeUnknown, "{unknown_checks,[%s]}", c.name))
		}
		if seen[c] {
			return nil, nil, fmt.Errorf("auth: jwt: required_claims: %w",
				couch.Errorf(couch.CodeUnknown, "{duplicate_checks,[%s]}", c.name))
		}
		seen[c] = true
	}
	return checks, nil, nil
}

func isLowerASCII(c byte) bool { return c >= 'a' && c <= 'z' }

// matchClaimTuple matches {name *, *"value"} at the start of s and returns
// the check and the match length.
func matchClaimTuple(s string) (jwtCheck, int, bool) {
	i := 1
	j := i
	for j < len(s) && isLowerASCII(s[j]) {
		j++
	}
	if j == i {
		return jwtCheck{}, 0, false
	}
	name := s[i:j]
	for j < len(s) && s[j] == ' ' {
		j++
	}
	if j >= len(s) || s[j] != ',' {
		return jwtCheck{}, 0, false
	}
	j++
	for j < len(s) && s[j] == ' ' {
		j++
	}
	if j >= len(s) || s[j] != '"' {
		return jwtCheck{}, 0, false
	}
	j++
	end := strings.IndexByte(s[j:], '"')
	if end <= 0 || j+end+1 >= len(s) || s[j+end+1] != '}' {
		return jwtCheck{}, 0, false
	}
	return jwtCheck{name: name, value: s[j : j+end], hasValue: true}, j + end + 2, true
}

// tokenizeClaimPath splits a roles_claim_path at every "." not preceded by
// a backslash and turns "\." into "." in each part.
func tokenizeClaimPath(path string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(path); i++ {
		if path[i] == '.' && (i == 0 || path[i-1] != '\\') {
			parts = append(parts, path[start:i])
			start = i + 1
		}
	}
	parts = append(parts, path[start:])
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, `\.`, ".")
	}
	return parts
}

// decodeJWTKey is jwtf_keystore:get_from_config/2 for one value.
func decodeJWTKey(kty, enc string) (any, error) {
	switch kty {
	case "hmac":
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
		if err != nil {
			return nil, jwtBadRequest("Not a valid key", err)
		}
		return b, nil
	case "rsa", "ec":
		pemText := strings.ReplaceAll(enc, `\n`, "\n")
		block, rest := pem.Decode([]byte(pemText))
		if block == nil {
			return nil, jwtBadRequest("Not a valid key", nil)
		}
		if b2, _ := pem.Decode(rest); b2 != nil {
			return nil, jwtBadRequest("Not a valid key", errors.New("more than one PEM block"))
		}
		var pub any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		default:
			err = fmt.Errorf("PEM block %q", block.Type)
		}
		if kty == "rsa" {
			if k, ok := pub.(*rsa.PublicKey); ok && err == nil {
				return k, nil
			}
			return nil, jwtBadRequest("not an RSA public key", err)
		}
		if k, ok := pub.(*ecdsa.PublicKey); ok && err == nil {
			return k, nil
		}
		return nil, jwtBadRequest("not an EC public key", err)
	}
	return nil, jwtBadRequest("Unknown kty", nil)
}

func jwtBadRequest(reason string, cause error) error {
	ce := couch.Errorf(couch.CodeBadRequest, "%s", reason)
	if cause != nil {
		return fmt.Errorf("auth: jwt: %v: %w", cause, ce)
	}
	return fmt.Errorf("auth: jwt: %w", ce)
}

func jwtError(code couch.Code, reason string) error {
	return fmt.Errorf("auth: jwt: %w", couch.Errorf(code, "%s", reason))
}

// jsonObject is a decoded JSON object keeping the first of duplicate
// members, as Erlang's proplists:get_value/lists:keyfind on jiffy's
// output do.
type jsonObject map[string]json.RawMessage

// jsonDecodeError classifies decodeObject failures.
type jsonDecodeError string

func (e jsonDecodeError) Error() string { return string(e) }

// Kinds of decodeObject failures.
const (
	errInvalidJSON jsonDecodeError = "invalid_json"
	errNotObject   jsonDecodeError = "not an object"
)

// decodeObject decodes data as a JSON object. Invalid JSON (including
// invalid UTF-8, which jiffy refuses) reports errInvalidJSON; valid JSON of
// another type reports errNotObject.
func decodeObject(data []byte) (jsonObject, error) {
	if !rawjson.Valid(data) {
		return nil, errInvalidJSON
	}
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) == 0 || data[0] != '{' {
		return nil, errNotObject
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, errInvalidJSON
	}
	obj := make(jsonObject)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, errInvalidJSON
		}
		key, ok := t.(string)
		if !ok {
			return nil, errInvalidJSON
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errInvalidJSON
		}
		if _, dup := obj[key]; !dup {
			obj[key] = raw
		}
	}
	return obj, nil
}

// decodeSegment is jwtf's decode_b64url_json/1 followed by props/1.
func decodeSegment(seg string) (jsonObject, error) {
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, jwtBadRequest("bad_block", err)
	}
	obj, err := decodeObject(raw)
	switch {
	case errors.Is(err, errNotObject):
		return nil, jwtError(couch.CodeBadRequest, "Not an object")
	case err != nil:
		return nil, jwtBadRequest("invalid_json", err)
	}
	return obj, nil
}

// prop is proplists:get_value(Name, Checks): the first check of that name.
func (v *JWTVerifier) prop(name string) (jwtCheck, bool) {
	for _, c := range v.checks {
		if c.name == name {
			return c, true
		}
	}
	return jwtCheck{}, false
}

// Verify checks a bearer token at time now and returns the user name and
// roles it authenticates. Errors wrap a *couch.Error with CouchDB's name
// and reason. roles is never nil on success.
func (v *JWTVerifier) Verify(token string, now time.Time) (name string, roles []string, err error) {
	if v.configErr != nil {
		return "", nil, v.configErr
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", nil, jwtError(couch.CodeBadRequest, "Malformed token")
	}
	if v.checksErr != nil {
		return "", nil, v.checksErr
	}
	header, err := decodeSegment(parts[0])
	if err != nil {
		return "", nil, err
	}
	alg, err := v.validateHeader(header)
	if err != nil {
		return "", nil, err
	}
	claims, err := decodeSegment(parts[1])
	if err != nil {
		return "", nil, err
	}
	if err := v.validatePayload(claims, now); err != nil {
		return "", nil, err
	}
	method, key, err := v.key(alg, header)
	if err != nil {
		return "", nil, err
	}
	sig, decErr := base64.RawURLEncoding.DecodeString(parts[2])
	if decErr == nil {
		decErr = method.Verify(parts[0]+"."+parts[1], sig, key)
	}
	if decErr != nil {
		reason := "Bad signature"
		if _, isHMAC := method.(*jwt.SigningMethodHMAC); isHMAC {
			reason = "Bad HMAC"
		}
		return "", nil, jwtBadRequest(reason, decErr)
	}
	roles, err = v.roles(claims)
	if err != nil {
		return "", nil, err
	}
	name, ok := jsonString(claims["sub"])
	if !ok {
		return "", nil, jwtError(couch.CodeUnauthorized, "Token missing sub claim.")
	}
	return name, roles, nil
}

// validateHeader is jwtf:validate_header/2 (typ, then alg) and returns the
// alg.
func (v *JWTVerifier) validateHeader(h jsonObject) (string, error) {
	if c, ok := v.prop("typ"); ok {
		raw, present := h["typ"]
		switch {
		case c.hasValue:
			return "", caseClause("typ")
		case !present:
			return "", jwtError(couch.CodeBadRequest, "Missing typ header parameter")
		case !jsonStringIs(raw, "JWT"):
			return "", jwtError(couch.CodeBadRequest, "Invalid typ header parameter")
		}
	}
	raw, present := h["alg"]
	if !present {
		return "", jwtError(couch.CodeBadRequest, "Missing alg header parameter")
	}
	alg, isString := jsonString(raw)
	if _, _, ok := jwtAlgorithm(alg); !ok || !isString {
		return "", jwtError(couch.CodeBadRequest, "Invalid alg header parameter")
	}
	return alg, nil
}

// validatePayload is jwtf:validate_payload/2: iss, iat, nbf, exp, each only
// when required.
func (v *JWTVerifier) validatePayload(claims jsonObject, now time.Time) error {
	nowSecs := float64(now.Unix())
	if c, ok := v.prop("iss"); ok {
		raw, present := claims["iss"]
		switch {
		case !present:
			return jwtError(couch.CodeBadRequest, "Missing iss claim")
		case c.hasValue && jsonStringIs(raw, c.value):
		case !c.hasValue && string(bytes.TrimSpace(raw)) == "true":
			// A bare "iss" requires the atom true, which only JSON true
			// decodes to (apache/couchdb#2886).
		default:
			return jwtError(couch.CodeBadRequest, "Invalid iss claim")
		}
	}
	if c, ok := v.prop("iat"); ok {
		raw, present := claims["iat"]
		switch {
		case c.hasValue:
			return caseClause("iat")
		case !present:
			return jwtError(couch.CodeBadRequest, "Missing iat claim")
		case !jsonIsInteger(raw):
			return jwtError(couch.CodeBadRequest, "Invalid iat claim")
		}
	}
	if c, ok := v.prop("nbf"); ok {
		raw, present := claims["nbf"]
		switch {
		case c.hasValue:
			return caseClause("nbf")
		case !present:
			return jwtError(couch.CodeBadRequest, "Missing nbf claim")
		}
		// assert_past: Time < now; any non-number compares greater.
		if n, isNum := jsonNumber(raw); !isNum || !(n < nowSecs) {
			return jwtError(couch.CodeUnauthorized, "nbf not in past")
		}
	}
	if c, ok := v.prop("exp"); ok {
		raw, present := claims["exp"]
		switch {
		case c.hasValue:
			return caseClause("exp")
		case !present:
			return jwtError(couch.CodeBadRequest, "Missing exp claim")
		}
		// assert_future: Time > now. Non-numbers are refused (see the
		// package notes above).
		if n, isNum := jsonNumber(raw); !isNum || !(n > nowSecs) {
			return jwtError(couch.CodeUnauthorized, "exp not in future")
		}
	}
	return nil
}

// key is jwtf:key/3 with jwtf_keystore:get/2.
func (v *JWTVerifier) key(alg string, h jsonObject) (jwt.SigningMethod, any, error) {
	method, kty, _ := jwtAlgorithm(alg)
	kid := "_default"
	raw, present := h["kid"]
	if c, ok := v.prop("kid"); ok && !c.hasValue && !present {
		return nil, nil, jwtError(couch.CodeBadRequest, "Missing kid claim")
	}
	if present {
		var isString bool
		if kid, isString = jsonString(raw); !isString {
			return nil, nil, jwtError(couch.CodeBadRequest, "Unknown kid")
		}
	}
	k, ok := v.keys[kty+":"+kid]
	if !ok {
		return nil, nil, jwtError(couch.CodeBadRequest, "Unknown kid")
	}
	if k.err != nil {
		return nil, nil, k.err
	}
	return method, k.key, nil
}

// roles is get_roles_claim/1.
func (v *JWTVerifier) roles(claims jsonObject) ([]string, error) {
	var raw json.RawMessage
	obj := claims
	for i, key := range v.rolesPath {
		val, ok := obj[key]
		if !ok {
			if !v.rolesNested {
				// roles_claim_name: couch_util:get_value(Name, Claims, []).
				return []string{}, nil
			}
			return nil, jwtError(couch.CodeNotFound, "missing json key: "+key)
		}
		raw = val
		if i < len(v.rolesPath)-1 {
			next, err := decodeObject(val)
			if err != nil {
				return nil, jwtError(couch.CodeNotFound, "json_mismatch")
			}
			obj = next
		}
	}
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
		var list []json.RawMessage
		if json.Unmarshal(t, &list) != nil {
			return nil, jwtError(couch.CodeBadRequest, "Malformed token")
		}
		roles := make([]string, 0, len(list))
		for _, r := range list {
			s, ok := jsonString(r)
			if !ok {
				return nil, jwtError(couch.CodeBadRequest, "Malformed token")
			}
			roles = append(roles, s)
		}
		return roles, nil
	}
	s, ok := jsonString(raw)
	if !ok {
		return nil, jwtError(couch.CodeBadRequest, "Malformed token")
	}
	return splitRoles(s), nil
}

// caseClause reports the 500 CouchDB answers when a required claim is
// configured with a value where jwtf expects a bare name.
func caseClause(claim string) error {
	return fmt.Errorf("auth: jwt: required claim %s takes no value: %w", claim,
		couch.Errorf(codeCaseClause, "{<<\"%s\">>,...}", claim))
}

// jsonString returns raw as a string when it is a JSON string (null, which
// encoding/json would quietly accept, is not).
func jsonString(raw json.RawMessage) (string, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(t, &s) != nil {
		return "", false
	}
	return s, true
}

func jsonStringIs(raw json.RawMessage, want string) bool {
	s, ok := jsonString(raw)
	return ok && s == want
}

// jsonNumberLiteral returns raw when it is a JSON number (not a string
// holding one, which encoding/json would accept into a json.Number).
func jsonNumberLiteral(raw json.RawMessage) (json.Number, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || !(t[0] == '-' || (t[0] >= '0' && t[0] <= '9')) {
		return "", false
	}
	var n json.Number
	if json.Unmarshal(t, &n) != nil {
		return "", false
	}
	return n, true
}

// jsonNumber returns raw as a float64 when it is a JSON number.
func jsonNumber(raw json.RawMessage) (float64, bool) {
	n, ok := jsonNumberLiteral(raw)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	if math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// jsonIsInteger is is_integer/1 on jiffy's decoding: a number literal
// without fraction or exponent.
func jsonIsInteger(raw json.RawMessage) bool {
	n, ok := jsonNumberLiteral(raw)
	if !ok {
		return false
	}
	return !strings.ContainsAny(string(n), ".eE")
}
