package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Meta is what a node gossips about itself.
type Meta struct {
	Version  int    `json:"v"`
	Name     string `json:"name"`
	HTTPAddr string `json:"http"`
	RPCAddr  string `json:"rpc"`
	Zone     string `json:"zone,omitempty"`
}

const metaVersion = 1

// MembershipConfig configures gossip membership.
type MembershipConfig struct {
	Meta Meta
	// BindAddr and Port are where memberlist listens (UDP and TCP); Port 0
	// picks a free port (tests).
	BindAddr string
	Port     int
	// AdvertiseAddr is the address other nodes reach this one at; empty
	// uses BindAddr.
	AdvertiseAddr string
	// Local uses memberlist's fast loopback timings (tests, one host).
	Local  bool
	Logger *slog.Logger
}

// Membership tracks which nodes are alive, by gossip (hashicorp/memberlist).
// Being alive is not being a cluster member: members are recorded in
// `_nodes`; Membership only says who can be reached and where.
type Membership struct {
	ml   *memberlist.Memberlist
	meta []byte
	log  *slog.Logger

	mu      sync.RWMutex
	alive   map[string]Meta
	changed chan struct{} // closed and replaced on every change
}

// StartMembership starts gossiping. Join other nodes with Join.
func StartMembership(cfg MembershipConfig) (*Membership, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Meta.Version = metaVersion
	meta, err := json.Marshal(cfg.Meta)
	if err != nil {
		return nil, err
	}
	if len(meta) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("cluster: node metadata is %d bytes, over memberlist's %d", len(meta), memberlist.MetaMaxSize)
	}
	m := &Membership{meta: meta, log: cfg.Logger.With("component", "membership"), alive: map[string]Meta{}, changed: make(chan struct{})}
	mc := memberlist.DefaultLANConfig()
	if cfg.Local {
		mc = memberlist.DefaultLocalConfig()
		mc.ProbeInterval = 200 * time.Millisecond
		mc.GossipInterval = 50 * time.Millisecond
		mc.PushPullInterval = 5 * time.Second
	}
	mc.Name = cfg.Meta.Name
	mc.BindAddr = cfg.BindAddr
	mc.BindPort = cfg.Port
	mc.AdvertiseAddr = cfg.AdvertiseAddr
	mc.AdvertisePort = cfg.Port
	mc.Delegate = delegate{m}
	mc.Events = eventDelegate{m}
	mc.Logger = slog.NewLogLogger(levelFromPrefix{m.log.Handler()}, slog.LevelDebug)
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("cluster: start gossip on %s:%d: %w", cfg.BindAddr, cfg.Port, err)
	}
	m.ml = ml
	return m, nil
}

// Port returns the gossip port actually bound.
func (m *Membership) Port() int { return int(m.ml.LocalNode().Port) }

// Join contacts seed addresses ("host:port"); it succeeds when any answered.
func (m *Membership) Join(seeds []string) (int, error) {
	if len(seeds) == 0 {
		return 0, nil
	}
	n, err := m.ml.Join(seeds)
	if n > 0 {
		return n, nil
	}
	return 0, fmt.Errorf("cluster: join %s: %w", strings.Join(seeds, ","), err)
}

// Alive returns the metadata of every node gossip sees alive, this one
// included, sorted by name.
func (m *Membership) Alive() []Meta {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Meta, 0, len(m.alive))
	for _, meta := range m.alive {
		out = append(out, meta)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// NumAlive returns how many nodes gossip sees alive, this one included.
func (m *Membership) NumAlive() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.alive)
}

// Lookup returns an alive node's metadata.
func (m *Membership) Lookup(name string) (Meta, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	meta, ok := m.alive[name]
	return meta, ok
}

// Changed returns a channel closed at the next membership change.
func (m *Membership) Changed() <-chan struct{} {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.changed
}

// Leave announces departure and stops gossip. It is safe to call once.
func (m *Membership) Leave(ctx context.Context) error {
	timeout := 2 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	err := m.ml.Leave(timeout)
	return errors.Join(err, m.ml.Shutdown())
}

func (m *Membership) update(n *memberlist.Node, alive bool) {
	var meta Meta
	if alive {
		if err := json.Unmarshal(n.Meta, &meta); err != nil || meta.Version != metaVersion || meta.Name != n.Name {
			m.log.Warn("ignoring member with unreadable metadata", "peer", n.Name, "err", err)
			return
		}
	}
	m.mu.Lock()
	if alive {
		m.alive[n.Name] = meta
	} else {
		delete(m.alive, n.Name)
	}
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
	m.log.Info("membership change", "peer", n.Name, "alive", alive)
}

// delegate and eventDelegate adapt memberlist's callbacks; they hold the
// Membership and forward, as serf's do.
type delegate struct{ m *Membership }

var _ memberlist.Delegate = delegate{}

func (d delegate) NodeMeta(limit int) []byte                  { return d.m.meta }
func (d delegate) NotifyMsg([]byte)                           {}
func (d delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d delegate) LocalState(join bool) []byte                { return nil }
func (d delegate) MergeRemoteState(buf []byte, join bool)     {}

type eventDelegate struct{ m *Membership }

var _ memberlist.EventDelegate = eventDelegate{}

func (e eventDelegate) NotifyJoin(n *memberlist.Node)   { e.m.update(n, true) }
func (e eventDelegate) NotifyLeave(n *memberlist.Node)  { e.m.update(n, false) }
func (e eventDelegate) NotifyUpdate(n *memberlist.Node) { e.m.update(n, true) }

// levelFromPrefix routes memberlist's "[DEBUG] ..." style log lines to slog
// at the matching level.
type levelFromPrefix struct{ slog.Handler }

func (h levelFromPrefix) Handle(ctx context.Context, r slog.Record) error {
	msg := r.Message
	level := slog.LevelDebug
	for prefix, l := range map[string]slog.Level{"[ERR]": slog.LevelError, "[WARN]": slog.LevelWarn, "[INFO]": slog.LevelDebug, "[DEBUG]": slog.LevelDebug} {
		if i := strings.Index(msg, prefix); i >= 0 {
			level = l
			msg = strings.TrimSpace(msg[i+len(prefix):])
			break
		}
	}
	if !h.Handler.Enabled(ctx, level) {
		return nil
	}
	nr := slog.NewRecord(r.Time, level, msg, r.PC)
	return h.Handler.Handle(ctx, nr)
}
