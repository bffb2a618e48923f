package node

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"

	"github.com/divandb/divan/cluster"
	"github.com/divandb/divan/httpapi"
)

// clusterView gives the HTTP API the node's view of the cluster
// (/_membership, /_node/{node}, /_cluster_setup, /{db}/_shards).
type clusterView struct{ n *Node }

var _ httpapi.ClusterView = clusterView{}

// Membership implements httpapi.ClusterView.
func (v clusterView) Membership(ctx context.Context) (all, members []string, err error) {
	for _, m := range v.n.members.Alive() {
		all = append(all, m.Name)
	}
	ms, err := v.n.cluster.Members(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range ms {
		members = append(members, m.Name)
	}
	sort.Strings(all)
	return all, members, nil
}

// NodeHTTPAddr implements httpapi.ClusterView.
func (v clusterView) NodeHTTPAddr(node string) (addr string, known, alive bool) {
	if meta, ok := v.n.members.Lookup(node); ok {
		return meta.HTTPAddr, true, true
	}
	ms, err := v.n.cluster.Members(context.Background())
	if err != nil {
		return "", false, false
	}
	for _, m := range ms {
		if m.Name == node {
			return "", true, false
		}
	}
	return "", false, false
}

// SelfInfo implements httpapi.ClusterView.
func (v clusterView) SelfInfo() httpapi.NodeInfo {
	return httpapi.NodeInfo{
		Name:       v.n.name,
		GossipAddr: net.JoinHostPort(v.n.advertiseHost(), strconv.Itoa(v.n.members.Port())),
		Zone:       v.n.cfg.Zone,
	}
}

// Join implements httpapi.ClusterView: gossip with the node, then record
// it in _nodes, which internal replication spreads to every member.
func (v clusterView) Join(ctx context.Context, info httpapi.NodeInfo) error {
	if info.GossipAddr != "" {
		if _, err := v.n.members.Join([]string{info.GossipAddr}); err != nil {
			return fmt.Errorf("join %s at %s: %w", info.Name, info.GossipAddr, err)
		}
	}
	if err := v.n.cluster.PutMember(ctx, cluster.Member{Name: info.Name, Zone: info.Zone, GossipAddr: info.GossipAddr}); err != nil {
		return err
	}
	v.n.syncer.SweepNow()
	return nil
}

// Shards implements httpapi.ClusterView.
func (v clusterView) Shards(ctx context.Context, db string) (map[string][]string, error) {
	m, err := v.n.cluster.ShardMap(ctx, db)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]string, len(m.ByRange))
	for r, nodes := range m.ByRange {
		out[r.String()] = append([]string(nil), nodes...)
	}
	return out, nil
}

// SyncShards implements httpapi.ClusterView: push every local copy of db
// to its peers now.
func (v clusterView) SyncShards(ctx context.Context, db string) error {
	m, err := v.n.cluster.ShardMap(ctx, db)
	if err != nil {
		return err
	}
	for _, r := range m.Ranges() {
		for _, node := range m.ByRange[r] {
			if node == v.n.name {
				v.n.syncer.Changed(m.ShardName(r))
			}
		}
	}
	return nil
}
