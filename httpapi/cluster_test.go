package httpapi

import (
	"context"

	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/divandb/divan/cluster"
	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/couch"
)

// fakeCluster is a ClusterView with fixed answers.
type fakeCluster struct {
	all, members []string
	addrs        map[string]string // node -> HTTP address
	down         map[string]bool
	self         NodeInfo
	shards       map[string]map[string][]string

	mu      sync.Mutex
	joined  []NodeInfo
	synced  []string
	joinErr error
}

func (f *fakeCluster) Membership(context.Context) ([]string, []string, error) {
	return f.all, f.members, nil
}

func (f *fakeCluster) NodeHTTPAddr(node string) (string, bool, bool) {
	addr, ok := f.addrs[node]
	return addr, ok, ok && !f.down[node]
}

func (f *fakeCluster) SelfInfo() NodeInfo { return f.self }

func (f *fakeCluster) Join(_ context.Context, info NodeInfo) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.joined = append(f.joined, info)
	return f.joinErr
}

func (f *fakeCluster) Shards(_ context.Context, db string) (map[string][]string, error) {
	m, ok := f.shards[db]
	if !ok {
		return nil, couch.ErrNoDB
	}
	return m, nil
}

func (f *fakeCluster) SyncShards(_ context.Context, db string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.synced = append(f.synced, db)
	return nil
}

// createBackend is stubBackend that also records CreateDB calls (and then
// knows the db).
type createBackend struct {
	stubBackend
	mu      *sync.Mutex
	created *[]string
}

func newCreateBackend(dbs ...string) createBackend {
	return createBackend{stubBackend: stubBackend{dbs: dbs}, mu: &sync.Mutex{}, created: new([]string)}
}

func (c createBackend) Security(ctx context.Context, db string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range *c.created {
		if d == db {
			return []byte("{}"), nil
		}
	}
	return c.stubBackend.Security(ctx, db)
}

func (c createBackend) CreateDB(_ context.Context, name string, _ fabric.CreateDBOptions) error {
	if c.has(name) {
		return couch.ErrDBExists
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	*c.created = append(*c.created, name)
	return nil
}

func (c createBackend) createdDBs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), *c.created...)
}

