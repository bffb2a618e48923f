package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/divandb/divan/internal/auth"
	"github.com/divandb/divan/internal/testnode"
)

// In-process cluster tests: three nodes in this test process, each with its
// own badger store and real loopback listeners (HTTP, gossip, gRPC), joined
// with CouchDB's /_cluster_setup calls. They exercise the same code as the
// end-to-end tests without process start-up, and can stop and restart a
// node in place.

const (
	testAdmin    = "admin"
	testPassword = "pw"
)

// testNode is one in-process node and the data directory it restarts from.
type testNode struct {
	name string
	dir  string
	n    *Node
}

func (tn *testNode) url() string { return "http://" + tn.n.Addr().String() }

func (tn *testNode) start(t *testing.T, admins map[string]string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := Start(context.Background(), Config{
		DataDir: tn.dir, BindAddress: "127.0.0.1", NodeName: tn.name, Admins: admins,
		Listener: ln, RPCListener: rpcLn, ShutdownTimeout: 10 * time.Second,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("start %s: %v", tn.name, err)
	}
	tn.n = n
}

func (tn *testNode) stop(t *testing.T) {
	t.Helper()
	if tn.n == nil {
		return
	}
	if err := tn.n.Stop(context.Background()); err != nil {
		t.Errorf("stop %s: %v", tn.name, err)
	}
	tn.n = nil
}

// do sends a request as the admin and decodes a JSON answer into out.
func do(t *testing.T, tn *testNode, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, tn.url()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(testAdmin, testPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

// copies returns, per range, the sorted "id rev" pairs of db's copy on
// node, read through that node's node-local API.
func copies(t *testing.T, via *testNode, node, db string) map[string][]string {
	t.Helper()
	var names []string
	do(t, via, http.MethodGet, "/_node/"+node+"/_all_dbs", nil, &names)
	out := map[string][]string{}
	for _, name := range names {
		if !strings.HasPrefix(name, "shards/") || !strings.Contains(name, "/"+db+".") {
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
		do(t, via, http.MethodGet, "/_node/"+node+"/"+url.PathEscape(name)+"/_all_docs", nil, &res)
		var pairs []string
		for _, r := range res.Rows {
			pairs = append(pairs, r.ID+" "+r.Value.Rev)
		}
		sort.Strings(pairs)
		out[strings.Split(name, "/")[1]] = pairs
	}
	return out
}

func TestInProcessCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nodes")
	}
	hash, err := auth.HashPassword(testPassword, 10)
	if err != nil {
		t.Fatal(err)
	}
	admins := map[string]string{testAdmin: hash}
	nodes := make([]*testNode, 3)
	for i := range nodes {
		nodes[i] = &testNode{name: fmt.Sprintf("n%d@127.0.0.1", i+1), dir: t.TempDir()}
		nodes[i].start(t, admins)
	}
	t.Cleanup(func() {
		for _, tn := range nodes {
			tn.stop(t)
		}
	})
	n1 := nodes[0]

	// CouchDB's setup sequence, by HTTP address and credentials only.
	for _, tn := range nodes[1:] {
		_, port, _ := net.SplitHostPort(tn.n.Addr().String())
		if st := do(t, n1, http.MethodPost, "/_cluster_setup", map[string]any{
			"action": "add_node", "host": "127.0.0.1", "port": port,
			"username": testAdmin, "password": testPassword}, nil); st != http.StatusCreated {
			t.Fatalf("add_node %s: %d", tn.name, st)
		}
	}
	if st := do(t, n1, http.MethodPost, "/_cluster_setup", map[string]any{"action": "finish_cluster"}, nil); st != http.StatusCreated {
		t.Fatalf("finish_cluster: %d", st)
	}
	want := []string{nodes[0].name, nodes[1].name, nodes[2].name}
	for _, tn := range nodes {
		// Wait until the node sees every member.
		testnode.Eventually(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
			var m struct {
				All     []string `json:"all_nodes"`
				Cluster []string `json:"cluster_nodes"`
			}
			do(t, tn, http.MethodGet, "/_membership", nil, &m)
			return slices.Equal(m.All, want) && slices.Equal(m.Cluster, want), fmt.Sprint(m)
		})
	}

	// A q=4 n=3 database written through every node.
	if st := do(t, n1, http.MethodPut, "/db?q=4&n=3", nil, nil); st != http.StatusCreated {
		t.Fatalf("create db: %d", st)
	}
	write := func(tn *testNode, prefix string, count int) {
		t.Helper()
		var docs []map[string]any
		for i := range count {
			docs = append(docs, map[string]any{"_id": fmt.Sprintf("%s%04d", prefix, i), "i": i})
		}
		var res []struct {
			OK bool `json:"ok"`
		}
		st := do(t, tn, http.MethodPost, "/db/_bulk_docs", map[string]any{"docs": docs}, &res)
		if st != http.StatusCreated && st != http.StatusAccepted || len(res) != count {
			t.Fatalf("bulk via %s: %d, %d results", tn.name, st, len(res))
		}
	}
	for i, tn := range nodes {
		// Wait until the node sees the database.
		testnode.Eventually(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
			return do(t, tn, http.MethodGet, "/db", nil, nil) == http.StatusOK, ""
		})
		write(tn, fmt.Sprintf("w%d-", i), 200)
	}

	// One node stops: writes and reads go on through the others.
	nodes[2].stop(t)
	write(nodes[1], "down-", 100)
	var doc map[string]any
	if st := do(t, n1, http.MethodGet, "/db/down-0042", nil, &doc); st != http.StatusOK {
		t.Fatalf("read with a node down: %d", st)
	}

	// It returns from its data directory; every copy converges.
	nodes[2].start(t, admins)
	// Wait until every copy converged.
	testnode.Eventually(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		ref := copies(t, n1, nodes[0].name, "db")
		total := 0
		for _, pairs := range ref {
			total += len(pairs)
		}
		if total != 700 {
			return false, fmt.Sprintf("%s holds %d docs, want 700", nodes[0].name, total)
		}
		for _, tn := range nodes[1:] {
			got := copies(t, n1, tn.name, "db")
			for r, pairs := range ref {
				if !slices.Equal(got[r], pairs) {
					return false, fmt.Sprintf("range %s on %s: %d docs, %d on %s", r, tn.name, len(got[r]), len(pairs), nodes[0].name)
				}
			}
		}
		return true, ""
	})
	checkShardSeqs(t, n1, nodes[1].name, "db")
}

