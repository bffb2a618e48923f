package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/shard"
)

// TestErrorMapping sends errors through the server's and the client's
// mapping and requires the same text and the same identity back.
func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name string
		err  error
		is   []error
	}{
		{"conflict", couch.ErrConflict, []error{couch.ErrConflict}},
		{"wrapped not found", fmt.Errorf("read a in s: %w", couch.ErrNotFound), []error{couch.ErrNotFound, couch.ErrDeleted}},
		{"deleted", couch.ErrDeleted, []error{couch.ErrDeleted}},
		{"bad rev", couch.ErrBadRev, []error{couch.ErrBadRev}},
		{"forbidden", couch.Errorf(couch.CodeForbidden, "no %s", "way"), []error{&couch.Error{Code: couch.CodeForbidden}}},
		{"unmapped couch code", couch.Errorf(couch.CodeDocValidation, "bad"), []error{&couch.Error{Code: couch.CodeDocValidation}}},
		{"unavailable couch code", couch.ErrUnavailable, []error{couch.ErrUnavailable}},
		{"no shard", shard.ErrNoShard, []error{shard.ErrNoShard}},
		{"wrapped shard exists", fmt.Errorf("create: %w", shard.ErrShardExists), []error{shard.ErrShardExists}},
		{"closed", shard.ErrClosed, []error{shard.ErrClosed}},
		{"plain", errors.New("shard: revs_limit 0 must be positive"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := fromStatus(context.Background(), "n2", "Test", toStatus(tc.err))
			if got.Error() != tc.err.Error() {
				t.Errorf("text %q, want %q", got, tc.err)
			}
			for _, target := range tc.is {
				if !errors.Is(got, target) {
					t.Errorf("errors.Is(%v, %v) = false", got, target)
				}
			}
			var want, have *couch.Error
			if errors.As(tc.err, &want) {
				if !errors.As(got, &have) || *have != *want {
					t.Errorf("couch error %#v, want %#v", have, want)
				}
			}
			// Per-document errors travel inline the same way.
			if inline := errorFromProto(errorToProto(tc.err)); inline.Error() != tc.err.Error() {
				t.Errorf("inline text %q, want %q", inline, tc.err)
			}
		})
	}
	t.Run("context", func(t *testing.T) {
		for _, target := range []error{context.Canceled, context.DeadlineExceeded} {
			got := fromStatus(context.Background(), "n2", "Test", toStatus(fmt.Errorf("scan: %w", target)))
			if !errors.Is(got, target) {
				t.Errorf("got %v, want %v", got, target)
			}
		}
	})
}

// TestCopies covers the Copies half of the service: create, open, delete,
// with the errors LocalCopies gives.
func TestCopies(t *testing.T) {
	ctx := t.Context()
	n2 := startNode(t, "n2")
	client := newClient(t, newResolver(n2))
	local := fabric.LocalCopies{Self: "n2", Store: n2.store}
	const name = "shards/00000000-ffffffff/c.1"

	_, lerr := local.Copy(ctx, "n2", name)
	_, rerr := client.Copy(ctx, "n2", name)
	sameError(t, lerr, rerr)
	if !errors.Is(rerr, shard.ErrNoShard) {
		t.Fatalf("copy of missing shard: %v, want ErrNoShard", rerr)
	}
	if err := client.Create(ctx, "n2", name, []byte(`{"partitioned":true}`)); err != nil {
		t.Fatal(err)
	}
	if err := client.Create(ctx, "n2", name, nil); !errors.Is(err, shard.ErrShardExists) {
		t.Fatalf("create of existing shard: %v, want ErrShardExists", err)
	}
	c, err := client.Copy(ctx, "n2", name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := n2.store.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	if info.UUID != sh.UUID() || string(info.Props) != `{"partitioned":true}` {
		t.Fatalf("info %+v, want uuid %s and props", info, sh.UUID())
	}
	if err := client.Delete(ctx, "n2", name); err != nil {
		t.Fatal(err)
	}
	if err := client.Delete(ctx, "n2", name); !errors.Is(err, shard.ErrNoShard) {
		t.Fatalf("delete of missing shard: %v, want ErrNoShard", err)
	}
	// A handle outliving its copy sees what a local one would.
	if _, err := c.Info(ctx); !errors.Is(err, shard.ErrNoShard) {
		t.Fatalf("info of deleted copy: %v, want ErrNoShard", err)
	}
}

// blackhole accepts TCP connections and never answers: a hung node.
func blackhole(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = lis.Close()
		wg.Wait()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return lis.Addr().String()
}

// TestNodeDown checks that unreachable nodes yield couch's nodedown quickly
// and that the caller's deadline is respected.
func TestNodeDown(t *testing.T) {
	ctx := t.Context()
	n2 := startNode(t, "n2")
	n2.stop() // nothing listens on its address any more
	r := newResolver(n2)
	r.set("hung", blackhole(t))
	client := newClient(t, r, WithConnectTimeout(300*time.Millisecond))

	isDown := func(t *testing.T, err error, node string) {
		t.Helper()
		var ce *couch.Error
		if !errors.As(err, &ce) || ce.Code != couch.CodeNodeDown || ce.Reason != node+" is down" {
			t.Fatalf("error %v, want nodedown %q", err, node+" is down")
		}
	}
	tests := []struct {
		name string
		node string
		max  time.Duration
	}{
		{"refused", "n2", time.Second},
		{"not resolvable", "n9", 100 * time.Millisecond},
		{"hung", "hung", 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 2 { // the second call hits the failed connection
				start := time.Now()
				_, err := client.Copy(ctx, tc.node, "s")
				isDown(t, err, tc.node)
				if d := time.Since(start); d > tc.max {
					t.Errorf("call %d took %v, want < %v", i, d, tc.max)
				}
				isDown(t, client.Create(ctx, tc.node, "s", nil), tc.node)
			}
		})
	}
	t.Run("deadline", func(t *testing.T) {
		slow := newClient(t, r, WithConnectTimeout(time.Minute))
		dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := slow.Copy(dctx, "hung", "s")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want deadline exceeded", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("took %v, want about 100ms", d)
		}
	})
	t.Run("node moved", func(t *testing.T) {
		n2.serve(t) // same data, new port
		r.set(n2.name, n2.addr)
		if err := n2.store.Delete(ctx, "s"); err != nil && !errors.Is(err, shard.ErrNoShard) {
			t.Fatal(err)
		}
		if err := client.Create(ctx, n2.name, "s", nil); err != nil {
			t.Fatalf("create after move: %v", err)
		}
	})
}
