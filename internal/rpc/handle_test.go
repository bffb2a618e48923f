package rpc

import (
	"errors"
	"testing"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/shard"
)

// A handle is made without a call; its first call fails as Copy would.
func TestHandle(t *testing.T) {
	ctx := t.Context()
	const name = "shards/00000000-ffffffff/h.1"
	n2 := startNode(t, "n2")
	r := newResolver(n2)
	client := newClient(t, r)
	doc := []*couch.Doc{{ID: "a", Body: []byte(`{}`)}}

	h, err := client.Handle(ctx, "n2", name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Update(ctx, doc, couch.UpdateOptions{NewEdits: true}); !errors.Is(err, shard.ErrNoShard) {
		t.Fatalf("update through a handle on a missing copy: %v, want ErrNoShard", err)
	}
	mustCreate(t, n2.store, name)
	res, err := h.Update(ctx, doc, couch.UpdateOptions{NewEdits: true})
	if err != nil || res[0].Err != nil {
		t.Fatalf("update through a handle: %+v, %v", res, err)
	}
	if d, err := h.Open(ctx, "a", couch.OpenOptions{}); err != nil || len(d.Revisions) != 1 || d.Revisions[0].Rev != res[0].Rev {
		t.Fatalf("open through a handle: %+v, %v", d, err)
	}

	n2.stop()
	var ce *couch.Error
	if _, err := h.Open(ctx, "a", couch.OpenOptions{}); !errors.As(err, &ce) || ce.Code != couch.CodeNodeDown {
		t.Fatalf("open through a handle on a stopped node: %v, want nodedown", err)
	}
}