func newClusterAPI(t *testing.T, b Backend, mutate func(*Config)) *API {
	t.Helper()
	cfg := DefaultConfig()
	cfg.NodeName = "n1@127.0.0.1"
	cfg.ServerUUID = "0123456789abcdef0123456789abcdef"
	cfg.Authenticate = func(u, p string) (bool, bool) {
		ok := u == testUser && p == testPass
		return ok, ok
	}
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := New(cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func expectBody(t *testing.T, r result, status int, body string) {
	t.Helper()
	if r.status != status || r.body != body+"\n" {
		t.Fatalf("got %d %q, want %d %q", r.status, r.body, status, body)
	}
}

func TestMembership(t *testing.T) {
	single := newClusterAPI(t, stubBackend{}, nil)
	expectBody(t, call(single, http.MethodGet, "/_membership", "", "auth", ""), 200,
		`{"all_nodes":["n1@127.0.0.1"],"cluster_nodes":["n1@127.0.0.1"]}`)
	expectError(t, call(single, http.MethodPost, "/_membership", "", "auth", ""), 405, "method_not_allowed", "Only GET allowed")
	expectError(t, call(single, http.MethodGet, "/_membership", ""), 401, "unauthorized", "You are not a server admin.")

	fc := &fakeCluster{all: []string{"n2@h", "n1@127.0.0.1"}, members: []string{"n3@h", "n2@h", "n1@127.0.0.1"}}
	a := newClusterAPI(t, stubBackend{}, func(c *Config) { c.Cluster = fc })
	expectBody(t, call(a, http.MethodGet, "/_membership", "", "auth", ""), 200,
		`{"all_nodes":["n1@127.0.0.1","n2@h"],"cluster_nodes":["n1@127.0.0.1","n2@h","n3@h"]}`)
	if fc.all[0] != "n2@h" {
		t.Error("membership sorted the ClusterView's slice in place")
	}
}

func TestShards(t *testing.T) {
	m := map[string][]string{
		"80000000-ffffffff": {"n2@h", "n1@h"},
		"00000000-7fffffff": {"n1@h", "n3@h"},
	}
	fc := &fakeCluster{shards: map[string]map[string][]string{"db": m}}
	a := newClusterAPI(t, stubBackend{dbs: []string{"db"}}, func(c *Config) { c.Cluster = fc })
	expectBody(t, call(a, http.MethodGet, "/db/_shards", "", "auth", ""), 200,
		`{"shards":{"00000000-7fffffff":["n1@h","n3@h"],"80000000-ffffffff":["n1@h","n2@h"]}}`)

	for _, id := range []string{"foo", "bar", "_design/x", "a b"} {
		want := `{"range":"00000000-7fffffff","nodes":["n1@h","n3@h"]}`
		if cluster.Hash(id) >= 0x80000000 {
			want = `{"range":"80000000-ffffffff","nodes":["n1@h","n2@h"]}`
		}
		expectBody(t, call(a, http.MethodGet, "/db/_shards/"+strings.ReplaceAll(strings.ReplaceAll(id, "/", "%2F"), " ", "%20"), "", "auth", ""), 200, want)
	}
	expectError(t, call(a, http.MethodGet, "/nodb/_shards", "", "auth", ""), 404, "not_found", "Database does not exist.")
	expectError(t, call(a, http.MethodPost, "/db/_shards", "", "auth", ""), 405, "method_not_allowed", "Only GET allowed")
	expectError(t, call(a, http.MethodPost, "/nodb/_shards", "", "auth", ""), 404, "not_found", "Database does not exist.")
	expectError(t, call(a, http.MethodGet, "/db/_shards", ""), 401, "unauthorized", "You are not authorized to access this db.")

	expectBody(t, call(a, http.MethodPost, "/db/_sync_shards", "", "auth", ""), 202, `{"ok":true}`)
	if len(fc.synced) != 1 || fc.synced[0] != "db" {
		t.Errorf("synced %v", fc.synced)
	}
	expectError(t, call(a, http.MethodGet, "/db/_sync_shards", "", "auth", ""), 405, "method_not_allowed", "Only POST allowed")
	expectError(t, call(a, http.MethodPost, "/nodb/_sync_shards", "", "auth", ""), 404, "not_found", "Database does not exist.")
	expectError(t, call(a, http.MethodPost, "/db/_sync_shards", ""), 401, "unauthorized", "You are not a server admin.")

	single := newClusterAPI(t, stubBackend{dbs: []string{"db"}}, nil)
	expectBody(t, call(single, http.MethodGet, "/db/_shards", "", "auth", ""), 200, `{"shards":{"00000000-ffffffff":["n1@127.0.0.1"]}}`)
	expectBody(t, call(single, http.MethodGet, "/db/_shards/x", "", "auth", ""), 200, `{"range":"00000000-ffffffff","nodes":["n1@127.0.0.1"]}`)
	expectBody(t, call(single, http.MethodPost, "/db/_sync_shards", "", "auth", ""), 202, `{"ok":true}`)
}

func TestShardForDoc(t *testing.T) {
	m := map[string][]string{}
	for _, r := range cluster.Ranges(8) {
		m[r.String()] = []string{"b", "a"}
	}
	for _, id := range []string{"", "x", "d00042", "_local/z"} {
		rng, nodes, ok := shardForDoc(m, id)
		pr, err := cluster.ParseRange(rng)
		if !ok || err != nil || !pr.Contains(cluster.Hash(id)) || strings.Join(nodes, ",") != "a,b" {
			t.Errorf("%q: %s %v %v", id, rng, nodes, ok)
		}
	}
	if _, _, ok := shardForDoc(map[string][]string{"garbage": {"a"}}, "x"); ok {
		t.Error("unparsable range matched")
	}
}
