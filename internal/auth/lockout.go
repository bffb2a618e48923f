package auth

import (
	"container/list"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/divandb/divan/internal/couch"
)

// Failed-authentication lockout, as CouchDB 3.4+'s couch_auth_lockout with
// its ets_lru table couch_lockout_lru, configured by [chttpd_auth_lockout]:
//
//   - mode: "off" (no tracking), "warn" (log once the threshold is
//     reached), "enforce" (the default: refuse). Any other value is off.
//   - threshold (default 5): a key is locked out once it has this many
//     recorded failures.
//   - max_objects (default 10000): the table keeps at most this many keys,
//     evicting the least recently accessed first.
//   - max_lifetime (default 300000 ms): a key is forgotten this long after
//     its first failure, whatever happened since (ets_lru's ctime-based
//     trim: update_counter does not renew the creation time).
//
// The key is {Peer, UserName, UserSalt}: the client address (mochiweb's
// get(peer), see PeerAddress), the name being authenticated and the salt of
// its stored credentials, so changing a password (new salt) lifts a lockout.
// Requests with no peer (CouchDB's {remote, ...} sockets) are not tracked.
//
// couch_httpd_auth:authenticate/5 (password checks for Basic auth and
// POST /_session) first asks is_locked_out/3: in enforce mode a locked key
// is refused with 403 forbidden "Account is temporarily locked due to
// multiple authentication failures" before the password is even checked (a
// correct password does not get through); in warn mode a warning is logged
// and the check goes on. Then every wrong password calls lockout/3, which
// adds one failure (in warn and enforce modes). A successful login does not
// reset the count.
//
// max_objects and max_lifetime are read by CouchDB only at start; mode and
// threshold are read on every request (Lockout.Reconfigure).

// LockoutReason is CouchDB's ?LOCKOUT_MSG.
const LockoutReason = "Account is temporarily locked due to multiple authentication failures"

// LockedOutError returns the 403 forbidden error CouchDB answers for a
// locked-out account.
func LockedOutError() error {
	return couch.Errorf(couch.CodeForbidden, LockoutReason)
}

// LockoutMode is [chttpd_auth_lockout] mode.
type LockoutMode int

// Lockout modes.
const (
	LockoutOff LockoutMode = iota
	LockoutWarn
	LockoutEnforce
)

// String returns the mode's configuration value.
func (m LockoutMode) String() string {
	switch m {
	case LockoutWarn:
		return "warn"
	case LockoutEnforce:
		return "enforce"
	}
	return "off"
}

// Lockout defaults ([chttpd_auth_lockout]).
const (
	DefaultLockoutThreshold   = 5
	DefaultLockoutMaxObjects  = 10000
	DefaultLockoutMaxLifetime = 300000 * time.Millisecond
)

// LockoutConfig is the [chttpd_auth_lockout] section.
type LockoutConfig struct {
	Mode        LockoutMode
	Threshold   int
	MaxObjects  int
	MaxLifetime time.Duration
}

// ParseLockoutConfig builds a LockoutConfig from the section's key/values.
// Absent or unparsable integers take the defaults (config:get_integer);
// the mode defaults to enforce and any unknown value means off, as in
// couch_auth_lockout:lockout_mode/0.
func ParseLockoutConfig(section map[string]string) LockoutConfig {
	c := LockoutConfig{
		Mode:        LockoutEnforce,
		Threshold:   DefaultLockoutThreshold,
		MaxObjects:  DefaultLockoutMaxObjects,
		MaxLifetime: DefaultLockoutMaxLifetime,
	}
	if v, ok := section["mode"]; ok {
		switch strings.TrimSpace(v) {
		case "off":
			c.Mode = LockoutOff
		case "warn":
			c.Mode = LockoutWarn
		case "enforce":
			c.Mode = LockoutEnforce
		default:
			c.Mode = LockoutOff
		}
	}
	if n, ok := configInt(section, "threshold"); ok {
		c.Threshold = n
	}
	if n, ok := configInt(section, "max_objects"); ok && n >= 0 {
		c.MaxObjects = n
	}
	if n, ok := configInt(section, "max_lifetime"); ok && n >= 0 {
		c.MaxLifetime = time.Duration(n) * time.Millisecond
	}
	return c
}

func configInt(section map[string]string, key string) (int, bool) {
	v, ok := section[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, false
	}
	return n, true
}

// LockoutKey identifies what couch_auth_lockout counts failures for.
type LockoutKey struct {
	Peer string // client address; "" means no peer: never tracked
	User string // the name being authenticated
	Salt string // the salt of the user's stored credentials ("" if none)
}

// LockoutVerdict is the answer of Lockout.Check.
type LockoutVerdict int

// Verdicts.
const (
	// LockoutAllowed: go on and check the password.
	LockoutAllowed LockoutVerdict = iota
	// LockoutWarned: the threshold is reached in warn mode; log a warning
	// ("authentication failure threshold reached for <user> from <peer>")
	// and go on.
	LockoutWarned
	// LockoutLocked: refuse with LockedOutError (enforce mode).
	LockoutLocked
)

type lockoutEntry struct {
	key      LockoutKey
	failures int
	created  time.Time
	byAccess *list.Element // in Lockout.access, most recent at the back
	byCreate *list.Element // in Lockout.created, oldest at the front
}

// Lockout is the failure table. It is safe for concurrent use. Times are
// passed in by the caller so tests can drive them.
type Lockout struct {
	mu      sync.Mutex
	cfg     LockoutConfig
	entries map[LockoutKey]*lockoutEntry
	access  *list.List // of *lockoutEntry, least recently accessed first
	created *list.List // of *lockoutEntry, oldest first
}

