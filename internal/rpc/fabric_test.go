package rpc

import (
	"fmt"
	"strings"
	"testing"

	"github.com/divandb/divan/cluster"
	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/couch"
)

// Internal replication dials remote copies through the Client.
var _ cluster.SyncCopy = (*RemoteCopy)(nil)

// TestFabricTwoNodes runs fabric on node n1 over a Router: its copies are
// local, n2's are reached over gRPC. A database with n=2 gets a copy of each
// range on both nodes; writes reach both, reads and changes work, and with
// n2 gone writes are accepted (202) and reads keep working from n1.
func TestFabricTwoNodes(t *testing.T) {
	ctx := t.Context()
	n1 := startNode(t, "n1@127.0.0.1")
	n2 := startNode(t, "n2@127.0.0.1")
	client := newClient(t, newResolver(n1, n2))
	cl, err := cluster.New(ctx, cluster.Config{NodeName: n1.name}, n1.store)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.PutMember(ctx, cluster.Member{Name: n2.name}); err != nil {
		t.Fatal(err)
	}
	f := fabric.New(fabric.Config{DefaultQ: 2, DefaultN: 2}, cl, NewRouter(n1.name, n1.store, client))

	if err := f.CreateDB(ctx, "db", fabric.CreateDBOptions{}); err != nil {
		t.Fatal(err)
	}
	remoteCopies, err := n2.store.List("shards/")
	if err != nil {
		t.Fatal(err)
	}
	if len(remoteCopies) != 2 {
		t.Fatalf("n2 holds copies %v, want one per range", remoteCopies)
	}

	var docs []*couch.Doc
	for i := range 20 {
		docs = append(docs, &couch.Doc{ID: fmt.Sprintf("doc%02d", i), Body: []byte(`{"i":` + fmt.Sprint(i) + `}`)})
	}
	res, err := f.UpdateDocs(ctx, "db", docs, fabric.WriteOptions{NewEdits: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil || r.Accepted {
			t.Fatalf("write %s: err %v accepted %v, want a full quorum", r.ID, r.Err, r.Accepted)
		}
	}
	var onN2 int64
	for _, name := range remoteCopies {
		sh, err := n2.store.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := sh.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		onN2 += info.DocCount
	}
	if onN2 != 20 {
		t.Fatalf("n2 holds %d documents, want 20", onN2)
	}

	rows := 0
	if _, err := f.Changes(ctx, "db", fabric.ChangesOptions{Limit: -1, IncludeDocs: true}, func(r fabric.ChangeRow) error {
		if r.Doc == nil || !strings.HasPrefix(string(r.Doc.Body), `{"i":`) {
			return fmt.Errorf("row %s without its document", r.ID)
		}
		rows++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if rows != 20 {
		t.Fatalf("changes has %d rows, want 20", rows)
	}

	n2.stop()
	res, err = f.UpdateDocs(ctx, "db", []*couch.Doc{{ID: "late", Body: []byte(`{}`)}}, fabric.WriteOptions{NewEdits: true})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || !res[0].Accepted {
		t.Fatalf("write with n2 down: err %v accepted %v, want accepted", res[0].Err, res[0].Accepted)
	}
	doc, err := f.OpenDoc(ctx, "db", "doc07", fabric.ReadOptions{})
	if err != nil {
		t.Fatalf("read with n2 down: %v", err)
	}
	if string(doc.Revisions[0].Body) != `{"i":7}` {
		t.Fatalf("read %s", doc.Revisions[0].Body)
	}
	info, err := f.DBInfo(ctx, "db")
	if err != nil {
		t.Fatalf("db info with n2 down: %v", err)
	}
	if info.DocCount != 21 {
		t.Fatalf("doc count %d, want 21", info.DocCount)
	}
}
