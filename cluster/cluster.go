package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/shard"
)

// Node-local system databases (not sharded).
const (
	DBsDB   = "_dbs"
	NodesDB = "_nodes"
)

// Config configures a Cluster.
type Config struct {
	// NodeName is this node's name, "name@host".
	NodeName string
	// Zone is this node's placement zone ([cluster] zone / COUCHDB_ZONE).
	Zone   string
	Logger *slog.Logger
}

// Cluster is this node's view of the cluster: who it is, which nodes are
// members, and every database's shard map. It is safe for concurrent use.
type Cluster struct {
	cfg   Config
	store *shard.Store
	log   *slog.Logger
	dbs   *shard.Shard // node-local _dbs

	mu    sync.RWMutex
	cache map[string]*ShardMap
}

// New opens (creating when needed) the node-local system databases in store.
func New(ctx context.Context, cfg Config, store *shard.Store) (*Cluster, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("cluster: node name is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{cfg: cfg, store: store, log: cfg.Logger.With("component", "cluster"), cache: map[string]*ShardMap{}}
	for _, name := range []string{DBsDB, NodesDB} {
		sh, err := store.Get(name)
		if errors.Is(err, shard.ErrNoShard) {
			sh, err = store.Create(ctx, name, nil)
		}
		if err != nil {
			return nil, fmt.Errorf("cluster: open %s: %w", name, err)
		}
		if name == DBsDB {
			c.dbs = sh
		}
	}
	if err := c.ensureSelf(ctx); err != nil {
		return nil, fmt.Errorf("cluster: record self in %s: %w", NodesDB, err)
	}
	return c, nil
}

// Self returns this node's name.
func (c *Cluster) Self() string { return c.cfg.NodeName }

// Nodes returns the cluster members that may hold new shard copies: the
// `_nodes` members not marked decom (mem3:allowed_nodes). A fresh node is a
// cluster of one.
func (c *Cluster) Nodes(ctx context.Context) ([]string, error) {
	members, err := c.AllowedMembers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(members))
	for i, m := range members {
		out[i] = m.Name
	}
	return out, nil
}

// AllowedMembers returns the members new shard copies may be placed on:
// those in `_nodes` not marked decom (mem3:allowed_nodes), or this node
// alone before `_nodes` lists any.
func (c *Cluster) AllowedMembers(ctx context.Context) ([]Member, error) {
	members, err := c.Members(ctx)
	if err != nil {
		return nil, err
	}
	var out []Member
	for _, m := range members {
		if !m.Decom {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		out = []Member{{Name: c.cfg.NodeName, Zone: c.cfg.Zone}}
	}
	return out, nil
}

// ShardMap returns a database's shard map, or couch.ErrNoDB.
func (c *Cluster) ShardMap(ctx context.Context, db string) (*ShardMap, error) {
	c.mu.RLock()
	m, ok := c.cache[db]
	c.mu.RUnlock()
	if ok {
		return m, nil
	}
	doc, err := c.dbs.Open(ctx, db, couch.OpenOptions{})
	if errors.Is(err, couch.ErrNotFound) || errors.Is(err, couch.ErrDeleted) {
		return nil, couch.ErrNoDB
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: read shard map of %s: %w", db, err)
	}
	m, err = ParseDoc(db, doc.Revisions[0].Body)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.cache[db] = m
	c.mu.Unlock()
	return m, nil
}

// CreateDB records a new database's shard map. It fails with
// couch.ErrDBExists when the database exists.
func (c *Cluster) CreateDB(ctx context.Context, m *ShardMap) error {
	body, err := m.MarshalDoc()
	if err != nil {
		return err
	}
	res, err := c.dbs.Update(ctx, []*couch.Doc{{ID: m.DB, Body: body}}, couch.UpdateOptions{NewEdits: true})
	if err != nil {
		return fmt.Errorf("cluster: write shard map of %s: %w", m.DB, err)
	}
	if errors.Is(res[0].Err, couch.ErrConflict) {
		return couch.ErrDBExists
	}
	if res[0].Err != nil {
		return res[0].Err
	}
	c.mu.Lock()
	c.cache[m.DB] = m
	c.mu.Unlock()
	return nil
}

// DeleteDB removes a database's shard map; couch.ErrNoDB when missing.
func (c *Cluster) DeleteDB(ctx context.Context, db string) error {
	doc, err := c.dbs.Open(ctx, db, couch.OpenOptions{})
	if errors.Is(err, couch.ErrNotFound) || errors.Is(err, couch.ErrDeleted) {
		return couch.ErrNoDB
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	delete(c.cache, db)
	c.mu.Unlock()
	res, err := c.dbs.Update(ctx, []*couch.Doc{{ID: db, Rev: doc.Revisions[0].Rev, Deleted: true, Body: []byte("{}")}}, couch.UpdateOptions{NewEdits: true})
	if err != nil {
		return fmt.Errorf("cluster: delete shard map of %s: %w", db, err)
	}
	if res[0].Err != nil {
		return res[0].Err
	}
	return nil
}

// DBs calls fn with each database name in sorted order between start and end
// (inclusive; nil for unbounded), descending when asked.
func (c *Cluster) DBs(ctx context.Context, q shard.DocsQuery, fn func(name string) error) error {
	return c.dbs.Docs(ctx, q, func(r shard.DocRow) error { return fn(r.ID) })
}

// Invalidate drops cached shard maps; call it when `_dbs` changed by other
// means than this Cluster (internal replication from another node).
func (c *Cluster) Invalidate() {
	c.mu.Lock()
	clear(c.cache)
	c.mu.Unlock()
}
