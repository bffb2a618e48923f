// Package auth holds server-admin credentials as CouchDB stores them: PBKDF2
// hashes in the `[admins]` format "-pbkdf2:sha256-<key hex>,<salt hex>,<iterations>"
// (CouchDB 3.5; the legacy sha1 form "-pbkdf2-<key>,<salt>,<iterations>" is
// also verified). Checks run in constant time; a successful check is cached
// under a salted digest so request-rate Basic auth does not pay 600,000 PBKDF2
// iterations every time.
package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
)

// DefaultIterations is CouchDB 3.5's [chttpd_auth] iterations.
const DefaultIterations = 600000

// ErrBadHash reports a stored value that is not a recognised password hash.
var ErrBadHash = errors.New("auth: unrecognised password hash")

// HashPassword returns the CouchDB 3.5 `[admins]` form of password.
func HashPassword(password string, iterations int) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	saltHex := hex.EncodeToString(salt)
	key, err := pbkdf2.Key(sha256.New, password, []byte(saltHex), iterations, sha256.Size)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("-pbkdf2:sha256-%s,%s,%d", hex.EncodeToString(key), saltHex, iterations), nil
}

// IsHashed reports whether v is a stored hash rather than a plain password.
func IsHashed(v string) bool { return strings.HasPrefix(v, "-pbkdf2") }

type parsedHash struct {
	prf   func() hash.Hash
	key   []byte
	salt  string
	iters int
}

func parseHash(v string) (parsedHash, error) {
	var p parsedHash
	var rest string
	switch {
	case strings.HasPrefix(v, "-pbkdf2:sha256-"):
		p.prf, rest = sha256.New, strings.TrimPrefix(v, "-pbkdf2:sha256-")
	case strings.HasPrefix(v, "-pbkdf2-"):
		p.prf, rest = sha1.New, strings.TrimPrefix(v, "-pbkdf2-")
	default:
		return p, ErrBadHash
	}
	parts := strings.Split(rest, ",")
	if len(parts) != 3 {
		return p, ErrBadHash
	}
	key, err := hex.DecodeString(parts[0])
	if err != nil {
		return p, ErrBadHash
	}
	iters, err := strconv.Atoi(parts[2])
	if err != nil || iters < 1 {
		return p, ErrBadHash
	}
	p.key, p.salt, p.iters = key, parts[1], iters
	return p, nil
}

// Admins is the set of server admins. It is safe for concurrent use.
type Admins struct {
	mu     sync.RWMutex
	hashes map[string]parsedHash
	// cache maps user to HMAC(cacheKey, password) of the last password that
	// verified, so a repeat check costs one HMAC.
	cache    map[string][]byte
	cacheKey []byte
}

// NewAdmins parses name → stored hash pairs.
func NewAdmins(stored map[string]string) (*Admins, error) {
	a := &Admins{hashes: map[string]parsedHash{}, cache: map[string][]byte{}, cacheKey: make([]byte, 32)}
	if _, err := rand.Read(a.cacheKey); err != nil {
		return nil, err
	}
	for name, v := range stored {
		p, err := parseHash(v)
		if err != nil {
			return nil, fmt.Errorf("admin %q: %w", name, err)
		}
		a.hashes[name] = p
	}
	return a, nil
}

// Len returns the number of admins.
func (a *Admins) Len() int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return len(a.hashes)
}

// Verify reports whether name is an admin with this password.
func (a *Admins) Verify(name, password string) bool {
	mac := hmac.New(sha256.New, a.cacheKey)
	mac.Write([]byte(name))
	mac.Write([]byte{0})
	mac.Write([]byte(password))
	digest := mac.Sum(nil)

	a.mu.RLock()
	p, ok := a.hashes[name]
	cached := a.cache[name]
	a.mu.RUnlock()
	if !ok {
		return false
	}
	if cached != nil && subtle.ConstantTimeCompare(cached, digest) == 1 {
		return true
	}
	key, err := pbkdf2.Key(p.prf, password, []byte(p.salt), p.iters, len(p.key))
	if err != nil || subtle.ConstantTimeCompare(key, p.key) != 1 {
		return false
	}
	a.mu.Lock()
	a.cache[name] = digest
	a.mu.Unlock()
	return true
}
