package cluster

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/shard"
)

// countingTarget counts the documents internal replication asks a target
// about.
type countingTarget struct {
	SyncCopy
	asked int
}

func (c *countingTarget) RevsDiff(ctx context.Context, revs map[string][]couch.Rev) (map[string]shard.RevsDiff, error) {
	c.asked += len(revs)
	return c.SyncCopy.RevsDiff(ctx, revs)
}

// writeBoth sends docs to both copies as fabric does: one write, one
// WriteID.
func writeBoth(t *testing.T, id couch.WriteID, copies []*shard.Shard, docs func() []*couch.Doc) []couch.UpdateResult {
	t.Helper()
	var first []couch.UpdateResult
	for _, c := range copies {
		res, err := c.Update(context.Background(), docs(), couch.UpdateOptions{NewEdits: true, WriteID: id})
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = res
		}
	}
	return first
}

func newDocs(from, to int) func() []*couch.Doc {
	return func() []*couch.Doc {
		var docs []*couch.Doc
		for i := from; i < to; i++ {
			docs = append(docs, &couch.Doc{ID: fmt.Sprintf("d%05d", i), Body: []byte(fmt.Sprintf(`{"i":%d}`, i))})
		}
		return docs
	}
}

// Writes both copies committed alike are not compared again; what only the
// source has still is.
func TestPushSkipsWritesBothCopiesHold(t *testing.T) {
	ctx := context.Background()
	a, b := twoCopies(t)
	for i := range 3 {
		writeBoth(t, couch.NewWriteID(), []*shard.Shard{a, b}, newDocs(i*700, (i+1)*700))
	}
	write(t, a, &couch.Doc{ID: "only-a", Body: []byte(`{}`)}) // no receipt
	tgt := &countingTarget{SyncCopy: b}
	if pending, err := Push(ctx, a, "a@h", tgt, "b@h"); err != nil || pending != 0 {
		t.Fatalf("push: %d %v", pending, err)
	}
	if tgt.asked != 1 {
		t.Errorf("target asked about %d documents, want 1 (only-a)", tgt.asked)
	}
	if sa, sb := state(t, a), state(t, b); !reflect.DeepEqual(sa, sb) {
		t.Fatalf("copies differ after push: %d vs %d docs", len(sa), len(sb))
	}
}

// A write both copies committed alike still leaves the source's document
// to compare when it held more before the write than the target is known
// to have: here a conflict branch only the source has, which the write's
// seq replaced in the source's changes.
func TestPushComparesWhatTheTargetMayLackFromBefore(t *testing.T) {
	ctx := context.Background()
	a, b := twoCopies(t)
	res := writeBoth(t, couch.NewWriteID(), []*shard.Shard{a, b}, newDocs(0, 1))
	rev := res[0].Rev
	branch := couch.Rev{Pos: 1, ID: "ffffffffffffffffffffffffffffffff"}
	if r, err := a.Update(ctx, []*couch.Doc{{ID: "d00000", Rev: branch, Body: []byte(`{"branch":1}`)}},
		couch.UpdateOptions{NewEdits: false}); err != nil || r[0].Err != nil {
		t.Fatalf("conflict on a: %v %v", err, r)
	}
	writeBoth(t, couch.NewWriteID(), []*shard.Shard{a, b}, func() []*couch.Doc {
		return []*couch.Doc{{ID: "d00000", Rev: rev, Body: []byte(`{"i":1}`)}}
	})
	if _, err := Push(ctx, a, "a@h", b, "b@h"); err != nil {
		t.Fatal(err)
	}
	if sa, sb := state(t, a), state(t, b); !reflect.DeepEqual(sa, sb) {
		t.Fatalf("copies differ after push:\na %v\nb %v", sa, sb)
	}
}

// A write the copies did not commit alike (a conflict on one) is compared.
func TestPushComparesWritesWithOtherResults(t *testing.T) {
	ctx := context.Background()
	a, b := twoCopies(t)
	write(t, b, &couch.Doc{ID: "d00003", Body: []byte(`{"b":1}`)}) // a conflict for the write on b
	writeBoth(t, couch.NewWriteID(), []*shard.Shard{a, b}, newDocs(0, 5))
	tgt := &countingTarget{SyncCopy: b}
	if _, err := Push(ctx, a, "a@h", tgt, "b@h"); err != nil {
		t.Fatal(err)
	}
	if tgt.asked != 5 {
		t.Errorf("target asked about %d documents, want all 5", tgt.asked)
	}
	doc, err := b.Open(ctx, "d00003", couch.OpenOptions{AllLeaves: true})
	if err != nil || len(doc.Revisions) != 2 {
		t.Fatalf("d00003 on b: %v, %d leaves; want a's revision beside b's", err, len(doc.Revisions))
	}
}
