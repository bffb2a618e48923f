package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/divandb/divan/internal/auth"
	"github.com/divandb/divan/internal/config"
	"github.com/divandb/divan/internal/node"
)

// settings are the command line's view of the configuration: each has an
// ini key, an environment variable and a flag, applied in that order (later
// wins) over the defaults.
type settings struct {
	configFile    string
	dataDir       string
	bindAddress   string
	port          int
	nodeName      string
	adminUser     string
	adminPassword string
	logLevel      string
	gossipPort    int
	rpcPort       int
	seeds         string
	zone          string
	advertise     string
}

// setting describes one configurable value.
type setting struct {
	section, key, env, flag, usage string
	str                            *string
	num                            *int
}

func (s *settings) table() []setting {
	return []setting{
		{"couchdb", "database_dir", "DIVAN_DATA_DIR", "data-dir", "data directory", &s.dataDir, nil},
		{"chttpd", "bind_address", "DIVAN_BIND_ADDRESS", "bind-address", "HTTP bind address", &s.bindAddress, nil},
		{"chttpd", "port", "DIVAN_PORT", "port", "HTTP port (0: any free port)", nil, &s.port},
		{"divan", "node_name", "DIVAN_NODE_NAME", "node-name", "node name, name@host", &s.nodeName, nil},
		{"", "", "DIVAN_ADMIN_USER", "admin-user", "server admin name", &s.adminUser, nil},
		{"", "", "DIVAN_ADMIN_PASSWORD", "admin-password", "server admin password", &s.adminPassword, nil},
		{"log", "level", "DIVAN_LOG_LEVEL", "log-level", "debug, info, warn or error", &s.logLevel, nil},
		{"divan", "gossip_port", "DIVAN_GOSSIP_PORT", "gossip-port", "membership (gossip) port; default HTTP port + 2000", nil, &s.gossipPort},
		{"divan", "rpc_port", "DIVAN_RPC_PORT", "rpc-port", "internal gRPC port; default HTTP port + 3000", nil, &s.rpcPort},
		{"cluster", "seedlist", "DIVAN_SEEDS", "seeds", "comma-separated gossip addresses (host:port) to join", &s.seeds, nil},
		{"cluster", "zone", "DIVAN_ZONE", "zone", "placement zone of this node", &s.zone, nil},
		{"divan", "advertise_address", "DIVAN_ADVERTISE_ADDRESS", "advertise-address", "address other nodes reach this one at", &s.advertise, nil},
	}
}

// configFiles is the -config flag: repeatable, later files override
// earlier ones.
type configFiles []string

func (c *configFiles) String() string { return strings.Join(*c, ",") }

func (c *configFiles) Set(v string) error {
	*c = append(*c, v)
	return nil
}

