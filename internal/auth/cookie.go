package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// CouchDB's AuthSession cookie (couch_httpd_auth): the unpadded base64url
// of "<user>:<unix seconds in upper-case hex>:<raw HMAC-SHA256>", keyed by
// the server secret ([chttpd_auth] secret) followed by the user's password
// salt, so changing a password invalidates its sessions.

// ErrBadCookie reports an AuthSession value that does not verify.
var ErrBadCookie = errors.New("auth: invalid session cookie")

// ErrCookieExpired reports a session cookie past its timeout.
var ErrCookieExpired = errors.New("auth: session cookie expired")

// MakeCookie returns the AuthSession value for user at time now.
func MakeCookie(secret []byte, user, salt string, now time.Time) string {
	msg := user + ":" + strings.ToUpper(strconv.FormatInt(now.Unix(), 16))
	mac := hmac.New(sha256.New, append(append([]byte{}, secret...), salt...))
	mac.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(append([]byte(msg+":"), mac.Sum(nil)...))
}

// ParseCookie returns the user a cookie claims to be for, without
// verifying it (the caller then looks up that user's salt). It fails with
// ErrBadCookie when the value is not base64url of three ':'-separated
// parts, which CouchDB answers with a 400.
func ParseCookie(value string) (user string, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(value, "="))
	if err != nil {
		return "", ErrBadCookie
	}
	user, rest, ok := strings.Cut(string(raw), ":")
	if !ok || !strings.Contains(rest, ":") {
		return "", ErrBadCookie
	}
	return user, nil
}

// VerifyCookie checks a cookie against secret and the user's salt, in
// constant time, and returns when it was issued. It fails with
// ErrCookieExpired once timeout has passed.
func VerifyCookie(value string, secret []byte, salt string, timeout time.Duration, now time.Time) (issued time.Time, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return time.Time{}, ErrBadCookie
	}
	user, rest, ok := strings.Cut(string(raw), ":")
	if !ok {
		return time.Time{}, ErrBadCookie
	}
	hexTime, sig, ok := strings.Cut(rest, ":")
	if !ok || user == "" {
		return time.Time{}, ErrBadCookie
	}
	secs, err := strconv.ParseInt(hexTime, 16, 64)
	if err != nil || secs < 0 {
		return time.Time{}, ErrBadCookie
	}
	mac := hmac.New(sha256.New, append(append([]byte{}, secret...), salt...))
	mac.Write([]byte(user + ":" + hexTime))
	if !hmac.Equal(mac.Sum(nil), []byte(sig)) {
		return time.Time{}, ErrBadCookie
	}
	issued = time.Unix(secs, 0)
	if now.Sub(issued) > timeout {
		return issued, ErrCookieExpired
	}
	return issued, nil
}

// Salt returns the salt of name's stored hash, which session cookies are
// keyed with.
func (a *Admins) Salt(name string) (string, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	p, ok := a.hashes[name]
	return p.salt, ok
}
