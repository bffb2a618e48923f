package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/divandb/divan/cluster"
	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/testnode"
)

// startCluster starts three real divan processes and joins them with the
// CouchDB cluster setup sequence, as an operator would.
func startCluster(t *testing.T) []*testnode.Node {
	t.Helper()
	return startClusterWith(t, func(int) testnode.Options { return testnode.Options{} })
}

// startClusterWith is startCluster with node i's (1-based) options from
// opts; node names are always n{i}@127.0.0.1.
func startClusterWith(t *testing.T, opts func(i int) testnode.Options) []*testnode.Node {
	t.Helper()
	var nodes []*testnode.Node
	for i := 1; i <= 3; i++ {
		o := opts(i)
		o.NodeName = fmt.Sprintf("n%d@127.0.0.1", i)
		nodes = append(nodes, testnode.Start(t, o))
	}
	joinCluster(t, nodes, []string{"n1@127.0.0.1", "n2@127.0.0.1", "n3@127.0.0.1"})
	return nodes
}

// joinCluster runs the CouchDB cluster setup sequence on running nodes: the
// first adds the others by their HTTP address (`add_node`), then
// `finish_cluster`; it waits until every node's /_membership lists names
// (the node names, sorted) as both reachable and members.
func joinCluster(t *testing.T, nodes []*testnode.Node, names []string) {
	t.Helper()
	c := nodes[0].Client()
	for _, n := range nodes[1:] {
		host, _, err := net.SplitHostPort(n.Addr())
		if err != nil {
			t.Fatalf("node address %q: %v", n.Addr(), err)
		}
		c.Expect(t, http.StatusCreated, http.MethodPost, "/_cluster_setup", map[string]any{
			"action": "add_node", "host": host, "port": n.Port(),
			"username": n.AdminUser(), "password": n.AdminPassword(),
		}, "Content-Type", "application/json")
	}
	c.Expect(t, http.StatusCreated, http.MethodPost, "/_cluster_setup", map[string]any{"action": "finish_cluster"},
		"Content-Type", "application/json")
	for _, n := range nodes {
		testnode.Eventually(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
			var m struct {
				All     []string `json:"all_nodes"`
				Cluster []string `json:"cluster_nodes"`
			}
			status, _, body := n.Client().Do(t, http.MethodGet, "/_membership", nil)
			if status != http.StatusOK || json.Unmarshal(body, &m) != nil {
				return false, fmt.Sprintf("_membership: %d %s", status, body)
			}
			return slices.Equal(m.All, names) && slices.Equal(m.Cluster, names), fmt.Sprintf("_membership on %s: %s", n.URL(), body)
		})
	}
}

// copyState returns, per shard copy on node, the sorted "id rev" pairs of
// its documents, read through the node-local API.
func copyState(t *testing.T, n *testnode.Node, node string) map[string][]string {
	t.Helper()
	c := n.Client()
	var names []string
	c.ExpectJSON(t, http.StatusOK, http.MethodGet, "/_node/"+node+"/_all_dbs", nil, &names)
	out := map[string][]string{}
	for _, name := range names {
		if !strings.HasPrefix(name, "shards/") || !strings.Contains(name, "/big.") {
			continue
		}
		var res struct {
			Rows []struct {
				ID    string `json:"id"`
				Value struct {
					Rev string `json:"rev"`
				} `json:"value"`
			} `json:"rows"`
		}
		c.ExpectJSON(t, http.StatusOK, http.MethodGet, "/_node/"+node+"/"+url.PathEscape(name)+"/_all_docs", nil, &res)
		var pairs []string
		for _, r := range res.Rows {
			pairs = append(pairs, r.ID+" "+r.Value.Rev)
		}
		sort.Strings(pairs)
		// Key by range: copies of one range on different nodes compare.
		out[strings.Split(name, "/")[1]] = pairs
	}
	return out
}

