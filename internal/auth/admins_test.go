package auth

import "testing"

func TestHashAndVerify(t *testing.T) {
	h, err := HashPassword("s3cret", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !IsHashed(h) {
		t.Fatalf("IsHashed(%q) = false", h)
	}
	a, err := NewAdmins(map[string]string{"admin": h})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, user, pass string
		want             bool
	}{
		{"right", "admin", "s3cret", true},
		{"right again (cached)", "admin", "s3cret", true},
		{"wrong password", "admin", "s3cret!", false},
		{"unknown user", "bob", "s3cret", false},
		{"empty", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := a.Verify(tc.user, tc.pass); got != tc.want {
				t.Fatalf("Verify(%q, %q) = %v, want %v", tc.user, tc.pass, got, tc.want)
			}
		})
	}
}

func TestLegacySHA1Hash(t *testing.T) {
	// The legacy CouchDB form: PBKDF2-HMAC-SHA1 of "pass" with salt "salt",
	// 10 iterations, 20-byte key (RFC 6070 style vector computed with
	// Python's hashlib.pbkdf2_hmac).
	a, err := NewAdmins(map[string]string{"old": "-pbkdf2-60c70c05f9aad813d52aadb3680880cd477bbb31,salt,10"})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Verify("old", "pass") {
		t.Fatal("legacy sha1 hash did not verify")
	}
	if a.Verify("old", "pass2") {
		t.Fatal("legacy sha1 hash verified a wrong password")
	}
}

func TestBadHashes(t *testing.T) {
	for _, v := range []string{"plain", "-pbkdf2:sha256-zz,salt,10", "-pbkdf2-aa,salt", "-pbkdf2-aa,salt,0"} {
		if _, err := NewAdmins(map[string]string{"x": v}); err == nil {
			t.Errorf("NewAdmins accepted %q", v)
		}
	}
}
