package auth

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// Password fields of a `_users` document, as couch_users_db:save_doc
// writes them and couch_httpd_auth:authenticate reads them.
const (
	SchemePBKDF2 = "pbkdf2"
	SchemeSimple = "simple"
	// PRFSHA256 is CouchDB 3.5's [chttpd_auth] pbkdf2_prf.
	PRFSHA256 = "sha256"
	// PRFSHA1 is the prf a document without pbkdf2_prf was hashed with.
	PRFSHA1 = "sha"
)

// UserHash is the stored form of a `_users` password.
type UserHash struct {
	Scheme     string // "pbkdf2" or the legacy "simple"
	PRF        string // pbkdf2_prf: "sha256" or "sha" (default when absent)
	Salt       string // 32 hex digits (couch_uuids:random), used as bytes
	Iterations int
	DerivedKey string // lowercase hex; password_sha for "simple"
}

// HashUserPassword hashes a `_users` password the CouchDB 3.5 way: PBKDF2
// with HMAC-SHA256 over a fresh random salt (couch_uuids:random, 32 hex
// digits used as bytes), the key as long as the digest.
func HashUserPassword(password string, iterations int) (UserHash, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return UserHash{}, fmt.Errorf("auth: salt: %w", err)
	}
	return HashUserPasswordWithSalt(password, hex.EncodeToString(salt), iterations)
}

// HashUserPasswordWithSalt is HashUserPassword with a given salt (a user
// document's preserve_salt).
func HashUserPasswordWithSalt(password, salt string, iterations int) (UserHash, error) {
	h := UserHash{Scheme: SchemePBKDF2, PRF: PRFSHA256, Salt: salt, Iterations: iterations}
	key, err := pbkdf2.Key(sha256.New, password, []byte(h.Salt), iterations, sha256.Size)
	if err != nil {
		return UserHash{}, fmt.Errorf("auth: pbkdf2: %w", err)
	}
	h.DerivedKey = hex.EncodeToString(key)
	return h, nil
}

// VerifyUserPassword is couch_httpd_auth:authenticate/2: it reports whether
// password matches h, in constant time. Unknown schemes or prfs never match.
func VerifyUserPassword(password string, h UserHash) bool {
	want, err := hex.DecodeString(strings.ToLower(h.DerivedKey))
	if err != nil || len(want) == 0 {
		return false
	}
	var got []byte
	switch h.Scheme {
	case SchemePBKDF2:
		var prf func() hash.Hash
		switch h.PRF {
		case PRFSHA256:
			prf = sha256.New
		case PRFSHA1, "":
			prf = sha1.New
		default:
			return false
		}
		if h.Iterations < 1 {
			return false
		}
		got, err = pbkdf2.Key(prf, password, []byte(h.Salt), h.Iterations, len(want))
		if err != nil {
			return false
		}
	case SchemeSimple, "":
		// couch_passwords:simple: sha1(password ++ salt).
		sum := sha1.Sum([]byte(password + h.Salt))
		got = sum[:]
	default:
		return false
	}
	return subtle.ConstantTimeCompare(got, want) == 1
}
