package cluster

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/shard"
)

// NodeLocalMaps presents a node's own copies as unsharded databases: the
// node-local API (`/_node/_local/{name}`) that CouchDB operators use to look
// at `_dbs`, `_nodes` and individual shard copies
// (`shards%2F00000000-7fffffff%2Fdb.1700000000`).
type NodeLocalMaps struct {
	SelfName string
	Store    *shard.Store
}

// Self implements fabric.Maps.
func (l NodeLocalMaps) Self() string { return l.SelfName }

// Nodes implements fabric.Maps: only this node.
func (l NodeLocalMaps) Nodes(context.Context) ([]string, error) { return []string{l.SelfName}, nil }

// AllowedMembers is this node alone.
func (l NodeLocalMaps) AllowedMembers(context.Context) ([]Member, error) {
	return []Member{{Name: l.SelfName}}, nil
}

// ShardMap implements fabric.Maps.
func (l NodeLocalMaps) ShardMap(ctx context.Context, db string) (*ShardMap, error) {
	if _, err := l.Store.Get(db); err != nil {
		if errors.Is(err, shard.ErrNoShard) {
			return nil, couch.ErrNoDB
		}
		return nil, err
	}
	return NodeLocalMap(db, l.SelfName), nil
}

// CreateDB implements fabric.Maps: the copy itself is the database, so
// there is no map to record.
func (l NodeLocalMaps) CreateDB(ctx context.Context, m *ShardMap) error {
	if _, err := l.Store.Get(m.DB); err == nil {
		return nil
	}
	return couch.ErrNoDB
}

// DeleteDB implements fabric.Maps; the copy is deleted by fabric.
func (l NodeLocalMaps) DeleteDB(ctx context.Context, db string) error {
	_, err := l.ShardMap(ctx, db)
	return err
}

// DBs implements fabric.Maps: every copy on this node, sorted.
func (l NodeLocalMaps) DBs(ctx context.Context, q shard.DocsQuery, fn func(string) error) error {
	names, err := l.Store.List("")
	if err != nil {
		return err
	}
	if q.Descending {
		sort.Sort(sort.Reverse(sort.StringSlice(names)))
	}
	for _, n := range names {
		if q.StartKey != nil && ((!q.Descending && n < *q.StartKey) || (q.Descending && n > *q.StartKey)) {
			continue
		}
		if q.EndKey != nil {
			c := strings.Compare(n, *q.EndKey)
			if q.Descending {
				c = -c
			}
			if c > 0 || (c == 0 && !q.InclusiveEnd) {
				break
			}
		}
		if err := fn(n); err != nil {
			return err
		}
	}
	return nil
}
