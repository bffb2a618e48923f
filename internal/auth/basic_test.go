package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/divandb/divan/internal/couch"
)

func TestParseBasicHeader(t *testing.T) {
	enc := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name, header, user, pass string
		ok, bad                  bool
	}{
		{name: "valid", header: enc("admin:pw"), user: "admin", pass: "pw", ok: true},
		{name: "password with colons", header: enc("u:a:b:c"), user: "u", pass: "a:b:c", ok: true},
		{name: "empty password", header: enc("u:"), user: "u", ok: true},
		{name: "empty user", header: enc(":pw"), pass: "pw", ok: true},
		{name: "unicode", header: enc("jöhn:pässwörd"), user: "jöhn", pass: "pässwörd", ok: true},
		{name: "whitespace inside base64", header: "Basic YWRt aW46\r\ncHc=", user: "admin", pass: "pw", ok: true},
		{name: "no colon", header: enc("admin")},
		{name: "logout pair", header: enc("_:_")},
		{name: "empty", header: ""},
		{name: "lower-case scheme", header: "basic " + base64.StdEncoding.EncodeToString([]byte("a:b"))},
		{name: "bearer", header: "Bearer x.y.z"},
		{name: "scheme only", header: "Basic"},
		{name: "empty credentials", header: "Basic "},
		{name: "bad base64", header: "Basic !!!", bad: true},
		{name: "missing padding", header: "Basic YWRtaW46cHc", bad: true},
		{name: "oversized", header: "Basic " + strings.Repeat("A", MaxBasicHeaderLen+4), bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user, pass, ok, err := ParseBasicHeader(tc.header)
			if tc.bad {
				var ce *couch.Error
				if !errors.As(err, &ce) || ce.Code != couch.CodeBadRequest || ce.Reason != ReasonInvalidBasic {
					t.Fatalf("err = %v", err)
				}
			} else if err != nil {
				t.Fatalf("err = %v", err)
			}
			if ok != tc.ok || user != tc.user || pass != tc.pass {
				t.Fatalf("= %q %q %v, want %q %q %v", user, pass, ok, tc.user, tc.pass, tc.ok)
			}
			u2, p2, ok2 := ParseBasic(tc.header)
			if ok2 != tc.ok || u2 != tc.user || p2 != tc.pass {
				t.Fatalf("ParseBasic = %q %q %v", u2, p2, ok2)
			}
		})
	}
}

func FuzzParseBasic(f *testing.F) {
	f.Add("Basic YWRtaW46cHc=")
	f.Add("Basic !!!")
	f.Add("Basic Xzpf")
	f.Add("Basic ")
	f.Add("Bearer x")
	f.Add("")
	f.Fuzz(func(t *testing.T, header string) {
		user, pass, ok, err := ParseBasicHeader(header)
		if err != nil && ok {
			t.Fatal("ok with an error")
		}
		if !strings.HasPrefix(header, "Basic ") && (ok || err != nil) {
			t.Fatalf("non-Basic header %q gave %v %v", header, ok, err)
		}
		if ok {
			if strings.Contains(user, ":") || (user == "_" && pass == "_") {
				t.Fatalf("bad split %q %q", user, pass)
			}
			// Re-encoding the credentials parses back to the same pair.
			re := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
			if len(re) <= len("Basic ")+MaxBasicHeaderLen {
				u2, p2, ok2, err2 := ParseBasicHeader(re)
				if !ok2 || err2 != nil || u2 != user || p2 != pass {
					t.Fatalf("round trip %q %q -> %q %q %v %v", user, pass, u2, p2, ok2, err2)
				}
			}
		}
	})
}
