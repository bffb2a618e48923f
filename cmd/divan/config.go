package main

import (
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

	"gopkg.in/ini.v1"

	"github.com/divandb/divan/internal/auth"
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

// loadConfig resolves defaults < ini file < environment < flags into a
// node.Config. It also settles the admin accounts: plain-text passwords in
// [admins] are hashed and written back, as CouchDB does, and a node with no
// admin at all gets one generated and printed once.
func loadConfig(args []string, stdout io.Writer) (node.Config, *slog.Logger, error) {
	s := settings{dataDir: "data", bindAddress: "127.0.0.1", port: 5984, logLevel: "info"}
	fs := flag.NewFlagSet("divan", flag.ContinueOnError)
	fs.StringVar(&s.configFile, "config", os.Getenv("DIVAN_CONFIG"), "ini configuration file (env DIVAN_CONFIG)")
	table := s.table()
	flagVals := map[string]*string{}
	for _, t := range table {
		flagVals[t.flag] = fs.String(t.flag, "", t.usage+" (env "+t.env+")")
	}
	if err := fs.Parse(args); err != nil {
		return node.Config{}, nil, err
	}
	var file *ini.File
	if s.configFile != "" {
		var err error
		file, err = ini.Load(s.configFile)
		if err != nil {
			return node.Config{}, nil, fmt.Errorf("read config %s: %w", s.configFile, err)
		}
	} else {
		file = ini.Empty()
	}
	set := func(t setting, v string) error {
		if t.str != nil {
			*t.str = v
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%s: %q is not an integer", t.flag, v)
		}
		*t.num = n
		return nil
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	for _, t := range table {
		if t.section != "" && file.Section(t.section).HasKey(t.key) {
			if err := set(t, file.Section(t.section).Key(t.key).String()); err != nil {
				return node.Config{}, nil, err
			}
		}
		if v, ok := os.LookupEnv(t.env); ok && v != "" {
			if err := set(t, v); err != nil {
				return node.Config{}, nil, err
			}
		}
		if explicit[t.flag] {
			if err := set(t, *flagVals[t.flag]); err != nil {
				return node.Config{}, nil, err
			}
		}
	}

	logger := newLogger(s.logLevel)
	cfg := node.Config{
		DataDir:     s.dataDir,
		BindAddress: s.bindAddress,
		Port:        s.port,
		NodeName:    s.nodeName,
		GossipPort:  s.gossipPort,
		RPCPort:     s.rpcPort,
		Zone:        s.zone,
		Logger:      logger,

		AdvertiseAddress: s.advertise,
	}
	for _, seed := range strings.Split(s.seeds, ",") {
		if seed = strings.TrimSpace(seed); seed != "" {
			cfg.Seeds = append(cfg.Seeds, seed)
		}
	}
	sec := func(name string) *ini.Section { return file.Section(name) }
	cfg.Q = sec("cluster").Key("q").MustInt(2)
	cfg.N = sec("cluster").Key("n").MustInt(3)
	cfg.MaxDocumentSize = sec("couchdb").Key("max_document_size").MustInt64(8000000)
	cfg.MaxRequestSize = sec("chttpd").Key("max_http_request_size").MustInt64(4294967296)
	cfg.MaxDBsInfo = sec("chttpd").Key("max_db_number_for_dbs_info_req").MustInt(100)
	cfg.UUIDAlgorithm = sec("uuids").Key("algorithm").MustString("sequential")
	cfg.UUIDMaxCount = sec("uuids").Key("max_count").MustInt(1000)
	cfg.UTCIDSuffix = sec("uuids").Key("utc_id_suffix").String()

	admins, err := settleAdmins(file, s, stdout, logger)
	if err != nil {
		return node.Config{}, nil, err
	}
	cfg.Admins = admins
	return cfg, logger, nil
}

// settleAdmins gathers admins from the config file's [admins], the data
// directory's local.ini and the environment/flags, hashing plain passwords.
func settleAdmins(file *ini.File, s settings, stdout io.Writer, log *slog.Logger) (map[string]string, error) {
	iterations := file.Section("chttpd_auth").Key("iterations").MustInt(auth.DefaultIterations)
	admins := map[string]string{}

	// Admins in the config file; plain passwords are rewritten hashed.
	rewrite := false
	for _, k := range file.Section("admins").Keys() {
		v := k.String()
		if !auth.IsHashed(v) {
			h, err := auth.HashPassword(v, iterations)
			if err != nil {
				return nil, err
			}
			k.SetValue(h)
			v, rewrite = h, true
		}
		admins[k.Name()] = v
	}
	if rewrite && s.configFile != "" {
		if err := file.SaveTo(s.configFile); err != nil {
			return nil, fmt.Errorf("rewrite %s with hashed admin passwords: %w", s.configFile, err)
		}
	}

	// Admins the node persisted itself (a generated first admin).
	localPath := filepath.Join(s.dataDir, "local.ini")
	local, err := ini.LooseLoad(localPath)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", localPath, err)
	}
	for _, k := range local.Section("admins").Keys() {
		if _, ok := admins[k.Name()]; !ok {
			admins[k.Name()] = k.String()
		}
	}

	switch {
	case s.adminUser != "" && s.adminPassword != "":
		h, err := auth.HashPassword(s.adminPassword, iterations)
		if err != nil {
			return nil, err
		}
		admins[s.adminUser] = h
	case s.adminUser != "" || s.adminPassword != "":
		return nil, errors.New("DIVAN_ADMIN_USER and DIVAN_ADMIN_PASSWORD must be set together")
	}

	if len(admins) == 0 {
		// First start with no admin: make one, as `make run` promises, and
		// keep only its hash.
		var b [12]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		pass := hex.EncodeToString(b[:])
		h, err := auth.HashPassword(pass, iterations)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
			return nil, err
		}
		local.Section("admins").Key("admin").SetValue(h)
		if err := local.SaveTo(localPath); err != nil {
			return nil, fmt.Errorf("save generated admin to %s: %w", localPath, err)
		}
		admins["admin"] = h
		fmt.Fprintf(stdout, "\nNo admin was configured, so one was created (shown only this once):\n\n    user: admin\n    password: %s\n\n    curl http://admin:%s@127.0.0.1:%d/\n\nIts hash is stored in %s.\n\n", pass, pass, s.port, localPath)
		log.Info("created first admin", "user", "admin", "stored_in", localPath)
	}
	return admins, nil
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn", "warning":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
