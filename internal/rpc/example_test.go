package rpc_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rpc"
	"github.com/divandb/divan/shard"
)

// Node n2 serves its store; node n1 reaches n2's copies through a Router.
func ExampleNewRouter() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "divan-rpc-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// n2: a store served over gRPC.
	store2, err := shard.Open(ctx, shard.Options{Dir: dir + "/n2"})
	if err != nil {
		log.Fatal(err)
	}
	defer store2.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	g := rpc.NewGRPCServer(nil)
	srv := rpc.NewServer(store2, nil)
	srv.Register(g)
	served := make(chan error, 1)
	go func() { served <- g.Serve(lis) }()
	defer func() {
		srv.Close()
		rpc.GracefulStop(ctx, g)
		<-served
	}()

	// n1: its own store, and a client resolving n2's address.
	store1, err := shard.Open(ctx, shard.Options{Dir: dir + "/n1"})
	if err != nil {
		log.Fatal(err)
	}
	defer store1.Close()
	client := rpc.NewClient(func(node string) (string, error) {
		if node == "n2@127.0.0.1" {
			return lis.Addr().String(), nil
		}
		return "", fmt.Errorf("unknown node %s", node)
	})
	defer client.Close()
	copies := rpc.NewRouter("n1@127.0.0.1", store1, client)

	if err := copies.Create(ctx, "n2@127.0.0.1", "shards/00000000-ffffffff/db.1", nil); err != nil {
		log.Fatal(err)
	}
	c, err := copies.Copy(ctx, "n2@127.0.0.1", "shards/00000000-ffffffff/db.1")
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Update(ctx, []*couch.Doc{{ID: "a", Body: []byte(`{"x":1}`)}}, couch.UpdateOptions{NewEdits: true})
	if err != nil {
		log.Fatal(err)
	}
	doc, err := c.Open(ctx, "a", couch.OpenOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res[0].Rev.Pos, string(doc.Revisions[0].Body))

	_, err = copies.Copy(ctx, "n3@127.0.0.1", "shards/00000000-ffffffff/db.1")
	fmt.Println(err)
	// Output:
	// 1 {"x":1}
	// open copy shards/00000000-ffffffff/db.1 on n3@127.0.0.1: nodedown: n3@127.0.0.1 is down (unknown node n3@127.0.0.1)
}
