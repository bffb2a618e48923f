package rpc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/shard"
)

// fill writes n documents with bodies of about size bytes to sh.
func fill(t testing.TB, sh *shard.Shard, prefix string, n, size int) {
	t.Helper()
	pad := strings.Repeat("x", size)
	for start := 0; start < n; start += 1000 {
		var docs []*couch.Doc
		for i := start; i < min(n, start+1000); i++ {
			docs = append(docs, &couch.Doc{ID: fmt.Sprintf("%s%06d", prefix, i), Body: []byte(`{"pad":"` + pad + `"}`)})
		}
		res, err := sh.Update(t.Context(), docs, couch.UpdateOptions{NewEdits: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
}

// handlerResult is how a stream handler returned and how many messages it
// tried to send.
type handlerResult struct {
	err   error
	sends int
}

type countingStream struct {
	grpc.ServerStream
	sends int
}

func (s *countingStream) SendMsg(m any) error {
	s.sends++
	return s.ServerStream.SendMsg(m)
}

// handlerDone reports how every stream handler of a server returned.
func handlerDone() (grpc.ServerOption, <-chan handlerResult) {
	done := make(chan handlerResult, 16)
	return grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		cs := &countingStream{ServerStream: ss}
		err := h(srv, cs)
		done <- handlerResult{err, cs.sends}
		return err
	}), done
}

// streamRows is the size of the streamed data set: its changes rows alone
// (~20 bytes each) must be several times gRPC's smallest flow-control
// window (64 KiB), or a server could send them all before noticing that
// the client stopped reading.
const streamRows = 12000

// fullSends is how many messages a full read of streamRows rows takes.
const fullSends = (streamRows + streamBatchRows - 1) / streamBatchRows

// TestStreamEarlyStop stops Docs and Changes reads after a few rows and
// requires the server to stop too: its handler must return an error without
// having tried to send every row (flow control holds it back long before).
func TestStreamEarlyStop(t *testing.T) {
	ctx := t.Context()
	opt, done := handlerDone()
	n2 := startNode(t, "n2", opt)
	const name = "s"
	fill(t, mustCreate(t, n2.store, name), "d", streamRows, 1000)
	// A fixed 64 KiB window: the server blocks long before it is done.
	client := newClient(t, newResolver(n2), WithDialOptions(
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10)))
	rc, err := client.Dial(ctx, n2.name, name)
	if err != nil {
		t.Fatal(err)
	}
	errStop := errors.New("enough")
	tests := []struct {
		name string
		read func(fn func() error) error
	}{
		{"docs", func(fn func() error) error {
			return rc.Docs(ctx, shard.DocsQuery{Limit: -1, IncludeDocs: true}, func(shard.DocRow) error { return fn() })
		}},
		{"changes", func(fn func() error) error {
			return rc.Changes(ctx, 0, func(shard.Change) error { return fn() })
		}},
		{"changes descending", func(fn func() error) error {
			return rc.ChangesDescending(ctx, 0, func(shard.Change) error { return fn() })
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows := 0
			err := tc.read(func() error {
				if rows++; rows == 10 {
					return errStop
				}
				return nil
			})
			if err != errStop {
				t.Fatalf("read returned %v, want the callback's error as it is", err)
			}
			stoppedEarly(t, done)
		})
	}
	t.Run("caller cancels", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		rows := 0
		err := rc.Docs(cctx, shard.DocsQuery{Limit: -1, IncludeDocs: true}, func(shard.DocRow) error {
			if rows++; rows == 10 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("read returned %v, want context.Canceled", err)
		}
		stoppedEarly(t, done)
	})
	t.Run("full read", func(t *testing.T) {
		n := 0
		if err := rc.Changes(ctx, 0, func(shard.Change) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != streamRows {
			t.Fatalf("read %d changes, want %d", n, streamRows)
		}
		if res := <-done; res.err != nil || res.sends != fullSends {
			t.Fatalf("handler of a full read returned %v after %d sends, want nil after %d", res.err, res.sends, fullSends)
		}
	})
}

func stoppedEarly(t testing.TB, done <-chan handlerResult) {
	t.Helper()
	select {
	case res := <-done:
		if res.err == nil || res.sends >= fullSends {
			t.Fatalf("server handler returned %v after %d of %d sends, want an error before the end", res.err, res.sends, fullSends)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server handler still running after the client stopped")
	}
}

// waitClosed fails unless ch closes within a generous bound.
func waitClosed(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: Changed channel not closed", what)
	}
}

func requireOpen(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("%s: Changed channel closed without a write", what)
	default:
	}
}

func write(t testing.TB, sh *shard.Shard, id string) {
	t.Helper()
	res, err := sh.Update(t.Context(), []*couch.Doc{{ID: id, Body: []byte(`{}`)}}, couch.UpdateOptions{NewEdits: true})
	if err != nil || res[0].Err != nil {
		t.Fatalf("write %s: %v %v", id, err, res)
	}
}

// TestWatchChanges checks that a remote copy's Changed channel closes after
// each committed write, as a local copy's does, across re-established
// streams and node restarts.
func TestWatchChanges(t *testing.T) {
	ctx := t.Context()
	n2 := startNode(t, "n2")
	sh := mustCreate(t, n2.store, "s")
	r := newResolver(n2)
	client := newClient(t, r)
	rc, err := client.Dial(ctx, n2.name, "s")
	if err != nil {
		t.Fatal(err)
	}

	ch := rc.Changed()
	requireOpen(t, ch, "first")
	write(t, sh, "a")
	waitClosed(t, ch, "after a write")

	ch = rc.Changed()
	requireOpen(t, ch, "second")
	other, err := client.Dial(ctx, n2.name, "s")
	if err != nil {
		t.Fatal(err)
	}
	if other.Changed() != ch {
		t.Error("handles on one copy do not share the watch")
	}
	write(t, sh, "b")
	waitClosed(t, ch, "after another write")

	// A write between taking a handle and asking for Changed counts.
	rc, err = client.Dial(ctx, n2.name, "s")
	if err != nil {
		t.Fatal(err)
	}
	write(t, sh, "c")
	waitClosed(t, rc.Changed(), "write before Changed")

	// The node restarts on a new port: the watch comes back by itself and
	// a write made while it was down is not missed.
	ch = rc.Changed()
	n2.stop()
	write(t, sh, "d")
	n2.serve(t)
	r.set(n2.name, n2.addr)
	waitClosed(t, ch, "write while the node was down")

	// A purge that removes a document entirely changes only purge_seq.
	ch = rc.Changed()
	requireOpen(t, ch, "before purge")
	doc, err := sh.Open(ctx, "d", couch.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sh.Purge(ctx, map[string][]couch.Rev{"d": {doc.Revisions[0].Rev}}); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, ch, "after a purge")

	// Closing the client wakes whoever still waits.
	ch = rc.Changed()
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, ch, "client closed")
	waitClosed(t, rc.Changed(), "Changed on a closed client")
}