func TestThreeNodeCluster(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t)
	c1 := nodes[0].Client()
	c1.Expect(t, http.StatusCreated, http.MethodPut, "/big?q=8&n=3", nil)
	for _, n := range nodes {
		testnode.Eventually(t, 20*time.Second, 50*time.Millisecond, func() (bool, string) {
			status, _, body := n.Client().Do(t, http.MethodGet, "/big", nil)
			return status == http.StatusOK, fmt.Sprintf("GET /big on %s: %d %s", n.URL(), status, body)
		})
	}
	var shards struct {
		Shards map[string][]string `json:"shards"`
	}
	c1.ExpectJSON(t, http.StatusOK, http.MethodGet, "/big/_shards", nil, &shards)
	if len(shards.Shards) != 8 {
		t.Fatalf("_shards: %d ranges, want 8", len(shards.Shards))
	}
	for r, ns := range shards.Shards {
		if len(ns) != 3 {
			t.Fatalf("range %s on %v, want 3 copies", r, ns)
		}
	}

	// 10,000 docs written through every node.
	const total = 10000
	for b := 0; b < total/1000; b++ {
		var docs []map[string]any
		for i := range 1000 {
			docs = append(docs, map[string]any{"_id": fmt.Sprintf("d%05d", b*1000+i), "n": b*1000 + i})
		}
		nodes[b%3].Client().Expect(t, http.StatusCreated, http.MethodPost, "/big/_bulk_docs", map[string]any{"docs": docs},
			"Content-Type", "application/json")
	}
	// Writes answer at w=2; the third copy of a range may still be
	// writing, and db info reads one copy per range, so counts converge
	// (as in CouchDB) rather than hold at once.
	for _, n := range nodes {
		testnode.Eventually(t, 20*time.Second, 50*time.Millisecond, func() (bool, string) {
			info := n.Client().Get(t, "/big")
			return fmt.Sprint(info["doc_count"]) == fmt.Sprint(total), fmt.Sprintf("doc_count on %s = %v", n.URL(), info["doc_count"])
		})
	}
	var before struct {
		LastSeq string `json:"last_seq"`
	}
	// A seq handed out by the node about to stop: resuming from it on another
	// node must miss nothing (replays are allowed, misses are not).
	nodes[2].Client().ExpectJSON(t, http.StatusOK, http.MethodGet, "/big/_changes?limit=0&since=now", nil, &before)
	// The feed was read from n3's own copies; before n3 stops, let n2's
	// copies record (internal replication's sequence history) that n3 had
	// all of their changes by the seqs the client holds, so a resume on
	// n2 replays nothing it saw.
	waitSeqHistory(t, nodes[1], "n2@127.0.0.1", "n3@127.0.0.1", before.LastSeq)

	// One node down: writes still answer (201 at w=2 with two copies up),
	// reads and _changes work.
	nodes[2].Stop()
	for i := range 50 {
		status, _, body := c1.Do(t, http.MethodPut, fmt.Sprintf("/big/down%02d", i), map[string]any{"i": i})
		if status != http.StatusCreated && status != http.StatusAccepted {
			t.Fatalf("write with a node down: %d %s", status, body)
		}
	}
	nodes[1].Client().Get(t, "/big/d00042")
	var ch struct {
		Results []struct {
			ID string `json:"id"`
		} `json:"results"`
	}
	nodes[1].Client().ExpectJSON(t, http.StatusOK, http.MethodGet, "/big/_changes?since="+url.QueryEscape(before.LastSeq), nil, &ch)
	seen := map[string]bool{}
	for _, r := range ch.Results {
		seen[r.ID] = true
	}
	for i := range 50 {
		if id := fmt.Sprintf("down%02d", i); !seen[id] {
			t.Fatalf("_changes on n2 since n3's seq missed %s (%d rows)", id, len(ch.Results))
		}
	}
	if len(ch.Results) > 50 {
		t.Errorf("_changes on n2 since n3's seq replayed %d rows, want only the 50 new ones", len(ch.Results))
	}

	// A _security change made while n3 is down reaches n3's copies when
	// it returns (security is stored per copy).
	sec := map[string]any{"admins": map[string]any{"names": []string{}, "roles": []string{"_admin"}},
		"members": map[string]any{"names": []string{"carol"}, "roles": []string{}}}
	c1.Expect(t, http.StatusOK, http.MethodPut, "/big/_security", sec, "Content-Type", "application/json")
	// So does a _local document (a replication checkpoint) written now,
	// and a purge: n3 must drop the purged doc, not push it back.
	c1.Expect(t, http.StatusCreated, http.MethodPut, "/big/_local/ckpt", map[string]any{"seq": 42})
	purged := c1.Get(t, "/big/d00007")
	c1.Expect(t, http.StatusCreated, http.MethodPost, "/big/_purge",
		map[string]any{"d00007": []string{purged["_rev"].(string)}}, "Content-Type", "application/json")

	// It returns; every copy of every range converges.
	nodes[2].Restart()
	testnode.Eventually(t, 60*time.Second, 200*time.Millisecond, func() (bool, string) {
		states := map[string]map[string][]string{}
		for i, n := range nodes {
			states[fmt.Sprintf("n%d@127.0.0.1", i+1)] = copyState(t, n, fmt.Sprintf("n%d@127.0.0.1", i+1))
		}
		ref := states["n1@127.0.0.1"]
		count := 0
		for _, pairs := range ref {
			count += len(pairs)
		}
		if count != total+50-1 {
			return false, fmt.Sprintf("n1 copies hold %d docs, want %d", count, total+50-1)
		}
		for node, s := range states {
			for r, pairs := range ref {
				if !slices.Equal(s[r], pairs) {
					return false, fmt.Sprintf("copy of %s on %s differs from n1's (%d vs %d docs)", r, node, len(s[r]), len(pairs))
				}
			}
		}
		return true, ""
	})
	var where struct {
		Range string `json:"range"`
	}
	c1.ExpectJSON(t, http.StatusOK, http.MethodGet, "/big/_shards/"+url.PathEscape("_local/ckpt"), nil, &where)
	testnode.Eventually(t, 30*time.Second, 200*time.Millisecond, func() (bool, string) {
		c3 := nodes[2].Client()
		var names []string
		c3.ExpectJSON(t, http.StatusOK, http.MethodGet, "/_node/n3@127.0.0.1/_all_dbs", nil, &names)
		for _, name := range names {
			if strings.HasPrefix(name, "shards/"+where.Range+"/big.") {
				status, _, body := c3.Do(t, http.MethodGet, "/_node/n3@127.0.0.1/"+url.PathEscape(name)+"/_local/ckpt", nil)
				return status == http.StatusOK && strings.Contains(string(body), `"seq":42`), fmt.Sprintf("%s: %d %s", name, status, body)
			}
		}
		return false, "no copy of range " + where.Range + " on n3"
	})
	want, _ := json.Marshal(sec)
	testnode.Eventually(t, 30*time.Second, 200*time.Millisecond, func() (bool, string) {
		c3 := nodes[2].Client()
		var names []string
		c3.ExpectJSON(t, http.StatusOK, http.MethodGet, "/_node/n3@127.0.0.1/_all_dbs", nil, &names)
		for _, name := range names {
			if !strings.HasPrefix(name, "shards/") || !strings.Contains(name, "/big.") {
				continue
			}
			_, got := c3.Expect(t, http.StatusOK, http.MethodGet, "/_node/n3@127.0.0.1/"+url.PathEscape(name)+"/_security", nil)
			var a, b any
			json.Unmarshal(got, &a)
			json.Unmarshal(want, &b)
			if !reflect.DeepEqual(a, b) {
				return false, fmt.Sprintf("%s on n3: _security %s, want %s", name, got, want)
			}
		}
		return true, ""
	})
}

