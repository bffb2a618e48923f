package node

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/divandb/divan/httpapi"
	"github.com/divandb/divan/internal/auth"
	"github.com/divandb/divan/internal/config"
)

// storeFromConfig builds an in-memory configuration store (defaults plus
// cfg's explicit fields as overrides) for a node started without one.
func storeFromConfig(ctx context.Context, cfg Config) (*config.Store, error) {
	var o []config.Setting
	add := func(section, key, v string) {
		if v != "" && v != "0" {
			o = append(o, config.Setting{Section: section, Key: key, Value: v})
		}
	}
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }
	add("couchdb", "database_dir", cfg.DataDir)
	add("chttpd", "bind_address", cfg.BindAddress)
	add("chttpd", "port", itoa(int64(cfg.Port)))
	add("cluster", "q", itoa(int64(cfg.Q)))
	add("cluster", "n", itoa(int64(cfg.N)))
	add("couchdb", "max_document_size", itoa(cfg.MaxDocumentSize))
	add("chttpd", "max_http_request_size", itoa(cfg.MaxRequestSize))
	add("chttpd", "max_db_number_for_dbs_info_req", itoa(int64(cfg.MaxDBsInfo)))
	add("uuids", "algorithm", cfg.UUIDAlgorithm)
	add("uuids", "max_count", itoa(int64(cfg.UUIDMaxCount)))
	add("uuids", "utc_id_suffix", cfg.UTCIDSuffix)
	for name, hash := range cfg.Admins {
		add("admins", name, hash)
	}
	return config.Open(ctx, config.Options{Overrides: o, Logger: cfg.Logger})
}

// httpConfig returns base with every setting the store governs filled in
// from st: the part of httpapi.Config that can change at runtime.
func httpConfig(st *config.Store, base httpapi.Config) httpapi.Config {
	c := base
	c.MaxDocumentSize = st.Int("couchdb", "max_document_size", c.MaxDocumentSize)
	c.MaxRequestSize = st.Int("chttpd", "max_http_request_size", c.MaxRequestSize)
	c.MaxDBsInfo = int(st.Int("chttpd", "max_db_number_for_dbs_info_req", int64(c.MaxDBsInfo)))
	c.MaxURILength = int(st.Int("chttpd", "max_uri_length", int64(c.MaxURILength)))
	c.AdminOnlyAllDBs = st.Bool("chttpd", "admin_only_all_dbs", c.AdminOnlyAllDBs)
	c.UUIDAlgorithm = st.String("uuids", "algorithm", c.UUIDAlgorithm)
	c.UUIDMaxCount = int(st.Int("uuids", "max_count", int64(c.UUIDMaxCount)))
	c.UTCIDSuffix = st.String("uuids", "utc_id_suffix", "")
	c.PurgeMaxDocIDs = int(st.Int("purge", "max_document_id_number", int64(c.PurgeMaxDocIDs)))
	c.PurgeMaxRevs = int(st.Int("purge", "max_revisions_number", int64(c.PurgeMaxRevs)))
	if t := st.Int("chttpd_auth", "timeout", 600); t > 0 {
		c.SessionTimeout = time.Duration(t) * time.Second
	}
	c.DefaultSecurity = st.String("couchdb", "default_security", c.DefaultSecurity)
	c.UsersDBSecurityEditable = st.Bool("couchdb", "users_db_security_editable", c.UsersDBSecurityEditable)
	c.PasswordIterations = int(st.Int("chttpd_auth", "iterations", int64(c.PasswordIterations)))
	c.MaxInflightBodyBytes = st.Int("divan", "max_inflight_body_bytes", c.MaxInflightBodyBytes)
	c.RequireValidUser = st.Bool("chttpd", "require_valid_user", false)
	c.RequireValidUserExceptUp = st.Bool("chttpd", "require_valid_user_except_for_up", false)
	c.WWWAuthenticate = st.String("chttpd", "WWW-Authenticate", st.String("httpd", "WWW-Authenticate", ""))
	c.BasicAuthPopup = st.Bool("chttpd_auth", "require_valid_user", false)
	c.AuthHandlers = authHandlers(st.String("chttpd", "authentication_handlers", ""))
	c.JWT = auth.NewJWTVerifier(auth.ParseJWTConfig(st.Section("jwt_auth"), st.Section("jwt_keys")))
	c.Proxy = auth.NewProxyAuth(auth.ParseProxyConfig(st.Section("chttpd_auth")))
	if secret := st.String("chttpd_auth", "secret", ""); secret != "" {
		// A configured secret (the same on every node, as
		// /_cluster_setup makes it) lets a cookie from one node
		// authenticate on any other.
		c.SessionSecret = []byte(secret)
	}
	if c.Lockout != nil {
		lc := auth.ParseLockoutConfig(st.Section("chttpd_auth_lockout"))
		c.Lockout.Reconfigure(lc.Mode, lc.Threshold)
	}
	c.CORS = corsConfig(st)
	c.ConfigStore = st
	return c
}

