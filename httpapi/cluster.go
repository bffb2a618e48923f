package httpapi

import (
	"context"
	"net/http"
	"slices"

	"github.com/divandb/divan/cluster"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// ClusterView is what the cluster endpoints need from the node.
type ClusterView interface {
	// Membership returns all_nodes (reachable now, this node included) and cluster_nodes (recorded in _nodes), both sorted.
	Membership(ctx context.Context) (all, members []string, err error)
	// NodeHTTPAddr returns a node's HTTP address ("host:port"); known reports membership in _nodes or gossip, alive reachability now.
	NodeHTTPAddr(node string) (addr string, known, alive bool)
	// SelfInfo describes this node for other nodes joining it.
	SelfInfo() NodeInfo
	// Join contacts a node's gossip address and records it (name, zone) in _nodes.
	Join(ctx context.Context, info NodeInfo) error
	// Shards returns the db's shard map: range -> nodes; couch.ErrNoDB if missing.
	Shards(ctx context.Context, db string) (map[string][]string, error)
	// SyncShards asks every copy of db to push to its peers now.
	SyncShards(ctx context.Context, db string) error
}

// NodeInfo describes a node to the nodes joining it
// (GET /_node/_local/_divan).
type NodeInfo struct {
	Name       string `json:"name"`
	GossipAddr string `json:"gossip_addr"`
	Zone       string `json:"zone,omitempty"`
}

// membership returns all_nodes and cluster_nodes; without a ClusterView
// this node is the whole cluster.
func (a *API) membership(ctx context.Context) (all, members []string, err error) {
	if a.conf().Cluster == nil {
		self := []string{a.conf().NodeName}
		return self, self, nil
	}
	all, members, err = a.conf().Cluster.Membership(ctx)
	if err != nil {
		return nil, nil, err
	}
	if all == nil {
		all = []string{}
	}
	if members == nil {
		members = []string{}
	}
	return all, members, nil
}

// selfInfo is SelfInfo, or just this node's name without a ClusterView.
func (a *API) selfInfo() NodeInfo {
	if a.conf().Cluster == nil {
		return NodeInfo{Name: a.conf().NodeName}
	}
	return a.conf().Cluster.SelfInfo()
}

// handleMembership serves GET /_membership (mem3_httpd).
func (a *API) handleMembership(rq *request) error {
	if len(rq.parts) != 1 {
		return couch.ErrNotFound
	}
	if rq.method != http.MethodGet {
		return notAllowed("GET")
	}
	all, members, err := a.membership(rq.ctx)
	if err != nil {
		return err
	}
	all, members = sortedCopy(all), sortedCopy(members)
	b := append(rq.buf[:0], `{"all_nodes":`...)
	b = appendStrings(b, all)
	b = append(b, `,"cluster_nodes":`...)
	b = appendStrings(b, members)
	b = append(b, '}')
	rq.sendJSON(http.StatusOK, b)
	return nil
}

func sortedCopy(ss []string) []string {
	out := slices.Clone(ss)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return out
}

// shardsReq serves /{db}/_shards[/{docid}] (mem3_httpd:handle_shards_req).
// The caller has done the member check.
func (a *API) shardsReq(rq *request, db string) error {
	p := rq.parts
	if len(p) > 3 {
		return couch.ErrNotFound
	}
	if rq.method != http.MethodGet {
		return notAllowed("GET")
	}
	m, err := a.shardMap(rq.ctx, db)
	if err != nil {
		return err
	}
	rq.dbChecked = true
	if len(p) == 2 {
		rq.sendJSON(http.StatusOK, appendShardsJSON(rq.buf[:0], m))
		return nil
	}
	rng, nodes, ok := shardForDoc(m, p[2])
	if !ok {
		return couch.Errorf(couch.CodeUnknown, "no shard range holds document %q", p[2])
	}
	b := append(rq.buf[:0], `{"range":`...)
	b = appendJSONString(b, rng)
	b = append(b, `,"nodes":`...)
	b = appendStrings(b, nodes)
	b = append(b, '}')
	rq.sendJSON(http.StatusOK, b)
	return nil
}

// syncShards serves POST /{db}/_sync_shards (server admin, checked by the
// caller): 202 {"ok":true} once every copy was asked to push.
func (a *API) syncShards(rq *request, db string) error {
	if err := a.checkDB(rq.ctx, db); err != nil {
		return err
	}
	rq.dbChecked = true
	if rq.method != http.MethodPost {
		return notAllowed("POST")
	}
	if a.conf().Cluster != nil {
		if err := a.conf().Cluster.SyncShards(rq.ctx, db); err != nil {
			return err
		}
	}
	rq.sendOK(http.StatusAccepted)
	return nil
}

// shardMap is Cluster.Shards; without a ClusterView every range of an
// existing db is on this node (q=1).
func (a *API) shardMap(ctx context.Context, db string) (map[string][]string, error) {
	if a.conf().Cluster == nil {
		if err := a.checkDB(ctx, db); err != nil {
			return nil, err
		}
		return map[string][]string{"00000000-ffffffff": {a.conf().NodeName}}, nil
	}
	return a.conf().Cluster.Shards(ctx, db)
}

// appendShardsJSON renders {"shards":{range:[nodes]}} with ranges and each
// range's nodes sorted, as mem3_httpd:json_shards does.
func appendShardsJSON(b []byte, m map[string][]string) []byte {
	ranges := make([]string, 0, len(m))
	for r := range m {
		ranges = append(ranges, r)
	}
	slices.Sort(ranges)
	b = append(b, `{"shards":{`...)
	for i, r := range ranges {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, r)
		b = append(b, ':')
		b = appendStrings(b, sortedCopy(m[r]))
	}
	return append(b, "}}"...)
}

// shardForDoc finds the range of m holding docid (crc32 of the id) and its
// sorted nodes. With overlapping ranges (a split in progress) the lowest
// one wins.
func shardForDoc(m map[string][]string, docid string) (rng string, nodes []string, ok bool) {
	h := cluster.Hash(docid)
	for r, ns := range m {
		pr, err := cluster.ParseRange(r)
		if err != nil || !pr.Contains(h) {
			continue
		}
		if !ok || r < rng {
			rng, nodes, ok = r, ns, true
		}
	}
	return rng, sortedCopy(nodes), ok
}

func appendJSONString(b []byte, s string) []byte { return rawjson.AppendString(b, s) }
