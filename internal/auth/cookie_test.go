package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCookieRoundTrip(t *testing.T) {
	secret := []byte("0123456789abcdef")
	now := time.Unix(1_700_000_000, 0)
	c := MakeCookie(secret, "admin", "salty", now)
	if strings.ContainsAny(c, "=+/") {
		t.Fatalf("cookie %q is not unpadded base64url", c)
	}
	if u, err := ParseCookie(c); err != nil || u != "admin" {
		t.Fatalf("ParseCookie = %q, %v", u, err)
	}
	issued, err := VerifyCookie(c, secret, "salty", 10*time.Minute, now.Add(5*time.Minute))
	if err != nil || !issued.Equal(now) {
		t.Fatalf("VerifyCookie = %v, %v", issued, err)
	}
	for _, tc := range []struct {
		name   string
		cookie string
		secret []byte
		salt   string
		at     time.Time
		want   error
	}{
		{"expired", c, secret, "salty", now.Add(11 * time.Minute), ErrCookieExpired},
		{"other secret", c, []byte("x"), "salty", now, ErrBadCookie},
		{"password changed (other salt)", c, secret, "pepper", now, ErrBadCookie},
		{"garbage", "%%%", secret, "salty", now, ErrBadCookie},
		{"tampered user", MakeCookie(secret, "admin", "salty", now)[:4] + "Z" + c[5:], secret, "salty", now, ErrBadCookie},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := VerifyCookie(tc.cookie, tc.secret, tc.salt, 10*time.Minute, tc.at); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzVerifyCookie(f *testing.F) {
	f.Add(MakeCookie([]byte("s"), "u", "salt", time.Unix(1, 0)))
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		_, _ = ParseCookie(v)
		_, _ = VerifyCookie(v, []byte("s"), "salt", time.Hour, time.Unix(2, 0))
	})
}
