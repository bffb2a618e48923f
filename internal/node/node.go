// Package node assembles a whole Divan node from its Config: storage
// (shard), the cluster view (cluster), the coordinator (fabric) and the HTTP
// API (httpapi). cmd/divan and the test harnesses both build nodes through
// it, so tests never re-wire the system by hand.
package node

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/divandb/divan/cluster"
	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/httpapi"
	"github.com/divandb/divan/internal/auth"
	"github.com/divandb/divan/internal/config"
	"github.com/divandb/divan/internal/rpc"
	"github.com/divandb/divan/shard"
	"google.golang.org/grpc"
)

// Version is Divan's own version, reported under "vendor" in GET /.
const Version = "0.1.0"

// CouchDBVersion is the CouchDB API version Divan answers as.
const CouchDBVersion = "3.5.2"

// Config is everything a node needs. cmd/divan fills it from its ini file,
// environment and flags.
type Config struct {
	DataDir     string
	BindAddress string
	Port        int
	// GossipPort and RPCPort are the membership (memberlist) and internal
	// gRPC ports; zero derives them from Port (Port+2000, Port+3000) so
	// nodes on one host differ by Port alone, and Port 0 makes them 0 too.
	GossipPort int
	RPCPort    int
	// AdvertiseAddress is the address other nodes reach this one at; empty
	// uses BindAddress (or 127.0.0.1 when that is a wildcard).
	AdvertiseAddress string
	// Seeds are gossip addresses ("host:port") of nodes to join at start.
	Seeds []string
	// Zone is this node's placement zone.
	Zone string
	// NodeName is "name@host"; empty takes the name stored in the data
	// directory, or "divan@127.0.0.1" on first start.
	NodeName string
	// Admins maps admin names to PBKDF2 hashes ([admins]).
	Admins map[string]string

	// Store is the node's configuration ([section] key = value layers,
	// served and changed by /_node/{node}/_config). When set, the HTTP
	// settings, admins, CORS and TLS come from it and changes to them
	// apply at runtime; when nil, one is built in memory from this
	// Config's fields.
	Store *config.Store
	// LogLevel, when set, follows [log] level at runtime.
	LogLevel *slog.LevelVar

	Q, N            int   // [cluster] q, n
	MaxDocumentSize int64 // [couchdb] max_document_size
	MaxRequestSize  int64 // [chttpd] max_http_request_size
	MaxDBsInfo      int   // [chttpd] max_db_number_for_dbs_info_req
	UUIDAlgorithm   string
	UUIDMaxCount    int
	UTCIDSuffix     string
	// ShutdownTimeout bounds how long in-flight requests may take to finish.
	ShutdownTimeout time.Duration

	// Listener, when set, is used instead of listening on BindAddress:Port
	// (tests pass a listener on 127.0.0.1:0).
	Listener net.Listener
	// RPCListener likewise replaces listening on RPCPort.
	RPCListener net.Listener
	// TLSListener, when set, is used for HTTPS instead of listening on
	// BindAddress:[ssl] port (with [ssl] enable = true).
	TLSListener net.Listener
	Logger      *slog.Logger
}

// Node is a running Divan node.
type Node struct {
	cfg   Config
	log   *slog.Logger
	store *shard.Store
	api   *httpapi.API
	fab   *fabric.Fabric // the clustered fabric behind api
	srv   *http.Server
	ln    net.Listener
	name  string
	uuid  string

	// settings is the configuration store; adminsP the parsed [admins],
	// swapped when the section changes.
	settings    *config.Store
	adminsP     atomic.Pointer[auth.Admins]
	apis        []apiBase
	unsubscribe func()
	// tlsSrv and tlsLn serve HTTPS beside the plain listener ([ssl]).
	tlsSrv *http.Server
	tlsLn  net.Listener

	cluster   *cluster.Cluster
	members   *cluster.Membership
	grpc      *grpc.Server
	rpcLn     net.Listener
	rpcServer *rpc.Server
	rpcClient *rpc.Client
	syncer    *cluster.Syncer
	stopBg    context.CancelFunc
	bgDone    chan struct{}
	onCommit  atomic.Pointer[func(string)]
}

// identity is persisted in the data directory so a node keeps its name and
// server uuid across restarts.
type identity struct {
	Name string `json:"name"`
	UUID string `json:"uuid"`
	// Secret keys session cookies ([chttpd_auth] secret), hex.
	Secret string `json:"secret,omitempty"`
}

