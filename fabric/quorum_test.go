package fabric

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/divandb/divan/cluster"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/shard"
)

// The quorum tests run a three-node cluster in one process: three real
// badger stores, reached through storesByNode, with one node's copies
// slowed down by a gate. The gate only adds latency: what a copy stores and
// answers is the real shard's.

const (
	nodeA, nodeB, nodeC = "a@h", "b@h", "c@h"
	// prompt is how long an answer that must not wait for the slow copy
	// may take; far below the gates' waits and the request timeouts below.
	prompt = 2 * time.Second
)

// gate holds back calls to a slow copy until released or until the
// call's ctx ends, as a silent node does to an RPC.
type gate struct {
	release chan struct{}
	entered chan struct{} // one value per call that reached the gate
}

func newGate() *gate {
	return &gate{release: make(chan struct{}), entered: make(chan struct{}, 64)}
}

func (g *gate) wait(ctx context.Context) error {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// slowCopy is a real shard copy whose Update and Open wait at a gate first.
type slowCopy struct {
	Copy
	g *gate
}

func (s slowCopy) Update(ctx context.Context, docs []*couch.Doc, opts couch.UpdateOptions) ([]couch.UpdateResult, error) {
	if err := s.g.wait(ctx); err != nil {
		return nil, err
	}
	return s.Copy.Update(ctx, docs, opts)
}

func (s slowCopy) Open(ctx context.Context, id string, opts couch.OpenOptions) (*couch.Document, error) {
	if err := s.g.wait(ctx); err != nil {
		return nil, err
	}
	return s.Copy.Open(ctx, id, opts)
}

// slowNode reaches every node's copies in its own store, those of node
// slow through a gate.
type slowNode struct {
	storesByNode
	slow string
	g    *gate
}

func (s slowNode) Copy(ctx context.Context, node, name string) (Copy, error) {
	c, err := s.storesByNode.Copy(ctx, node, name)
	if err != nil || node != s.slow {
		return c, err
	}
	return slowCopy{Copy: c, g: s.g}, nil
}

func (s slowNode) Handle(ctx context.Context, node, name string) (Copy, error) {
	return s.Copy(ctx, node, name)
}

// quorumCluster is a fabric over three nodes' stores with node c slow,
// and the single range of its database "db" (q=1, n=3).
type quorumCluster struct {
	f      *Fabric
	stores storesByNode
	g      *gate
	shard  string // the shard name of db's only range
	// goroutines is the count once everything was set up.
	goroutines int
}

func newQuorumCluster(t *testing.T, requestTimeout time.Duration) *quorumCluster {
	t.Helper()
	return newQuorumClusterConfig(t, Config{RequestTimeout: requestTimeout})
}

func newQuorumClusterConfig(t *testing.T, cfg Config) *quorumCluster {
	t.Helper()
	ctx := context.Background()
	qc := &quorumCluster{stores: storesByNode{}, g: newGate()}
	for _, n := range []string{nodeA, nodeB, nodeC} {
		s, err := shard.Open(ctx, shard.Options{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		qc.stores[n] = s
	}
	cl, err := cluster.New(ctx, cluster.Config{NodeName: nodeA}, qc.stores[nodeA])
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{nodeB, nodeC} {
		if err := cl.PutMember(ctx, cluster.Member{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	qc.f = New(cfg, cl, slowNode{storesByNode: qc.stores, slow: nodeC, g: qc.g})
	if err := qc.f.CreateDB(ctx, "db", CreateDBOptions{Q: 1, N: 3}); err != nil {
		t.Fatal(err)
	}
	m, err := cl.ShardMap(ctx, "db")
	if err != nil || m.N() != 3 {
		t.Fatalf("shard map: %+v %v", m, err)
	}
	qc.shard = m.ShardName(m.Ranges()[0])
	// Warm up every copy (and badger's own goroutines) before counting.
	for _, n := range []string{nodeA, nodeB, nodeC} {
		if _, err := qc.copyOn(t, n).Update(ctx, []*couch.Doc{{ID: "warmup", Body: []byte(`{}`)}}, couch.UpdateOptions{NewEdits: true}); err != nil {
			t.Fatal(err)
		}
	}
	qc.goroutines = runtime.NumGoroutine()
	return qc
}

// copyOn returns node's copy of db, ungated.
func (qc *quorumCluster) copyOn(t *testing.T, node string) *shard.Shard {
	t.Helper()
	sh, err := qc.stores[node].Get(qc.shard)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

// revOn returns the winning rev of doc id on node's copy, or the error.
func (qc *quorumCluster) revOn(t *testing.T, node, id string) (couch.Rev, error) {
	t.Helper()
	d, err := qc.copyOn(t, node).Open(context.Background(), id, couch.OpenOptions{})
	if err != nil {
		return couch.Rev{}, err
	}
	return d.Revisions[0].Rev, nil
}

// checkNoLeak waits for the fabric's background work and then for the
// goroutine count to fall back to what it was after setup.
func (qc *quorumCluster) checkNoLeak(t *testing.T) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		qc.f.bg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("fabric background work still running after 10s")
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > qc.goroutines {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, %d after setup:\n%s", runtime.NumGoroutine(), qc.goroutines, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func write(ctx context.Context, f *Fabric, w int, docs ...*couch.Doc) ([]DocResult, time.Duration, error) {
	start := time.Now()
	res, err := f.UpdateDocs(ctx, "db", docs, WriteOptions{NewEdits: true, W: w})
	return res, time.Since(start), err
}

// A write answers as soon as w=2 copies agree, without waiting for the
// third; the third still gets the write once it stops stalling.
func TestWriteAnswersAtQuorum(t *testing.T) {
	ctx := context.Background()
	qc := newQuorumCluster(t, time.Minute)
	res, took, err := write(ctx, qc.f, 0,
		&couch.Doc{ID: "x", Body: []byte(`{"v":1}`)}, &couch.Doc{ID: "y", Body: []byte(`{"v":2}`)})
	if err != nil {
		t.Fatal(err)
	}
	if took > prompt {
		t.Errorf("w=2 write took %v with one copy stalled", took)
	}
	for _, r := range res {
		if r.Err != nil || r.Accepted || r.Rev.Pos != 1 {
			t.Fatalf("result %+v, want ok at quorum", r)
		}
	}
	for _, n := range []string{nodeA, nodeB} {
		if rev, err := qc.revOn(t, n, "x"); err != nil || rev != res[0].Rev {
			t.Fatalf("x on %s: %v %v", n, rev, err)
		}
	}
	select {
	case <-qc.g.entered:
	case <-time.After(prompt):
		t.Fatal("the slow copy was never asked")
	}
	if _, err := qc.revOn(t, nodeC, "x"); !errors.Is(err, couch.ErrNotFound) {
		t.Fatalf("x on the stalled copy before release: %v", err)
	}

	// The straggling write lands once the copy answers.
	close(qc.g.release)
	qc.f.bg.Wait()
	for i, id := range []string{"x", "y"} {
		if rev, err := qc.revOn(t, nodeC, id); err != nil || rev != res[i].Rev {
			t.Fatalf("%s on the released copy: %v %v, want %v", id, rev, err, res[i].Rev)
		}
	}
	qc.checkNoLeak(t)
}

// With w=3 the write waits for the stalled copy; when it never answers
// (the request timeout ends its call) the two copies that wrote make it
// accepted (202), and a conflict waits as long and stays a conflict.
func TestWriteAllCopiesWaitsForStalledCopy(t *testing.T) {
	ctx := context.Background()
	const timeout = 300 * time.Millisecond
	qc := newQuorumCluster(t, timeout)
	res, took, err := write(ctx, qc.f, 3, &couch.Doc{ID: "x", Body: []byte(`{"v":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	if took < timeout || took > timeout+prompt {
		t.Errorf("w=3 write took %v, want the request timeout %v", took, timeout)
	}
	if r := res[0]; r.Err != nil || !r.Accepted || r.Rev.Pos != 1 {
		t.Fatalf("result %+v, want accepted", r)
	}
	if _, err := qc.revOn(t, nodeC, "x"); !errors.Is(err, couch.ErrNotFound) {
		t.Fatalf("x on the timed-out copy: %v", err)
	}

	// Recreating x conflicts on a and b; the stalled copy might still
	// have accepted it, so the outcome waits for it too.
	res, took, err = write(ctx, qc.f, 0, &couch.Doc{ID: "x", Body: []byte(`{"v":2}`)})
	if err != nil {
		t.Fatal(err)
	}
	if took < timeout {
		t.Errorf("conflicting write took %v, want the request timeout %v", took, timeout)
	}
	if r := res[0]; !errors.Is(r.Err, couch.ErrConflict) {
		t.Fatalf("result %+v, want conflict", r)
	}
	qc.checkNoLeak(t)
}

// Every copy failing fails the write with their errors.
func TestWriteNoCopyAnswers(t *testing.T) {
	qc := newQuorumCluster(t, time.Minute)
	ctx := context.Background()
	f := New(Config{}, qc.f.cl, LocalCopies{Self: "nobody@h"}) // every node is down
	_, err := f.UpdateDocs(ctx, "db", []*couch.Doc{{ID: "x", Body: []byte(`{}`)}}, WriteOptions{NewEdits: true})
	if !errors.Is(err, couch.Errorf(couch.CodeNodeDown, "")) || !strings.Contains(err.Error(), "write to db range") {
		t.Fatalf("write with no copy: %v", err)
	}
	qc.checkNoLeak(t)
}

// A request whose ctx ends while waiting fails, but the writes it started
// go on: copies that are merely slow still get them.
func TestWriteOutlivesCancelledRequest(t *testing.T) {
	qc := newQuorumCluster(t, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, _, err := write(ctx, qc.f, 3, &couch.Doc{ID: "x", Body: []byte(`{"v":1}`)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write past its deadline: %v", err)
	}
	close(qc.g.release)
	qc.f.bg.Wait()
	for _, n := range []string{nodeA, nodeB, nodeC} {
		if _, err := qc.revOn(t, n, "x"); err != nil {
			t.Fatalf("x on %s: %v", n, err)
		}
	}
	qc.checkNoLeak(t)
}

// A read answers once r=2 copies agree, found or not, without waiting for
// a stalled third copy.
func TestReadAnswersAtQuorum(t *testing.T) {
	ctx := context.Background()
	qc := newQuorumCluster(t, time.Minute)
	res, _, err := write(ctx, qc.f, 0, &couch.Doc{ID: "x", Body: []byte(`{"v":1}`)})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	start := time.Now()
	doc, err := qc.f.OpenDoc(ctx, "db", "x", ReadOptions{})
	if err != nil || doc.Revisions[0].Rev != res[0].Rev {
		t.Fatalf("read: %v %v", doc, err)
	}
	if _, err := qc.f.OpenDoc(ctx, "db", "nope", ReadOptions{}); !errors.Is(err, couch.ErrNotFound) {
		t.Fatalf("read of a missing doc: %v", err)
	}
	if took := time.Since(start); took > prompt {
		t.Errorf("r=2 reads took %v with one copy stalled", took)
	}

	// r=3 waits for the stalled copy, which answers once released.
	time.AfterFunc(100*time.Millisecond, func() { close(qc.g.release) })
	start = time.Now()
	doc, err = qc.f.OpenDoc(ctx, "db", "x", ReadOptions{R: 3})
	if err != nil || doc.Revisions[0].Rev != res[0].Rev {
		t.Fatalf("r=3 read: %v %v", doc, err)
	}
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Errorf("r=3 read took %v, before the stalled copy was released", took)
	}
	qc.checkNoLeak(t)
}

// TestWriteRacingReplication: a copy that internal replication reached
// before the write (it holds the very revision the write creates) agrees
// with the write instead of conflicting, so w=3 is met (201); a copy
// holding another revision is a genuine conflict and the write is
// accepted (202), as in CouchDB.
func TestWriteRacingReplication(t *testing.T) {
	ctx := context.Background()
	qc := newQuorumCluster(t, time.Minute)
	close(qc.g.release) // every copy answers
	put := func(node, id, body string) {
		t.Helper()
		res, err := qc.copyOn(t, node).Update(ctx, []*couch.Doc{{ID: id, Body: []byte(body)}}, couch.UpdateOptions{NewEdits: true})
		if err != nil || res[0].Err != nil {
			t.Fatalf("put %s on %s: %v %v", id, node, err, res[0].Err)
		}
	}
	put(nodeB, "raced", `{"v":1}`)     // replication got there first
	put(nodeB, "taken", `{"other":1}`) // a different edit

	res, _, err := write(ctx, qc.f, 3,
		&couch.Doc{ID: "raced", Body: []byte(`{"v":1}`)},
		&couch.Doc{ID: "taken", Body: []byte(`{"v":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Err != nil || r.Accepted {
		t.Errorf("raced: %+v, want ok (201) with all three copies holding the revision", r)
	}
	if r := res[1]; r.Err != nil || !r.Accepted {
		t.Errorf("taken: %+v, want accepted (202): one copy holds a conflicting edit", r)
	}
	qc.checkNoLeak(t)
}

// With its write window full, a node that is slow but not written off holds
// back the next write: the coordinator does not queue a second batch
// for it while the first is unanswered. Once the node answers, the held
// write goes out and lands there too.
func TestWindowHoldsBackWritesToASlowNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A one-byte window lets one write at a time be in flight to a node.
	qc := newQuorumClusterConfig(t, Config{RequestTimeout: time.Minute, NodeWriteWindow: 1, WindowStall: time.Minute, WindowMaxWait: time.Minute})
	first, took, err := write(ctx, qc.f, 0, &couch.Doc{ID: "x", Body: []byte(`{"v":1}`)})
	if err != nil || first[0].Err != nil || first[0].Accepted {
		t.Fatalf("first write: %+v %v", first, err)
	}
	if took > prompt {
		t.Errorf("first w=2 write took %v with one copy stalled", took)
	}
	type outcome struct {
		res []DocResult
		err error
	}
	second := make(chan outcome, 1)
	go func() {
		res, _, err := write(ctx, qc.f, 0, &couch.Doc{ID: "y", Body: []byte(`{"v":2}`)})
		second <- outcome{res, err}
	}()
	select {
	case o := <-second:
		t.Fatalf("second write answered (%+v, %v) while the slow node's window was full", o.res, o.err)
	case <-time.After(300 * time.Millisecond):
	}
	close(qc.g.release)
	var o outcome
	select {
	case o = <-second:
	case <-time.After(prompt):
		t.Fatal("second write still held after the slow node answered")
	}
	if o.err != nil || o.res[0].Err != nil || o.res[0].Accepted {
		t.Fatalf("second write: %+v %v", o.res, o.err)
	}
	qc.f.bg.Wait()
	for _, d := range []struct {
		id  string
		rev couch.Rev
	}{{"x", first[0].Rev}, {"y", o.res[0].Rev}} {
		if rev, err := qc.revOn(t, nodeC, d.id); err != nil || rev != d.rev {
			t.Fatalf("%s on the slow node: %v %v, want %v", d.id, rev, err, d.rev)
		}
	}
	qc.checkNoLeak(t)
}

// holdsWrite starts a w=2 write of doc id in the background and checks that
// it does not answer within 300 ms; the returned channel gets its outcome.
func holdsWrite(ctx context.Context, t *testing.T, f *Fabric, id string) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		res, _, err := write(ctx, f, 0, &couch.Doc{ID: id, Body: []byte(`{}`)})
		if err == nil && (res[0].Err != nil || res[0].Accepted) {
			err = fmt.Errorf("result %+v, want ok at quorum", res[0])
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("write of %s answered (%v) while the slow node's window was full", id, err)
	case <-time.After(300 * time.Millisecond):
	}
	return done
}

// answered waits for a held write's outcome.
func answered(t *testing.T, done <-chan error, within time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(within):
		t.Fatalf("held write still unanswered after %v", within)
	}
}

// The window is backpressure, never a reason to drop a copy: a node whose
// full window sees no write succeed for the stall time stops being waited
// for, and once it is in that state writes do not wait at all. Every copy
// is still sent its write and gets it when the node answers.
func TestWindowStopsWaitingForHungNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const stall = 2 * time.Second
	qc := newQuorumClusterConfig(t, Config{RequestTimeout: time.Minute, NodeWriteWindow: 1, WindowStall: stall, WindowMaxWait: time.Minute})
	if res, _, err := write(ctx, qc.f, 0, &couch.Doc{ID: "x", Body: []byte(`{"v":1}`)}); err != nil || res[0].Err != nil {
		t.Fatalf("first write: %+v %v", res, err)
	}
	answered(t, holdsWrite(ctx, t, qc.f, "y"), stall+prompt)
	res, took, err := write(ctx, qc.f, 0, &couch.Doc{ID: "z", Body: []byte(`{"v":3}`)})
	if err != nil || res[0].Err != nil || res[0].Accepted {
		t.Fatalf("write while c hangs: %+v %v", res, err)
	}
	if took > stall/2 {
		t.Errorf("write to a node that stopped answering took %v; it should not wait the stall time again", took)
	}
	close(qc.g.release)
	qc.f.bg.Wait()
	for _, id := range []string{"x", "y", "z"} {
		if _, err := qc.revOn(t, nodeC, id); err != nil {
			t.Fatalf("%s on the node that hung: %v, want every copy sent", id, err)
		}
	}
	qc.checkNoLeak(t)
}

// A write larger than the whole window waits only for half of it to be
// free, and no write waits longer than WindowMaxWait, so a big write is
// not starved by smaller ones in flight.
func TestWindowBoundsTheWait(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	small := &couch.Doc{ID: "small", Body: []byte(`{}`)}
	window := int64(3 * small.Size())
	qc := newQuorumClusterConfig(t, Config{RequestTimeout: time.Minute, NodeWriteWindow: window, WindowStall: time.Minute, WindowMaxWait: time.Minute})
	if res, _, err := write(ctx, qc.f, 0, small); err != nil || res[0].Err != nil {
		t.Fatalf("small write: %+v %v", res, err)
	}
	// A third of the window is in flight to c: a write of twice the window
	// needs only half of it.
	big := &couch.Doc{ID: "big", Body: []byte(`{"pad":"` + strings.Repeat("x", int(2*window)) + `"}`)}
	if res, took, err := write(ctx, qc.f, 0, big); err != nil || res[0].Err != nil || took > prompt {
		t.Fatalf("write bigger than the window with a third of it in flight: %+v %v after %v", res, err, took)
	}
	close(qc.g.release)
	qc.f.bg.Wait()

	// Now the window is full and c, held again, keeps it so: the wait ends
	// at WindowMaxWait.
	const maxWait = 500 * time.Millisecond
	qc2 := newQuorumClusterConfig(t, Config{RequestTimeout: time.Minute, NodeWriteWindow: 1, WindowStall: time.Minute, WindowMaxWait: maxWait})
	if res, _, err := write(ctx, qc2.f, 0, small); err != nil || res[0].Err != nil {
		t.Fatalf("first write: %+v %v", res, err)
	}
	answered(t, holdsWrite(ctx, t, qc2.f, "held"), maxWait+prompt)
	close(qc2.g.release)
	qc2.f.bg.Wait()
	if _, err := qc2.revOn(t, nodeC, "held"); err != nil {
		t.Fatalf("the write that waited out WindowMaxWait is not on c: %v", err)
	}
	qc2.checkNoLeak(t)
}