// handlerName matches the function names of CouchDB's handlers.
var handlerName = regexp.MustCompile(`\b(\w+)_authentication_handler\b`)

// authHandlers reads [chttpd] authentication_handlers, written as CouchDB
// writes it ("{chttpd_auth, cookie_authentication_handler}, {chttpd_auth,
// default_authentication_handler}") or as plain names ("jwt, cookie,
// default"). Empty or unknown gives CouchDB's default chain.
func authHandlers(v string) []string {
	var names []string
	if m := handlerName.FindAllStringSubmatch(v, -1); m != nil {
		for _, g := range m {
			names = append(names, g[1])
		}
	} else {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				names = append(names, f)
			}
		}
	}
	var out []string
	for _, n := range names {
		switch n {
		case httpapi.AuthJWT, httpapi.AuthProxy, httpapi.AuthCookie, httpapi.AuthDefault:
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return httpapi.DefaultAuthHandlers
	}
	return out
}

// corsConfig reads [chttpd] enable_cors and [cors] (chttpd_cors:get_cors_config).
func corsConfig(st *config.Store) httpapi.CORSConfig {
	c := httpapi.CORSConfig{
		Enabled:     st.Bool("chttpd", "enable_cors", false),
		Credentials: st.String("cors", "credentials", "false") == "true",
		Origins:     httpapi.SplitCORSList(st.String("cors", "origins", "")),
		MaxAge:      st.String("cors", "max_age", ""),
	}
	if v, ok := st.Get("cors", "methods"); ok {
		c.Methods = httpapi.SplitCORSList(v)
	}
	lower := func(v string) []string {
		l := httpapi.SplitCORSList(v)
		for i := range l {
			l[i] = strings.ToLower(l[i])
		}
		return l
	}
	if v, ok := st.Get("cors", "headers"); ok {
		c.Headers = lower(v)
	}
	if v, ok := st.Get("cors", "exposed_headers"); ok {
		c.ExposedHeaders = lower(v)
	}
	return c
}

// loadAdmins parses the [admins] section.
func loadAdmins(st *config.Store) (*auth.Admins, error) {
	admins, err := auth.NewAdmins(st.Section("admins"))
	if err != nil {
		return nil, fmt.Errorf("[admins]: %w", err)
	}
	return admins, nil
}

// ParseLogLevel maps CouchDB's [log] level names to slog levels; ok is
// false for a name it does not know.
func ParseLogLevel(s string) (slog.Level, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, true
	case "info", "notice":
		return slog.LevelInfo, true
	case "warn", "warning":
		return slog.LevelWarn, true
	case "error", "err", "critical", "alert", "emergency", "none":
		return slog.LevelError, true
	}
	return slog.LevelInfo, false
}

// applyConfig is the store subscriber that puts runtime changes in force,
// where CouchDB applies them without a restart: [admins] (new logins work at
// once), the HTTP settings and CORS (httpapi.Reconfigure on both APIs) and
// [log] level.
func (n *Node) applyConfig(ch config.Change) {
	switch ch.Section {
	case "admins":
		admins, err := loadAdmins(n.settings)
		if err != nil {
			n.log.Error("config change not applied", "section", ch.Section, "key", ch.Key, "err", err)
			return
		}
		n.adminsP.Store(admins)
	case "log":
		if ch.Key == "level" && n.cfg.LogLevel != nil {
			if l, ok := ParseLogLevel(n.settings.String("log", "level", "info")); ok {
				n.cfg.LogLevel.Set(l)
			}
		}
	}
	for _, ab := range n.apis {
		if err := ab.api.Reconfigure(httpConfig(n.settings, ab.base)); err != nil {
			n.log.Error("config change not applied", "section", ch.Section, "key", ch.Key, "err", err)
			return
		}
	}
}

// apiBase is an HTTP API with the part of its configuration the store does
// not govern.
type apiBase struct {
	api  *httpapi.API
	base httpapi.Config
}
