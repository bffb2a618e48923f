package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"time"

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
	requireSameState(t, a, b)
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
	requireSameState(t, a, b)
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

// A recent write the target does not hold yet is left for a later push,
// with everything after it; what comes before is pushed. Once the target
// has it, it is skipped like any other write both copies hold.
func TestPushHoldsWritesInFlight(t *testing.T) {
	ctx := context.Background()
	a, b := twoCopies(t)
	write(t, a, &couch.Doc{ID: "before", Body: []byte(`{}`)}) // no receipt: compared
	inFlight := couch.NewWriteID()
	writeBoth(t, inFlight, []*shard.Shard{a}, newDocs(0, 5)) // b has not got it yet
	write(t, a, &couch.Doc{ID: "after", Body: []byte(`{}`)})

	tgt := &countingTarget{SyncCopy: b}
	pending, err := push(ctx, a, "a@h", tgt, "b@h", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if pending != 6 || tgt.asked != 1 {
		t.Fatalf("push with a write in flight: %d pending, asked about %d; want 6 pending, asked about 1 (before)", pending, tgt.asked)
	}
	if _, err := b.Open(ctx, "after", couch.OpenOptions{}); !errors.Is(err, couch.ErrNotFound) {
		t.Fatalf("after on b: %v; want not found until the held write is pushed", err)
	}

	writeBoth(t, inFlight, []*shard.Shard{b}, newDocs(0, 5)) // it lands
	tgt.asked = 0
	if pending, err := push(ctx, a, "a@h", tgt, "b@h", time.Minute); err != nil || pending != 0 {
		t.Fatalf("push once the write landed: %d pending, %v", pending, err)
	}
	if tgt.asked != 1 {
		t.Errorf("target asked about %d documents, want 1 (after)", tgt.asked)
	}
	requireSameState(t, a, b)
}

// A write the target never gets is pushed once it is older than the hold.
func TestPushSendsWritesNoLongerInFlight(t *testing.T) {
	ctx := context.Background()
	a, b := twoCopies(t)
	writeBoth(t, couch.NewWriteID(), []*shard.Shard{a}, newDocs(0, 5))
	time.Sleep(20 * time.Millisecond)
	tgt := &countingTarget{SyncCopy: b}
	if pending, err := push(ctx, a, "a@h", tgt, "b@h", 10*time.Millisecond); err != nil || pending != 0 {
		t.Fatalf("push: %d pending, %v", pending, err)
	}
	if tgt.asked != 5 {
		t.Errorf("target asked about %d documents, want 5", tgt.asked)
	}
	requireSameState(t, a, b)
}

// Random writes reach random subsets of three copies under shared
// WriteIDs, with conflicts, replicated branches and pushes in between;
// after every pair has been pushed, the copies must be identical. Receipts
// may only ever save work, never leave a revision behind.
func TestPushWithReceiptsConverges(t *testing.T) {
	for seed := int64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			ctx := context.Background()
			rng := rand.New(rand.NewSource(seed))
			a, b := twoCopies(t)
			c, _ := twoCopies(t)
			copies := []*shard.Shard{a, b, c}
			names := []string{"a@h", "b@h", "c@h"}
			winner := func(sh *shard.Shard, id string) couch.Rev {
				doc, err := sh.Open(ctx, id, couch.OpenOptions{})
				if err != nil {
					return couch.Rev{}
				}
				return doc.Revisions[0].Rev
			}
			for step := range 300 {
				switch op := rng.Intn(10); {
				case op < 6: // a coordinated write to some of the copies
					var to []*shard.Shard
					for _, cp := range copies {
						if rng.Intn(10) < 8 {
							to = append(to, cp)
						}
					}
					if len(to) == 0 {
						continue
					}
					var docs []*couch.Doc
					seen := map[string]bool{}
					for range 1 + rng.Intn(4) {
						id := fmt.Sprintf("d%02d", rng.Intn(25))
						if seen[id] {
							continue
						}
						seen[id] = true
						// The parent a coordinator would send: what one
						// copy (maybe one that misses this write) holds.
						docs = append(docs, &couch.Doc{ID: id, Rev: winner(copies[rng.Intn(3)], id),
							Body: []byte(fmt.Sprintf(`{"step":%d}`, step))})
					}
					w := couch.NewWriteID()
					for _, cp := range to {
						batch := make([]*couch.Doc, len(docs))
						for i, d := range docs {
							dd := *d
							batch[i] = &dd
						}
						if _, err := cp.Update(ctx, batch, couch.UpdateOptions{NewEdits: true, WriteID: w}); err != nil {
							t.Fatal(err)
						}
					}
				case op < 7: // a replicated branch on one copy only
					id := fmt.Sprintf("d%02d", rng.Intn(25))
					rev := couch.Rev{Pos: 1 + rng.Intn(3), ID: fmt.Sprintf("%032x", rng.Int63())}
					if _, err := copies[rng.Intn(3)].Update(ctx, []*couch.Doc{{ID: id, Rev: rev, Body: []byte(`{"branch":true}`)}},
						couch.UpdateOptions{NewEdits: false}); err != nil {
						t.Fatal(err)
					}
				default: // internal replication between two copies
					i, j := rng.Intn(3), rng.Intn(3)
					if i == j {
						continue
					}
					// Half the pushes hold back every write the target
					// lacks, as the syncer's do for recent ones.
					var inFlight time.Duration
					if rng.Intn(2) == 0 {
						inFlight = time.Hour
					}
					if _, err := push(ctx, copies[i], names[i], copies[j], names[j], inFlight); err != nil {
						t.Fatal(err)
					}
				}
			}
			for range 2 {
				for i := range copies {
					for j := range copies {
						if i != j {
							if _, err := Push(ctx, copies[i], names[i], copies[j], names[j]); err != nil {
								t.Fatal(err)
							}
						}
					}
				}
			}
			sa := state(t, a)
			for i, cp := range copies[1:] {
				if s := state(t, cp); !reflect.DeepEqual(sa, s) {
					t.Fatalf("copy %s differs from a:\na %v\n%s %v", names[i+1], sa, names[i+1], s)
				}
			}
		})
	}
}

// requireSameState fails the test unless both copies hold the same
// documents and revisions.
func requireSameState(t *testing.T, a, b *shard.Shard) {
	t.Helper()
	if sa, sb := state(t, a), state(t, b); !reflect.DeepEqual(sa, sb) {
		t.Fatalf("copies differ after push:\na %v\nb %v", sa, sb)
	}
}
