package cluster

import (
	"context"
	"slices"
	"testing"

	"github.com/divandb/divan/shard"
)

func TestMembersInNodesDB(t *testing.T) {
	ctx := context.Background()
	store, err := shard.Open(ctx, shard.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	c, err := New(ctx, Config{NodeName: "a@h", Zone: "z1"}, store)
	if err != nil {
		t.Fatal(err)
	}
	members, err := c.Members(ctx)
	if err != nil || len(members) != 1 || members[0] != (Member{Name: "a@h", Zone: "z1"}) {
		t.Fatalf("fresh node members = %+v, %v", members, err)
	}
	if err := c.PutMember(ctx, Member{Name: "b@h"}); err != nil {
		t.Fatal(err)
	}
	if err := c.PutMember(ctx, Member{Name: "c@h", Decom: true}); err != nil {
		t.Fatal(err)
	}
	nodes, err := c.Nodes(ctx)
	if err != nil || !slices.Equal(nodes, []string{"a@h", "b@h"}) {
		t.Fatalf("Nodes = %v, %v (decom excluded)", nodes, err)
	}
	// Restarting keeps the members and does not duplicate self.
	c2, err := New(ctx, Config{NodeName: "a@h"}, store)
	if err != nil {
		t.Fatal(err)
	}
	if members, _ := c2.Members(ctx); len(members) != 3 {
		t.Fatalf("after restart: %+v", members)
	}
}
