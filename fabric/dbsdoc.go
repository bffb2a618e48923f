package fabric

import (
	"context"

	"github.com/divandb/divan/cluster"
	"github.com/divandb/divan/internal/couch"
)

// broadcastShardMap copies this node's `_dbs` document for db, every leaf
// with its history, to the `_dbs` of every other cluster member, as
// fabric_db_create writes the map to all nodes. Members that cannot be
// reached catch up through internal replication.
func (f *Fabric) broadcastShardMap(ctx context.Context, db string) {
	if f.cfg.NodeLocal {
		return
	}
	self := f.cl.Self()
	local, err := f.copies.Copy(ctx, self, cluster.DBsDB)
	if err != nil {
		f.log.WarnContext(ctx, "open local _dbs", "err", err)
		return
	}
	doc, err := local.Open(ctx, db, couch.OpenOptions{AllLeaves: true})
	if err != nil {
		f.log.WarnContext(ctx, "read shard map to broadcast", "db", db, "err", err)
		return
	}
	var docs []*couch.Doc
	for _, rev := range doc.Revisions {
		if rev.Missing {
			continue
		}
		path := doc.Tree.Path(rev.Rev)
		ids := make([]string, len(path))
		for i, r := range path {
			ids[i] = r.ID
		}
		docs = append(docs, &couch.Doc{ID: db, Rev: rev.Rev, Deleted: rev.Deleted, Body: rev.Body,
			Revisions: &couch.RevPath{Start: rev.Rev.Pos, IDs: ids}, Atts: []couch.Attachment{}})
	}
	nodes, err := f.cl.Nodes(ctx)
	if err != nil {
		return
	}
	_ = parallel(ctx, len(nodes), func(ctx context.Context, i int) error {
		if nodes[i] == self {
			return nil
		}
		c, err := f.copies.Copy(ctx, nodes[i], cluster.DBsDB)
		if err == nil {
			_, err = c.Update(ctx, docs, couch.UpdateOptions{NewEdits: false})
		}
		if err != nil {
			f.log.DebugContext(ctx, "shard map not sent; internal replication will", "db", db, "node", nodes[i], "err", err)
		}
		return nil
	})
}
