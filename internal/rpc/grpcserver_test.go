package rpc

import (
	"context"
	"log/slog"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/divandb/divan/shard"
)

// TestRequestID checks that the caller's request id reaches the server's
// handler context, for unary and streaming calls, and that calls without
// one get a fresh id.
func TestRequestID(t *testing.T) {
	ctx := t.Context()
	seen := make(chan string, 4)
	unary := grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		seen <- RequestID(ctx) + "|" + shardOf(ctx)
		return h(ctx, req)
	})
	stream := grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		err := h(srv, ss)
		seen <- RequestID(ss.Context()) + "|" + shardOf(ss.Context())
		return err
	})
	n2 := startNode(t, "n2", unary, stream)
	mustCreate(t, n2.store, "s")
	client := newClient(t, newResolver(n2))
	rc, err := client.Dial(WithRequestID(ctx, "req-1"), n2.name, "s") // unary
	if err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got != "req-1|s" {
		t.Errorf("unary call saw %q, want req-1|s", got)
	}
	if err := rc.Docs(WithRequestID(ctx, "req-2"), shard.DocsQuery{Limit: -1}, func(shard.DocRow) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got != "req-2|s" {
		t.Errorf("stream call saw %q, want req-2|s", got)
	}
	if _, err := rc.Info(ctx); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; len(got) < 8 || got[len(got)-2:] != "|s" {
		t.Errorf("call without id saw %q, want a generated id", got)
	}
}

// TestRecover checks that a panicking handler becomes codes.Internal
// instead of taking the node down.
func TestRecover(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	_, err := recoverUnary(log)(t.Context(), nil, &grpc.UnaryServerInfo{FullMethod: "/t/Unary"},
		func(context.Context, any) (any, error) { panic("boom") })
	if status.Code(err) != codes.Internal {
		t.Errorf("unary: %v, want codes.Internal", err)
	}
	err = recoverStream(log)(nil, &headerStream{ctx: t.Context()}, &grpc.StreamServerInfo{FullMethod: "/t/Stream"},
		func(any, grpc.ServerStream) error { panic("boom") })
	if status.Code(err) != codes.Internal {
		t.Errorf("stream: %v, want codes.Internal", err)
	}
}
