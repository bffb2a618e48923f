package rpc

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"

	"github.com/divandb/divan/shard"
)

// testNode is one node's storage served over gRPC on a loopback listener.
type testNode struct {
	name  string
	store *shard.Store
	extra []grpc.ServerOption
	srv   *Server
	addr  string
	stop  func() // stops serving, keeping the store
}

// startNode opens a store in a temp dir and serves it on 127.0.0.1:0 with
// the production server assembly plus extra options. It stops on cleanup.
func startNode(t testing.TB, name string, extra ...grpc.ServerOption) *testNode {
	t.Helper()
	store, err := shard.Open(t.Context(), shard.Options{Dir: t.TempDir(), MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{name: name, store: store, extra: extra}
	t.Cleanup(func() {
		n.stop()
		if err := store.Close(); err != nil {
			t.Errorf("close store of %s: %v", name, err)
		}
	})
	n.serve(t)
	return n
}

// serve serves the node's store on a new listener (a node restarting with
// its data, on a new port).
func (n *testNode) serve(t testing.TB) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := NewGRPCServer(nil, n.extra...)
	srv := NewServer(n.store, nil)
	srv.Register(g)
	served := make(chan error, 1)
	go func() { served <- g.Serve(lis) }()
	var once sync.Once
	n.srv, n.addr = srv, lis.Addr().String()
	n.stop = func() {
		once.Do(func() {
			srv.Close()
			g.Stop()
			if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				t.Errorf("serve %s: %v", n.name, err)
			}
		})
	}
}

// resolver maps node names to addresses; unknown nodes fail to resolve.
type resolver struct {
	mu    sync.Mutex
	addrs map[string]string
}

func newResolver(nodes ...*testNode) *resolver {
	r := &resolver{addrs: map[string]string{}}
	for _, n := range nodes {
		r.set(n.name, n.addr)
	}
	return r
}

func (r *resolver) set(node, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addrs[node] = addr
}

func (r *resolver) resolve(node string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.addrs[node]
	if !ok {
		return "", fmt.Errorf("unknown node %q", node)
	}
	return a, nil
}

// newClient returns a Client over r, closed on cleanup.
func newClient(t testing.TB, r *resolver, opts ...Option) *Client {
	t.Helper()
	c := NewClient(r.resolve, opts...)
	t.Cleanup(func() {
		if err := c.Close(); err != nil && !errors.Is(err, ErrClientClosed) {
			t.Errorf("close client: %v", err)
		}
	})
	return c
}

// mustCreate creates a shard copy in store.
func mustCreate(t testing.TB, store *shard.Store, name string) *shard.Shard {
	t.Helper()
	sh, err := store.Create(t.Context(), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}