func loadIdentity(dir, wantName string) (identity, error) {
	path := filepath.Join(dir, "node.json")
	var id identity
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &id); err != nil {
			return id, fmt.Errorf("read %s: %w", path, err)
		}
		if wantName != "" && wantName != id.Name {
			return id, fmt.Errorf("data directory %s belongs to node %q, not %q", dir, id.Name, wantName)
		}
		if id.Secret != "" {
			return id, nil
		}
		// A data directory from before session cookies: add a secret.
		id.Secret, err = randomHex(32)
		if err != nil {
			return id, err
		}
		return id, writeIdentity(path, id)
	case !errors.Is(err, os.ErrNotExist):
		return id, err
	}
	id.Name = wantName
	if id.Name == "" {
		id.Name = "divan@127.0.0.1"
	}
	if id.UUID, err = randomHex(16); err != nil {
		return id, err
	}
	if id.Secret, err = randomHex(32); err != nil {
		return id, err
	}
	return id, writeIdentity(path, id)
}

func writeIdentity(path string, id identity) error {
	b, _ := json.MarshalIndent(id, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// Start opens storage, builds every layer and starts serving HTTP. On error
// everything already opened is closed again.
func Start(ctx context.Context, cfg Config) (n *Node, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	id, err := loadIdentity(cfg.DataDir, cfg.NodeName)
	if err != nil {
		return nil, err
	}
	settings := cfg.Store
	if settings == nil {
		if settings, err = storeFromConfig(ctx, cfg); err != nil {
			return nil, err
		}
	}
	admins, err := loadAdmins(settings)
	if err != nil {
		return nil, err
	}
	if admins.Len() == 0 {
		return nil, errors.New("no admin account configured: set DIVAN_ADMIN_USER and DIVAN_ADMIN_PASSWORD (CouchDB 3 refuses to start without an admin)")
	}
	n = &Node{cfg: cfg, log: cfg.Logger, name: id.Name, uuid: id.UUID, settings: settings}
	n.adminsP.Store(admins)
	started := n // `return nil, err` clears n before deferred calls run
	defer func() {
		if err != nil {
			_ = started.closeStorage()
		}
	}()

	n.store, err = shard.Open(ctx, shard.Options{
		Dir:    filepath.Join(cfg.DataDir, "db"),
		Logger: cfg.Logger.With("component", "shard"),
		// [couchdb] default_security = admin_only, CouchDB 3's default:
		// a new database is for server admins until its _security opens it.
		DefaultSecurity: []byte(`{"members":{"roles":["_admin"]},"admins":{"roles":["_admin"]}}`),
		OnCommit: func(name string) {
			if f := n.onCommit.Load(); f != nil {
				(*f)(name)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	cl, err := cluster.New(ctx, cluster.Config{NodeName: id.Name, Zone: cfg.Zone, Logger: cfg.Logger}, n.store)
	if err != nil {
		return nil, err
	}
	n.cluster = cl
	n.ln = cfg.Listener
	if n.ln == nil {
		addr := net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.Port))
		n.ln, err = net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
	}
	if err := n.startCluster(ctx); err != nil {
		return nil, err
	}
	n.fab = fabric.New(fabric.Config{
		DefaultQ:  int(settings.Int("cluster", "q", int64(cfg.Q))),
		DefaultN:  int(settings.Int("cluster", "n", int64(cfg.N))),
		Placement: settings.String("cluster", "placement", ""),
		// [fabric] request_timeout bounds the copies' work that outlives
		// the request (writes answered at w keep going on slow copies).
		RequestTimeout: time.Duration(settings.Int("fabric", "request_timeout", 60000)) * time.Millisecond,
		Logger:         cfg.Logger,
	},
		cl, rpc.NewRouter(id.Name, n.store, n.rpcClient))

	hcfg := httpapi.DefaultConfig()
	hcfg.NodeName = id.Name
	hcfg.ServerUUID = id.UUID
	hcfg.Version = CouchDBVersion
	hcfg.DivanVersion = Version
	// Admins are read through the pointer so [admins] changes apply to
	// the next request.
	hcfg.Authenticate = func(user, pass string) (bool, bool) {
		ok := n.adminsP.Load().Verify(user, pass)
		return ok, ok
	}
	hcfg.SessionSecret = []byte(id.Secret) // unless [chttpd_auth] secret is set
	hcfg.Lockout = auth.NewLockout(auth.ParseLockoutConfig(settings.Section("chttpd_auth_lockout")))
	hcfg.UserSalt = func(user string) (string, bool, bool) {
		salt, ok := n.adminsP.Load().Salt(user)
		return salt, ok, ok
	}
	hcfg.Logger = cfg.Logger.With("component", "httpapi")
	// The node-local API (/_node/_local/...) serves this node's own
	// unsharded databases and shard copies through the same HTTP layer.
	localFab := fabric.New(fabric.Config{NodeLocal: true, Logger: cfg.Logger},
		cluster.NodeLocalMaps{SelfName: id.Name, Store: n.store}, fabric.LocalCopies{Self: id.Name, Store: n.store})
	localBase := hcfg
	localAPI, err := httpapi.New(httpConfig(settings, localBase), localFab)
	if err != nil {
		return nil, err
	}
	hcfg.NodeLocal = localAPI
	hcfg.Cluster = clusterView{n}
	n.api, err = httpapi.New(httpConfig(settings, hcfg), n.fab)
	if err != nil {
		return nil, err
	}
	n.apis = []apiBase{{n.api, hcfg}, {localAPI, localBase}}
	// [couchdb] single_node = true: create _users and _replicator at start,
	// as CouchDB does. Otherwise, as in CouchDB, /_cluster_setup
	// (enable_single_node or finish_cluster) creates them: creating them
	// on every first start would make each node of a future cluster hold
	// its own one-node _users and finish_cluster answer "already finished".
	if settings.Bool("couchdb", "single_node", false) {
		if err := n.api.EnsureSystemDBs(ctx); err != nil {
			return nil, fmt.Errorf("create system databases: %w", err)
		}
	}
	n.unsubscribe = settings.Subscribe("", n.applyConfig)
	if err := n.startTLS(); err != nil {
		return nil, err
	}

	n.srv = &http.Server{
		Handler:           n.api,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := n.srv.Serve(n.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server stopped", "err", err)
		}
	}()
	n.log.Info("http listening", "addr", n.ln.Addr().String(), "node", id.Name)
	return n, nil
}

// startTLS serves HTTPS beside the plain listener when [ssl] enable is
// true, as CouchDB 3 does: same API, [ssl] cert_file and key_file, on
// [chttpd] bind_address and [ssl] port (6984).
func (n *Node) startTLS() error {
	st := n.settings
	if !st.Bool("ssl", "enable", false) {
		return nil
	}
	certFile, keyFile := st.String("ssl", "cert_file", ""), st.String("ssl", "key_file", "")
	if certFile == "" || keyFile == "" {
		return errors.New("[ssl] enable = true needs [ssl] cert_file and key_file")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("[ssl] load certificate: %w", err)
	}
	ln := n.cfg.TLSListener
	if ln == nil {
		bind := n.cfg.BindAddress
		if bind == "" {
			bind = st.String("chttpd", "bind_address", "127.0.0.1")
		}
		addr := net.JoinHostPort(bind, strconv.FormatInt(st.Int("ssl", "port", 6984), 10))
		if ln, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("listen (https) on %s: %w", addr, err)
		}
	}
	n.tlsLn = ln
	n.tlsSrv = &http.Server{
		Handler:           n.api,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	go func() {
		if err := n.tlsSrv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("https server stopped", "err", err)
		}
	}()
	n.log.Info("https listening", "addr", ln.Addr().String())
	return nil
}

// TLSAddr returns the HTTPS listener's address, or nil when [ssl] is off.
func (n *Node) TLSAddr() net.Addr {
	if n.tlsLn == nil {
		return nil
	}
	return n.tlsLn.Addr()
}

// Addr returns the HTTP listener's address.
func (n *Node) Addr() net.Addr { return n.ln.Addr() }

// Name returns the node's name.
func (n *Node) Name() string { return n.name }

// Stop shuts the node down gracefully: new requests get 503, in-flight ones
// finish (bounded by ShutdownTimeout), then storage closes.
func (n *Node) Stop(ctx context.Context) error {
	n.api.Drain()
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	if n.unsubscribe != nil {
		n.unsubscribe()
	}
	if n.tlsSrv != nil {
		if err := n.tlsSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("https shutdown: %w", err))
			_ = n.tlsSrv.Close()
		}
	}
	if err := n.srv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		_ = n.srv.Close()
	}
	// Accepted ?batch=ok writes finish before storage closes.
	if err := n.api.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("finish batched writes: %w", err))
	}
	// Copy writes that outlived their requests (answered at quorum) land
	// before the cluster services and storage go.
	if err := n.fab.Wait(ctx); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, n.stopCluster(ctx))
	if err := n.closeStorage(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (n *Node) closeStorage() error {
	if n.srv == nil && n.ln != nil && n.cfg.Listener == nil { // a failed start
		n.ln.Close()
	}
	if n.srv == nil && n.unsubscribe != nil {
		n.unsubscribe()
	}
	if n.bgDone != nil { // a failed start: stop what startCluster began
		_ = n.stopCluster(context.Background())
	}
	if n.store == nil {
		return nil
	}
	err := n.store.Close()
	if err != nil {
		return fmt.Errorf("close storage: %w", err)
	}
	return nil
}