// checkShardSeqs reads one of db's copies on node through the node-local
// API and checks that its seqs are integers, as CouchDB gives them for a
// shard-level database, and that an integer since resumes its feed.
func checkShardSeqs(t *testing.T, via *testNode, node, db string) {
	t.Helper()
	var names []string
	do(t, via, http.MethodGet, "/_node/"+node+"/_all_dbs", nil, &names)
	var name string
	for _, nm := range names {
		if strings.HasPrefix(nm, "shards/") && strings.Contains(nm, "/"+db+".") {
			name = nm
			break
		}
	}
	path := "/_node/" + node + "/" + url.PathEscape(name)
	var info struct {
		DocCount  int64 `json:"doc_count"`
		UpdateSeq any   `json:"update_seq"`
		PurgeSeq  any   `json:"purge_seq"`
	}
	do(t, via, http.MethodGet, path, nil, &info)
	updateSeq, ok := info.UpdateSeq.(float64)
	if !ok || updateSeq < float64(info.DocCount) || info.PurgeSeq != float64(0) {
		t.Fatalf("%s info: update_seq %#v, purge_seq %#v (%d docs); want integers", name, info.UpdateSeq, info.PurgeSeq, info.DocCount)
	}
	type feed struct {
		Results []struct {
			ID  string `json:"id"`
			Seq any    `json:"seq"`
		} `json:"results"`
		LastSeq any `json:"last_seq"`
	}
	var all feed
	do(t, via, http.MethodGet, path+"/_changes", nil, &all)
	if len(all.Results) != int(info.DocCount) || all.LastSeq != updateSeq {
		t.Fatalf("%s _changes: %d rows, last_seq %#v; want %d rows and last_seq %v", name, len(all.Results), all.LastSeq, info.DocCount, updateSeq)
	}
	mid := len(all.Results) / 2
	since, ok := all.Results[mid].Seq.(float64)
	if !ok {
		t.Fatalf("%s _changes: seq %#v, want an integer", name, all.Results[mid].Seq)
	}
	var rest feed
	do(t, via, http.MethodGet, fmt.Sprintf("%s/_changes?since=%d", path, int64(since)), nil, &rest)
	if len(rest.Results) != len(all.Results)-mid-1 || rest.Results[0].ID != all.Results[mid+1].ID {
		t.Fatalf("%s _changes?since=%d: %d rows, want the %d after it", name, int64(since), len(rest.Results), len(all.Results)-mid-1)
	}
	var adocs struct {
		UpdateSeq any `json:"update_seq"`
	}
	do(t, via, http.MethodGet, path+"/_all_docs?update_seq=true&limit=0", nil, &adocs)
	if adocs.UpdateSeq != updateSeq {
		t.Fatalf("%s _all_docs update_seq %#v, want %v", name, adocs.UpdateSeq, updateSeq)
	}
}
