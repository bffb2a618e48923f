package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/shard"
)

// Member is a cluster member as recorded in `_nodes`.
type Member struct {
	Name  string
	Zone  string
	Decom bool // excluded from placement of new databases
	// GossipAddr is where the member was last seen gossiping, so a node
	// that restarts can find the cluster again without seeds.
	GossipAddr string
}

type nodeDoc struct {
	Zone       string          `json:"zone,omitempty"`
	Decom      json.RawMessage `json:"decom,omitempty"`
	GossipAddr string          `json:"gossip_addr,omitempty"`
}

func (c *Cluster) nodesDB() (*shard.Shard, error) { return c.store.Get(NodesDB) }

// Members returns the cluster members recorded in `_nodes`, sorted.
func (c *Cluster) Members(ctx context.Context) ([]Member, error) {
	sh, err := c.nodesDB()
	if err != nil {
		return nil, err
	}
	var out []Member
	err = sh.Docs(ctx, shard.DocsQuery{Limit: -1, InclusiveEnd: true, IncludeDocs: true}, func(r shard.DocRow) error {
		m := Member{Name: r.ID}
		if r.Doc != nil {
			var d nodeDoc
			if json.Unmarshal(r.Doc.Body, &d) == nil {
				m.Zone = d.Zone
				m.GossipAddr = d.GossipAddr
				s := string(d.Decom)
				m.Decom = s == "true" || s == `"true"`
			}
		}
		out = append(out, m)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// ensureSelf records this node in `_nodes` when it is not there, as mem3
// does at startup, so a fresh node is a cluster of one.
func (c *Cluster) ensureSelf(ctx context.Context) error {
	sh, err := c.nodesDB()
	if err != nil {
		return err
	}
	_, err = sh.Open(ctx, c.cfg.NodeName, couch.OpenOptions{})
	if err == nil {
		return nil
	}
	if !errors.Is(err, couch.ErrNotFound) && !errors.Is(err, couch.ErrDeleted) {
		return err
	}
	return c.PutMember(ctx, Member{Name: c.cfg.NodeName, Zone: c.cfg.Zone})
}

// PutMember records (or updates) a member in `_nodes`.
func (c *Cluster) PutMember(ctx context.Context, m Member) error {
	sh, err := c.nodesDB()
	if err != nil {
		return err
	}
	body, _ := json.Marshal(nodeDoc{Zone: m.Zone, Decom: boolRaw(m.Decom), GossipAddr: m.GossipAddr})
	doc := &couch.Doc{ID: m.Name, Body: body}
	if cur, err := sh.Open(ctx, m.Name, couch.OpenOptions{}); err == nil {
		doc.Rev = cur.Revisions[0].Rev
	} else if errors.Is(err, couch.ErrDeleted) {
		// recreate: no rev needed
	} else if !errors.Is(err, couch.ErrNotFound) {
		return err
	}
	res, err := sh.Update(ctx, []*couch.Doc{doc}, couch.UpdateOptions{NewEdits: true})
	if err != nil {
		return fmt.Errorf("cluster: record member %s: %w", m.Name, err)
	}
	return res[0].Err
}

func boolRaw(b bool) json.RawMessage {
	if !b {
		return nil
	}
	return json.RawMessage("true")
}
