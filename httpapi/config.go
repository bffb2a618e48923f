package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/divandb/divan/internal/auth"
	"github.com/divandb/divan/internal/config"
)

// Config configures the HTTP API. Use DefaultConfig and override fields; New
// fills zero numeric and string fields with the defaults (booleans cannot be
// told apart from "unset", so start from DefaultConfig to keep them).
type Config struct {
	NodeName   string // e.g. "divan@127.0.0.1"
	ServerUUID string // 32 hex, stable per node/cluster; GET / "uuid"
	// Version is the CouchDB version Divan answers as ("3.5.2").
	Version string
	// DivanVersion is Divan's own version, reported under "vendor".
	DivanVersion string
	// GitSHA is reported as "git_sha" in GET /; defaults to the build's VCS
	// revision when known.
	GitSHA string
	// Features is the "features" list of GET /.
	Features []string

	MaxDocumentSize int64  // [couchdb] max_document_size
	MaxRequestSize  int64  // [chttpd] max_http_request_size
	MaxDBsInfo      int    // [chttpd] max_db_number_for_dbs_info_req
	MaxURILength    int    // [chttpd] max_uri_length; 414 beyond it
	UUIDAlgorithm   string // [uuids] algorithm
	UUIDMaxCount    int    // [uuids] max_count
	UTCIDSuffix     string // [uuids] utc_id_suffix
	// AdminOnlyAllDBs is [chttpd] admin_only_all_dbs: _all_dbs and _dbs_info
	// need a server admin.
	AdminOnlyAllDBs bool
	// PurgeMaxDocIDs and PurgeMaxRevs are [purge] max_document_id_number and
	// max_revisions_number.
	PurgeMaxDocIDs int
	PurgeMaxRevs   int
	// MaxInflightBodyBytes bounds the request bodies of 64 KiB or more
	// held in memory at once; further requests wait before reading
	// theirs. It is fixed at New. Zero means
	// DefaultMaxInflightBodyBytes; negative, no bound.
	MaxInflightBodyBytes int64

	// Authenticate checks HTTP Basic credentials: ok is false for wrong
	// ones; isAdmin for server admins. Nil rejects every credential.
	Authenticate func(user, password string) (ok, isAdmin bool)
	// SessionSecret keys AuthSession cookies ([chttpd_auth] secret); nil
	// disables cookie authentication (POST /_session answers 501).
	SessionSecret []byte
	// UserSalt returns the password salt of a user who may hold a session
	// cookie, and whether that user is a server admin.
	UserSalt func(user string) (salt string, isAdmin, ok bool)
	// RequireValidUser is [chttpd] require_valid_user: anonymous requests
	// get 401 "Authentication required.", except GET /_up when
	// RequireValidUserExceptUp ([chttpd] require_valid_user_except_for_up).
	RequireValidUser         bool
	RequireValidUserExceptUp bool
	// WWWAuthenticate is [chttpd] WWW-Authenticate, sent with every 401.
	WWWAuthenticate string
	// BasicAuthPopup is [chttpd_auth] require_valid_user: 401s carry
	// WWW-Authenticate: Basic realm="server" (browsers show a login box).
	BasicAuthPopup bool
	// AuthHandlers is [chttpd] authentication_handlers by name (AuthJWT,
	// AuthProxy, AuthCookie, AuthDefault), in order; nil means
	// DefaultAuthHandlers.
	AuthHandlers []string
	// JWT verifies bearer tokens for AuthJWT ([jwt_auth], [jwt_keys]).
	JWT *auth.JWTVerifier
	// Proxy checks the headers of a trusted proxy for AuthProxy.
	Proxy *auth.ProxyAuth
	// Lockout is [chttpd_auth_lockout]; nil never locks. It holds the
	// failure counts, so keep the same one across Reconfigure.
	Lockout *auth.Lockout
	// SessionTimeout is [chttpd_auth] timeout (600 s).
	SessionTimeout time.Duration
	// DefaultSecurity is [couchdb] default_security: DefaultSecurityAdminOnly
	// (CouchDB 3's default; "" means the same) or DefaultSecurityEveryone
	// (new databases get an empty, public _security object).
	DefaultSecurity string
	// UsersDBSecurityEditable is [couchdb] users_db_security_editable:
	// whether PUT /_users/_security is allowed.
	UsersDBSecurityEditable bool
	// PasswordIterations is [chttpd_auth] iterations, the PBKDF2 rounds
	// used when a _users document's password is hashed (600000).
	PasswordIterations int
	// Logger receives one Info line per request; nil discards.
	Logger *slog.Logger

	// CORS is [chttpd] enable_cors and the [cors] section.
	CORS CORSConfig
	// ConfigStore serves /_node/{this node}/_config; nil answers 501.
	ConfigStore *config.Store

	// Cluster serves /_membership, /_node/{other node}, /{db}/_shards,
	// /{db}/_sync_shards and /_cluster_setup's add_node. Nil answers as a
	// single node (membership = NodeName).
	Cluster ClusterView
	// NodeLocal serves /_node/{this node}/<path> as /<path>: the
	// node-local API over this node's unsharded dbs (_dbs, _nodes) and
	// shard copies. Nil makes those paths 404.
	NodeLocal http.Handler
}