// loadConfig resolves the configuration store (built-in defaults < -config
// files < <datadir>/local.ini < environment < flags) and the node.Config
// derived from it. It also settles the admin accounts: plain-text passwords
// in [admins] are hashed and written back, as CouchDB does, and a node with
// no admin at all gets one generated, stored in local.ini and printed once.
func loadConfig(args []string, stdout io.Writer) (node.Config, *slog.Logger, error) {
	ctx := context.Background()
	var s settings
	var files configFiles
	fs := flag.NewFlagSet("divan", flag.ContinueOnError)
	fs.Var(&files, "config", "ini configuration file; repeat for several, later ones win (env DIVAN_CONFIG, comma-separated)")
	table := s.table()
	flagVals := map[string]*string{}
	for _, t := range table {
		flagVals[t.flag] = fs.String(t.flag, "", t.usage+" (env "+t.env+")")
	}
	if err := fs.Parse(args); err != nil {
		return node.Config{}, nil, err
	}
	if len(files) == 0 {
		for _, f := range strings.Split(os.Getenv("DIVAN_CONFIG"), ",") {
			if f = strings.TrimSpace(f); f != "" {
				files = append(files, f)
			}
		}
	}
	s.configFile = files.String()

	// Environment variables, then flags: the override layer.
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	var overrides []config.Setting
	for _, t := range table {
		var v string
		var ok bool
		if e, set := os.LookupEnv(t.env); set && e != "" {
			v, ok = e, true
		}
		if explicit[t.flag] {
			v, ok = *flagVals[t.flag], true
		}
		if !ok {
			continue
		}
		if t.num != nil {
			if _, err := strconv.Atoi(v); err != nil {
				return node.Config{}, nil, fmt.Errorf("%s: %q is not an integer", t.flag, v)
			}
		}
		if t.section == "" { // the admin's name and password
			*t.str = v
			continue
		}
		overrides = append(overrides, config.Setting{Section: t.section, Key: t.key, Value: v})
	}
	switch {
	case s.adminUser != "" && s.adminPassword != "":
		overrides = append(overrides, config.Setting{Section: "admins", Key: s.adminUser, Value: s.adminPassword})
	case s.adminUser != "" || s.adminPassword != "":
		return node.Config{}, nil, errors.New("DIVAN_ADMIN_USER and DIVAN_ADMIN_PASSWORD must be set together")
	}

	// The data directory, which holds local.ini, may itself be configured
	// in a -config file: resolve it from every layer but local.ini first.
	pre, err := config.Open(ctx, config.Options{Files: files, Overrides: nonAdmin(overrides)})
	if err != nil {
		return node.Config{}, nil, err
	}
	s.dataDir = pre.String("couchdb", "database_dir", "data")
	var iterations atomic.Int64
	iterations.Store(pre.Int("chttpd_auth", "iterations", auth.DefaultIterations))

	level := new(slog.LevelVar)
	l, _ := node.ParseLogLevel(pre.String("log", "level", "info"))
	level.Set(l)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	localPath := filepath.Join(s.dataDir, "local.ini")
	store, err := config.Open(ctx, config.Options{
		Files:     files,
		LocalFile: localPath,
		Overrides: overrides,
		Logger:    logger.With("component", "config"),
		// CouchDB hashes plain-text [admins] passwords wherever they come
		// from (couch_passwords via couch_server's config listener).
		Normalize: func(section, key, value string) (string, error) {
			if section != "admins" || auth.IsHashed(value) {
				return value, nil
			}
			return auth.HashPassword(value, int(iterations.Load()))
		},
	})
	if err != nil {
		return node.Config{}, nil, err
	}
	store.Subscribe("chttpd_auth", func(c config.Change) {
		if c.Key == "iterations" {
			iterations.Store(store.Int("chttpd_auth", "iterations", auth.DefaultIterations))
		}
	})
	if l, ok := node.ParseLogLevel(store.String("log", "level", "info")); ok {
		level.Set(l)
	}
	if err := settleAdmins(ctx, store, s, stdout, logger, int(iterations.Load())); err != nil {
		return node.Config{}, nil, err
	}

	cfg := node.Config{
		DataDir:          s.dataDir,
		BindAddress:      store.String("chttpd", "bind_address", "127.0.0.1"),
		Port:             int(store.Int("chttpd", "port", 5984)),
		NodeName:         store.String("divan", "node_name", ""),
		GossipPort:       int(store.Int("divan", "gossip_port", 0)),
		RPCPort:          int(store.Int("divan", "rpc_port", 0)),
		Zone:             store.String("cluster", "zone", ""),
		AdvertiseAddress: store.String("divan", "advertise_address", ""),
		Logger:           logger,
		Store:            store,
		LogLevel:         level,
		Q:                int(store.Int("cluster", "q", 2)),
		N:                int(store.Int("cluster", "n", 3)),
	}
	for _, seed := range strings.Split(store.String("cluster", "seedlist", ""), ",") {
		if seed = strings.TrimSpace(seed); seed != "" {
			cfg.Seeds = append(cfg.Seeds, seed)
		}
	}
	return cfg, logger, nil
}

// nonAdmin drops [admins] overrides (so a first, throw-away read of the
// configuration does not hash passwords).
func nonAdmin(o []config.Setting) []config.Setting {
	var out []config.Setting
	for _, s := range o {
		if s.Section != "admins" {
			out = append(out, s)
		}
	}
	return out
}

// settleAdmins makes sure the node has an admin: on a first start with
// none configured it creates one, keeps only its hash in local.ini and
// prints the password once.
func settleAdmins(ctx context.Context, store *config.Store, s settings, stdout io.Writer, log *slog.Logger, iterations int) error {
	if len(store.Section("admins")) > 0 {
		return nil
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	pass := hex.EncodeToString(b[:])
	h, err := auth.HashPassword(pass, iterations)
	if err != nil {
		return err
	}
	if _, err := store.Set(ctx, "admins", "admin", h, true); err != nil {
		return fmt.Errorf("save generated admin: %w", err)
	}
	port := store.Int("chttpd", "port", 5984)
	fmt.Fprintf(stdout, "\nNo admin was configured, so one was created (shown only this once):\n\n    user: admin\n    password: %s\n\n    curl http://admin:%s@127.0.0.1:%d/\n\nIts hash is stored in %s.\n\n", pass, pass, port, store.LocalFile())
	log.Info("created first admin", "user", "admin", "stored_in", store.LocalFile())
	return nil
}