// TestClusterSessionCookie: finish_cluster shares [chttpd_auth] secret, so
// a session cookie from one node authenticates on every node, as behind a
// load balancer.
func TestClusterSessionCookie(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t)
	status, hdr, body := nodes[0].AnonClient().Do(t, http.MethodPost, "/_session",
		map[string]any{"name": nodes[0].AdminUser(), "password": nodes[0].AdminPassword()}, "Content-Type", "application/json")
	if status != http.StatusOK {
		t.Fatalf("login: %d %s", status, body)
	}
	cookie, _, _ := strings.Cut(hdr.Get("Set-Cookie"), ";")
	for _, n := range nodes {
		_, body := n.AnonClient().Expect(t, http.StatusOK, http.MethodGet, "/_session", nil, "Cookie", cookie)
		var s struct {
			UserCtx struct {
				Name any `json:"name"`
			} `json:"userCtx"`
		}
		if json.Unmarshal(body, &s) != nil || s.UserCtx.Name != nodes[0].AdminUser() {
			t.Errorf("cookie from n1 on %s: %s", n.URL(), body)
		}
	}
}

// waitSeqHistory waits until, for every range of the packed seq read from
// node from's copies, via's copy records that from had all of via's
// changes by a seq the client has seen (cluster.ResumeSeq gives via's whole
// copy).
func waitSeqHistory(t *testing.T, n *testnode.Node, via, from, seq string) {
	t.Helper()
	entries, err := fabric.UnpackSeq(seq)
	if err != nil {
		t.Fatal(err)
	}
	c := n.Client()
	var names []string
	c.ExpectJSON(t, http.StatusOK, http.MethodGet, "/_node/"+via+"/_all_dbs", nil, &names)
	for _, e := range entries {
		if e.Node != from {
			t.Fatalf("seq entry for range %s read from %s, want %s's own copy", e.Range, e.Node, from)
		}
		var name string
		for _, nm := range names {
			if strings.HasPrefix(nm, "shards/"+e.Range.String()+"/big.") {
				name = nm
			}
		}
		testnode.Eventually(t, 30*time.Second, 100*time.Millisecond, func() (bool, string) {
			var info struct {
				DocCount int `json:"doc_count"`
			}
			c.ExpectJSON(t, http.StatusOK, http.MethodGet, "/_node/"+via+"/"+url.PathEscape(name), nil, &info)
			status, _, body := c.Do(t, http.MethodGet, "/_node/"+via+"/"+url.PathEscape(name)+"/"+cluster.SeqHistoryID(e.UUID), nil)
			var h struct {
				History []cluster.SeqPair `json:"history"`
			}
			if status != http.StatusOK || json.Unmarshal(body, &h) != nil {
				return false, fmt.Sprintf("%s history: %d %s", name, status, body)
			}
			for _, p := range h.History {
				// One change per doc in this test: a copy's seq is its count.
				if p.TargetSeq <= e.Seq && p.SourceSeq >= uint64(info.DocCount) {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%s on %s: history %v, copy has %d docs, client at %s seq %d", name, via, h.History, info.DocCount, from, e.Seq)
		})
	}
}