// The UUID algorithms of CouchDB's [uuids] algorithm.
const (
	UUIDSequential = "sequential"
	UUIDRandom     = "random"
	UUIDUTCRandom  = "utc_random"
	UUIDUTCID      = "utc_id"
	UUIDv7         = "uuid_v7"
)

// DefaultConfig returns CouchDB 3.5's defaults.
func DefaultConfig() Config {
	return Config{
		NodeName:        "divan@127.0.0.1",
		Version:         "3.5.2",
		DivanVersion:    "dev",
		GitSHA:          buildRevision(),
		Features:        []string{},
		MaxDocumentSize: 8000000,
		MaxRequestSize:  4294967296,
		MaxDBsInfo:      100,
		MaxURILength:    8000,
		UUIDAlgorithm:   UUIDSequential,
		UUIDMaxCount:    1000,
		AdminOnlyAllDBs: true,
		PurgeMaxDocIDs:  100,
		PurgeMaxRevs:    1000,
	}
}

// withDefaults returns c with zero fields set from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.AuthHandlers == nil {
		c.AuthHandlers = DefaultAuthHandlers
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 600 * time.Second
	}
	if c.PasswordIterations <= 0 {
		c.PasswordIterations = 600000
	}
	if c.NodeName == "" {
		c.NodeName = d.NodeName
	}
	if c.Version == "" {
		c.Version = d.Version
	}
	if c.DivanVersion == "" {
		c.DivanVersion = d.DivanVersion
	}
	if c.GitSHA == "" {
		c.GitSHA = d.GitSHA
	}
	if c.Features == nil {
		c.Features = d.Features
	}
	if c.MaxDocumentSize == 0 {
		c.MaxDocumentSize = d.MaxDocumentSize
	}
	if c.MaxRequestSize == 0 {
		c.MaxRequestSize = d.MaxRequestSize
	}
	if c.MaxDBsInfo == 0 {
		c.MaxDBsInfo = d.MaxDBsInfo
	}
	if c.MaxURILength == 0 {
		c.MaxURILength = d.MaxURILength
	}
	if c.UUIDAlgorithm == "" {
		c.UUIDAlgorithm = d.UUIDAlgorithm
	}
	if c.UUIDMaxCount == 0 {
		c.UUIDMaxCount = d.UUIDMaxCount
	}
	if c.PurgeMaxDocIDs == 0 {
		c.PurgeMaxDocIDs = d.PurgeMaxDocIDs
	}
	if c.PurgeMaxRevs == 0 {
		c.PurgeMaxRevs = d.PurgeMaxRevs
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	var errs []error
	switch c.DefaultSecurity {
	case "", DefaultSecurityAdminOnly, DefaultSecurityEveryone:
	default:
		errs = append(errs, fmt.Errorf("httpapi: unknown default_security %q", c.DefaultSecurity))
	}
	switch c.UUIDAlgorithm {
	case UUIDSequential, UUIDRandom, UUIDUTCRandom, UUIDUTCID, UUIDv7:
	default:
		errs = append(errs, fmt.Errorf("httpapi: unknown uuid algorithm %q", c.UUIDAlgorithm))
	}
	if c.ServerUUID != "" && !isLowerHex(c.ServerUUID, 32) {
		errs = append(errs, fmt.Errorf("httpapi: server uuid %q is not 32 lowercase hex digits", c.ServerUUID))
	}
	if c.MaxDocumentSize < 0 {
		errs = append(errs, errors.New("httpapi: max document size must be positive"))
	}
	if c.MaxRequestSize < 0 {
		errs = append(errs, errors.New("httpapi: max request size must be positive"))
	}
	if c.MaxDBsInfo < 0 {
		errs = append(errs, errors.New("httpapi: max_db_number_for_dbs_info_req must be positive"))
	}
	if c.UUIDMaxCount < 0 {
		errs = append(errs, errors.New("httpapi: uuids max_count must be positive"))
	}
	return errors.Join(errs...)
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// buildRevision returns the short VCS revision the binary was built from,
// or "unknown".
func buildRevision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 9 {
				return s.Value[:9]
			}
		}
	}
	return "unknown"
}
