package auth

import (
	"crypto/pbkdf2"
	"crypto/sha1"
	"encoding/hex"
	"testing"
)

func TestUserPasswords(t *testing.T) {
	h, err := HashUserPassword("mp3", 10)
	if err != nil {
		t.Fatal(err)
	}
	if h.Scheme != "pbkdf2" || h.PRF != "sha256" || len(h.Salt) != 32 || len(h.DerivedKey) != 64 || h.Iterations != 10 {
		t.Fatalf("hash: %+v", h)
	}
	if !VerifyUserPassword("mp3", h) || VerifyUserPassword("mp4", h) {
		t.Fatal("sha256 verification")
	}
	// A document from before pbkdf2_prf: sha1, 20-byte key.
	key, _ := pbkdf2.Key(sha1.New, "apple", []byte("abcd"), 3, 20)
	legacy := UserHash{Scheme: "pbkdf2", Salt: "abcd", Iterations: 3, DerivedKey: hex.EncodeToString(key)}
	if !VerifyUserPassword("apple", legacy) || VerifyUserPassword("pear", legacy) {
		t.Fatal("sha1 verification")
	}
	// The deprecated "simple" scheme: sha1(password ++ salt).
	sum := sha1.Sum([]byte("test" + "s4lt"))
	simple := UserHash{Scheme: "simple", Salt: "s4lt", DerivedKey: hex.EncodeToString(sum[:])}
	if !VerifyUserPassword("test", simple) || VerifyUserPassword("tesT", simple) {
		t.Fatal("simple verification")
	}
	for _, bad := range []UserHash{{Scheme: "pbkdf2", PRF: "md5", Salt: "x", Iterations: 1, DerivedKey: "00"}, {Scheme: "bcrypt", DerivedKey: "00"}, {Scheme: "pbkdf2", DerivedKey: "zz"}} {
		if VerifyUserPassword("", bad) {
			t.Errorf("%+v verified", bad)
		}
	}
}
