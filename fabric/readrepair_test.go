package fabric

import (
	"context"
	"testing"
	"time"

	"github.com/divandb/divan/cluster"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/shard"
)

// storesByNode reaches each node's copies in that node's own store: two
// real badger stores in one process, without a network between them.
type storesByNode map[string]*shard.Store

func (s storesByNode) Copy(ctx context.Context, node, name string) (Copy, error) {
	return LocalCopies{Self: node, Store: s[node]}.Copy(ctx, node, name)
}

func (s storesByNode) Handle(ctx context.Context, node, name string) (Copy, error) {
	return s.Copy(ctx, node, name)
}

func (s storesByNode) Create(ctx context.Context, node, name string, props []byte) error {
	return LocalCopies{Self: node, Store: s[node]}.Create(ctx, node, name, props)
}

func (s storesByNode) Delete(ctx context.Context, node, name string) error {
	return LocalCopies{Self: node, Store: s[node]}.Delete(ctx, node, name)
}

func TestReadRepair(t *testing.T) {
	ctx := context.Background()
	stores := storesByNode{}
	for _, n := range []string{"a@h", "b@h"} {
		s, err := shard.Open(ctx, shard.Options{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[n] = s
	}
	cl, err := cluster.New(ctx, cluster.Config{NodeName: "a@h"}, stores["a@h"])
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.PutMember(ctx, cluster.Member{Name: "b@h"}); err != nil {
		t.Fatal(err)
	}
	f := New(Config{}, cl, stores)
	if err := f.CreateDB(ctx, "db", CreateDBOptions{Q: 1, N: 2}); err != nil {
		t.Fatal(err)
	}
	m, err := cl.ShardMap(ctx, "db")
	if err != nil || m.N() != 2 {
		t.Fatalf("shard map: %+v %v", m, err)
	}
	name := m.ShardName(m.Ranges()[0])
	// A write that reached only a's copy.
	onlyA, err := stores["a@h"].Get(name)
	if err != nil {
		t.Fatal(err)
	}
	res, err := onlyA.Update(ctx, []*couch.Doc{{ID: "x", Body: []byte(`{"v":1}`)}}, couch.UpdateOptions{NewEdits: true})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	doc, err := f.OpenDoc(ctx, "db", "x", ReadOptions{})
	if err != nil || doc.Revisions[0].Rev != res[0].Rev {
		t.Fatalf("clustered read: %v %v", doc, err)
	}
	bCopy, err := stores["b@h"].Get(name)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := bCopy.Open(ctx, "x", couch.OpenOptions{})
		if err == nil && d.Revisions[0].Rev == res[0].Rev {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b's copy was not repaired: %v %v", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