// NewLockout returns an empty table for cfg.
func NewLockout(cfg LockoutConfig) *Lockout {
	return &Lockout{
		cfg:     cfg,
		entries: make(map[LockoutKey]*lockoutEntry),
		access:  list.New(),
		created: list.New(),
	}
}

// Reconfigure applies a new mode and threshold. As in CouchDB, MaxObjects
// and MaxLifetime only take effect at start (a new Lockout), so they are
// ignored here. Switching to off stops tracking but keeps the table.
func (l *Lockout) Reconfigure(mode LockoutMode, threshold int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg.Mode = mode
	l.cfg.Threshold = threshold
}

// Config returns the current configuration.
func (l *Lockout) Config() LockoutConfig {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg
}

// Check is couch_auth_lockout:is_locked_out/3, called before a password is
// verified. Looking a key up counts as an access for LRU eviction.
func (l *Lockout) Check(key LockoutKey, now time.Time) LockoutVerdict {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cfg.Mode == LockoutOff || key.Peer == "" {
		return LockoutAllowed
	}
	l.expire(now)
	e, ok := l.entries[key]
	if !ok {
		return LockoutAllowed
	}
	l.access.MoveToBack(e.byAccess)
	if e.failures < l.cfg.Threshold {
		return LockoutAllowed
	}
	if l.cfg.Mode == LockoutEnforce {
		return LockoutLocked
	}
	return LockoutWarned
}

// Failed is couch_auth_lockout:lockout/3, called after a wrong password:
// one more failure for key (ets_lru:update_counter, which creates the entry
// at 1). It does nothing in off mode or without a peer.
func (l *Lockout) Failed(key LockoutKey, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cfg.Mode == LockoutOff || key.Peer == "" {
		return
	}
	l.expire(now)
	if e, ok := l.entries[key]; ok {
		e.failures++
		l.access.MoveToBack(e.byAccess)
		return
	}
	e := &lockoutEntry{key: key, failures: 1, created: now}
	e.byAccess = l.access.PushBack(e)
	e.byCreate = l.created.PushBack(e)
	l.entries[key] = e
	for len(l.entries) > l.cfg.MaxObjects && l.access.Len() > 0 {
		l.remove(l.access.Front().Value.(*lockoutEntry))
	}
}

// Failures returns the recorded failure count for key (0 when unknown or
// expired) without counting as an access.
func (l *Lockout) Failures(key LockoutKey, now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expire(now)
	if e, ok := l.entries[key]; ok {
		return e.failures
	}
	return 0
}

// Len returns the number of tracked keys.
func (l *Lockout) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// expire drops entries older than MaxLifetime (ets_lru trim_lifetime:
// removed once now - created > max_lifetime). Entries are created in
// non-decreasing time order only if callers pass non-decreasing times;
// the scan stops at the first entry still alive, which is exact for a
// monotonic clock.
func (l *Lockout) expire(now time.Time) {
	for f := l.created.Front(); f != nil; f = l.created.Front() {
		e := f.Value.(*lockoutEntry)
		if now.Sub(e.created) <= l.cfg.MaxLifetime {
			return
		}
		l.remove(e)
	}
}

func (l *Lockout) remove(e *lockoutEntry) {
	l.access.Remove(e.byAccess)
	l.created.Remove(e.byCreate)
	delete(l.entries, e.key)
}

// PeerAddress returns the client address CouchDB keys lockouts by:
// mochiweb_request:get(peer). The socket's IP address, except that when the
// socket peer is 127.0.0.1 or in 10/8, 172.16/12 or 192.168/16 and the
// request has an X-Forwarded-For header, the last comma-separated entry of
// that header (whitespace-stripped) is used instead. remoteAddr is
// http.Request.RemoteAddr ("ip:port"); an unparsable address yields "" (no
// peer, not tracked).
func PeerAddress(remoteAddr, xForwardedFor string) string {
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return ""
	}
	if v4 := ip.To4(); v4 != nil && forwardedTrusted(v4) && xForwardedFor != "" {
		if last := lastForwarded(xForwardedFor); last != "" {
			return last
		}
	}
	return formatPeer(ip)
}

// forwardedTrusted is mochiweb's list of socket peers whose
// X-Forwarded-For is believed.
func forwardedTrusted(ip net.IP) bool {
	switch {
	case ip[0] == 10:
		return true
	case ip[0] == 172 && ip[1] > 15 && ip[1] < 32:
		return true
	case ip[0] == 192 && ip[1] == 168:
		return true
	case ip.Equal(net.IPv4(127, 0, 0, 1)):
		return true
	}
	return false
}

// lastForwarded is string:strip(lists:last(string:tokens(Hosts, ","))).
func lastForwarded(v string) string {
	toks := strings.FieldsFunc(v, func(r rune) bool { return r == ',' })
	if len(toks) == 0 {
		return ""
	}
	return strings.Trim(toks[len(toks)-1], " ")
}

// formatPeer is inet_parse:ntoa: dotted quad for IPv4 (including
// IPv4-mapped addresses, which Erlang reports as IPv4 on a v4 socket) and
// the compressed lower-case form for IPv6.
func formatPeer(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return strings.ToLower(ip.String())
}

// String describes a key for logs without revealing the salt.
func (k LockoutKey) String() string {
	return fmt.Sprintf("%s from %s", k.User, k.Peer)
}
