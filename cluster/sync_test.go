package cluster

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/shard"
)

func twoCopies(t *testing.T) (*shard.Shard, *shard.Shard) {
	t.Helper()
	ctx := context.Background()
	var out []*shard.Shard
	for range 2 {
		s, err := shard.Open(ctx, shard.Options{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		sh, err := s.Create(ctx, "shards/00000000-ffffffff/db.1", nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sh)
	}
	return out[0], out[1]
}

func write(t *testing.T, sh *shard.Shard, d *couch.Doc) couch.Rev {
	t.Helper()
	res, err := sh.Update(context.Background(), []*couch.Doc{d}, couch.UpdateOptions{NewEdits: true})
	if err != nil || res[0].Err != nil {
		t.Fatalf("write %s: %v %v", d.ID, err, res[0].Err)
	}
	return res[0].Rev
}

// state is a copy's docs: id -> every leaf with its body and attachments.
func state(t *testing.T, sh *shard.Shard) map[string][]string {
	t.Helper()
	ctx := context.Background()
	out := map[string][]string{}
	err := sh.Changes(ctx, 0, func(c shard.Change) error {
		doc, err := sh.Open(ctx, c.ID, couch.OpenOptions{AllLeaves: true})
		if err != nil {
			return err
		}
		for _, r := range doc.Revisions {
			out[c.ID] = append(out[c.ID], fmt.Sprintf("%s del=%v %s %v", r.Rev, r.Deleted, r.Body, r.Atts))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPushConverges(t *testing.T) {
	ctx := context.Background()
	a, b := twoCopies(t)
	for i := range 1200 { // more than two batches
		write(t, a, &couch.Doc{ID: fmt.Sprintf("d%04d", i), Body: []byte(fmt.Sprintf(`{"i":%d}`, i))})
	}
	atts, _ := couch.ParseAttachments([]byte(`{"f.txt":{"content_type":"text/plain","data":"aGVsbG8="}}`), couch.DefaultAttachmentPolicy())
	r := write(t, a, &couch.Doc{ID: "att", Body: []byte(`{}`), Atts: atts})
	del := write(t, a, &couch.Doc{ID: "gone", Body: []byte(`{}`)})
	write(t, a, &couch.Doc{ID: "gone", Rev: del, Deleted: true, Body: []byte(`{}`)})

	if pending, err := Push(ctx, a, "a@h", b, "b@h"); err != nil || pending != 0 {
		t.Fatalf("push: %d %v", pending, err)
	}
	requireSameState(t, a, b)
	doc, err := b.Open(ctx, "att", couch.OpenOptions{})
	if err != nil || doc.Revisions[0].Rev != r {
		t.Fatalf("att doc on b: %v %v", doc, err)
	}
	if data, err := b.AttachmentData(ctx, doc.Revisions[0].Atts[0].Digest); err != nil || len(data) == 0 {
		t.Fatalf("attachment data on b: %v", err)
	}

	// Concurrent edits of the same doc on both copies become a conflict on
	// both after pushing both ways, with the same winner.
	ra, _ := a.Open(ctx, "d0001", couch.OpenOptions{})
	write(t, a, &couch.Doc{ID: "d0001", Rev: ra.Revisions[0].Rev, Body: []byte(`{"by":"a"}`)})
	write(t, b, &couch.Doc{ID: "d0001", Rev: ra.Revisions[0].Rev, Body: []byte(`{"by":"b"}`)})
	if _, err := Push(ctx, a, "a@h", b, "b@h"); err != nil {
		t.Fatal(err)
	}
	if _, err := Push(ctx, b, "b@h", a, "a@h"); err != nil {
		t.Fatal(err)
	}
	if sa, sb := state(t, a), state(t, b); !reflect.DeepEqual(sa, sb) {
		t.Fatalf("copies differ after two-way push")
	}
	da, _ := a.Open(ctx, "d0001", couch.OpenOptions{})
	if len(da.Tree.Conflicts()) != 1 {
		t.Fatalf("conflict lost: leaves %v", da.Tree.Leaves())
	}
	// A second push finds nothing to do (checkpointed).
	before, _ := b.Info(ctx)
	if _, err := Push(ctx, a, "a@h", b, "b@h"); err != nil {
		t.Fatal(err)
	}
	after, _ := b.Info(ctx)
	if after.UpdateSeq != before.UpdateSeq {
		t.Fatalf("idle push wrote to the target: seq %d -> %d", before.UpdateSeq, after.UpdateSeq)
	}
}

// TestPushSecurity: a copy that missed a _security setting gets it from a
// push in either direction, and an older setting never overwrites a newer.
func TestPushSecurity(t *testing.T) {
	ctx := context.Background()
	a, b := twoCopies(t)
	if _, err := a.SetSecurity(ctx, []byte(`{"members":{"names":["old"]}}`), 100); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SetSecurity(ctx, []byte(`{"members":{"names":["new"]}}`), 200); err != nil {
		t.Fatal(err)
	}
	for _, dir := range [][2]*shard.Shard{{a, b}, {b, a}} {
		if _, err := Push(ctx, dir[0], "n1", dir[1], "n2"); err != nil {
			t.Fatal(err)
		}
	}
	for _, sh := range []*shard.Shard{a, b} {
		sec, version, err := sh.Security(ctx)
		if err != nil || version != 200 || string(sec) != `{"members":{"names":["new"]}}` {
			t.Errorf("%p: security %s version %d %v; want the newer setting", sh, sec, version, err)
		}
	}
}

// TestSeqHistoryResume: after a push, the source knows up to which of its
// seqs the target had everything, and by which target seq; a feed read
// from the target up to that seq resumes on the source there, earlier
// reads from 0, and another target's history is never used.
func TestSeqHistoryResume(t *testing.T) {
	ctx := context.Background()
	src, tgt := twoCopies(t)
	for i := range 5 {
		write(t, src, &couch.Doc{ID: fmt.Sprintf("a%d", i), Body: []byte(`{}`)})
	}
	write(t, tgt, &couch.Doc{ID: "t-only", Body: []byte(`{}`)}) // a change of the target's own
	if _, err := Push(ctx, src, "n1", tgt, "n2"); err != nil {
		t.Fatal(err)
	}
	tinfo, _ := tgt.Info(ctx)
	sinfo, _ := src.Info(ctx)
	prefix := tinfo.UUID[:UUIDPrefixLen]
	if got := ResumeSeq(ctx, src, prefix, tinfo.UpdateSeq); got != sinfo.UpdateSeq {
		t.Errorf("resume at target seq %d: %d, want the source's %d", tinfo.UpdateSeq, got, sinfo.UpdateSeq)
	}
	if got := ResumeSeq(ctx, src, prefix, 1); got != 0 {
		t.Errorf("resume from a target seq before the push: %d, want 0 (replay)", got)
	}
	if got := ResumeSeq(ctx, src, "fffffff", tinfo.UpdateSeq); got != 0 {
		t.Errorf("resume for an unknown copy: %d, want 0", got)
	}

	// A second round: the history keeps both points.
	for i := range 3 {
		write(t, src, &couch.Doc{ID: fmt.Sprintf("b%d", i), Body: []byte(`{}`)})
	}
	if _, err := Push(ctx, src, "n1", tgt, "n2"); err != nil {
		t.Fatal(err)
	}
	tinfo2, _ := tgt.Info(ctx)
	sinfo2, _ := src.Info(ctx)
	if got := ResumeSeq(ctx, src, prefix, tinfo2.UpdateSeq); got != sinfo2.UpdateSeq {
		t.Errorf("after the second push: %d, want %d", got, sinfo2.UpdateSeq)
	}
	if got := ResumeSeq(ctx, src, prefix, tinfo.UpdateSeq); got != sinfo.UpdateSeq {
		t.Errorf("from the first point: %d, want %d", got, sinfo.UpdateSeq)
	}
}

// TestPushLocalDocs: _local documents (replication checkpoints) reach the
// other copy; the later write wins, and copies pushing both ways end up the
// same.
func TestPushLocalDocs(t *testing.T) {
	ctx := context.Background()
	a, b := twoCopies(t)
	write(t, b, &couch.Doc{ID: "_local/ckpt", Body: []byte(`{"seq":"old"}`)})
	write(t, b, &couch.Doc{ID: "_local/only-b", Body: []byte(`{"x":1}`)})
	for i := range 3 {
		write(t, a, &couch.Doc{ID: "_local/ckpt", Rev: localRev(i), Body: []byte(fmt.Sprintf(`{"seq":%d}`, i))})
	}
	for _, dir := range [][2]*shard.Shard{{a, b}, {b, a}} {
		if _, err := Push(ctx, dir[0], "n1", dir[1], "n2"); err != nil {
			t.Fatal(err)
		}
	}
	for _, sh := range []*shard.Shard{a, b} {
		for id, want := range map[string]string{"_local/ckpt": `0-3 {"seq":2}`, "_local/only-b": `0-1 {"x":1}`} {
			doc, err := sh.Open(ctx, id, couch.OpenOptions{})
			if err != nil {
				t.Fatalf("%s on %s: %v", id, sh.Name(), err)
			}
			if got := doc.Revisions[0].Rev.String() + " " + string(doc.Revisions[0].Body); got != want {
				t.Errorf("%s on %s: %s, want %s", id, sh.Name(), got, want)
			}
		}
	}
}

// TestPushLocalDocDeletion: a _local document deleted while one copy was
// away stays deleted when that copy comes back and pushes first; the
// deletion reaches it; writing the document again (0-1, as in CouchDB)
// brings it back on both.
func TestPushLocalDocDeletion(t *testing.T) {
	a, b := twoCopies(t)
	rev := write(t, a, &couch.Doc{ID: "_local/ckpt", Body: []byte(`{"seq":1}`)})
	pushLocalBoth(t, a, b)
	write(t, a, &couch.Doc{ID: "_local/ckpt", Rev: rev, Deleted: true}) // b is away

	pushLocalBoth(t, b, a) // b comes back and pushes first
	for _, sh := range []*shard.Shard{a, b} {
		if got := openLocal(t, sh, "_local/ckpt"); got != "missing" {
			t.Errorf("deleted _local/ckpt on %s: %s, want missing", sh.Name(), got)
		}
	}

	write(t, b, &couch.Doc{ID: "_local/ckpt", Body: []byte(`{"seq":2}`)})
	pushLocalBoth(t, b, a)
	for _, sh := range []*shard.Shard{a, b} {
		if got, want := openLocal(t, sh, "_local/ckpt"), `0-1 {"seq":2}`; got != want {
			t.Errorf("rewritten _local/ckpt on %s: %s, want %s", sh.Name(), got, want)
		}
	}
}

// TestPushLocalDocLaterWriteWins: the later write of a _local document
// wins between copies whatever its "0-N": a write without _rev that reached
// one copy, and a rewrite on a copy that never saw the deletion before it,
// both survive the other copy's push.
func TestPushLocalDocLaterWriteWins(t *testing.T) {
	a, b := twoCopies(t)
	rev := localRev(0)
	for i := range 5 {
		rev = write(t, a, &couch.Doc{ID: "_local/n", Rev: rev, Body: []byte(fmt.Sprintf(`{"i":%d}`, i))})
	}
	pushLocalBoth(t, a, b)
	write(t, a, &couch.Doc{ID: "_local/n", Body: []byte(`{"reset":true}`)}) // 0-1, a only
	pushLocalBoth(t, b, a)
	for _, sh := range []*shard.Shard{a, b} {
		if got, want := openLocal(t, sh, "_local/n"), `0-1 {"reset":true}`; got != want {
			t.Errorf("_local/n on %s: %s, want %s", sh.Name(), got, want)
		}
	}

	r := write(t, a, &couch.Doc{ID: "_local/gone", Body: []byte(`{}`)}) // b never has it
	write(t, a, &couch.Doc{ID: "_local/gone", Rev: r, Deleted: true})
	write(t, b, &couch.Doc{ID: "_local/gone", Body: []byte(`{"new":1}`)}) // while a is away
	pushLocalBoth(t, a, b)
	for _, sh := range []*shard.Shard{a, b} {
		if got, want := openLocal(t, sh, "_local/gone"), `0-1 {"new":1}`; got != want {
			t.Errorf("_local/gone on %s: %s, want %s", sh.Name(), got, want)
		}
	}
}

// pushLocalBoth pushes first to second, then second to first.
func pushLocalBoth(t *testing.T, first, second *shard.Shard) {
	t.Helper()
	for _, dir := range [][2]*shard.Shard{{first, second}, {second, first}} {
		if _, err := Push(context.Background(), dir[0], "n1", dir[1], "n2"); err != nil {
			t.Fatal(err)
		}
	}
}

// openLocal is a _local document's "rev body", or "missing".
func openLocal(t *testing.T, sh *shard.Shard, id string) string {
	t.Helper()
	doc, err := sh.Open(context.Background(), id, couch.OpenOptions{})
	if errors.Is(err, couch.ErrNotFound) {
		return "missing"
	}
	if err != nil {
		t.Fatal(err)
	}
	return doc.Revisions[0].Rev.String() + " " + string(doc.Revisions[0].Body)
}

// localRev is the revision a _local write names to become 0-(i+1).
func localRev(i int) couch.Rev {
	if i == 0 {
		return couch.Rev{}
	}
	return couch.Rev{Pos: 0, ID: fmt.Sprint(i)}
}

// TestPushPurges: a copy that missed a purge drops the purged revisions
// when either copy pushes — also when it pushes first, which would
// otherwise bring the revision back to the copy that purged it.
func TestPushPurges(t *testing.T) {
	ctx := context.Background()
	a, b := twoCopies(t)
	rev := write(t, a, &couch.Doc{ID: "p", Body: []byte(`{"secret":1}`)})
	write(t, a, &couch.Doc{ID: "keep", Body: []byte(`{}`)})
	if _, err := Push(ctx, a, "n1", b, "n2"); err != nil {
		t.Fatal(err)
	}
	// b is away while a purges.
	if _, err := a.Purge(ctx, map[string][]couch.Rev{"p": {rev}}); err != nil {
		t.Fatal(err)
	}
	// b comes back and pushes first.
	if _, err := Push(ctx, b, "n2", a, "n1"); err != nil {
		t.Fatal(err)
	}
	if _, err := Push(ctx, a, "n1", b, "n2"); err != nil {
		t.Fatal(err)
	}
	for _, sh := range []*shard.Shard{a, b} {
		st := state(t, sh)
		if _, ok := st["p"]; ok {
			t.Errorf("%p still holds the purged doc: %v", sh, st["p"])
		}
		if _, ok := st["keep"]; !ok {
			t.Errorf("%p lost a doc that was not purged", sh)
		}
	}
	if infos, err := b.PurgeInfos(ctx, 0, 10); err != nil || len(infos) != 1 || infos[0].ID != "p" {
		t.Errorf("b's purge infos: %+v %v", infos, err)
	}
}

// A push whose source's newest seq belonged to a document since purged
// completes: nothing is pending, though no change carries that seq.
func TestPushAfterPurgingTheNewestDocument(t *testing.T) {
	ctx := context.Background()
	a, b := twoCopies(t)
	write(t, a, &couch.Doc{ID: "keep", Body: []byte(`{}`)})
	rev := write(t, a, &couch.Doc{ID: "p", Body: []byte(`{}`)})
	if _, err := a.Purge(ctx, map[string][]couch.Rev{"p": {rev}}); err != nil {
		t.Fatal(err)
	}
	for _, inFlight := range []time.Duration{0, time.Minute} {
		if pending, err := push(ctx, a, "n1", b, "n2", inFlight); err != nil || pending != 0 {
			t.Fatalf("push holding %v: %d pending, %v; want 0", inFlight, pending, err)
		}
	}
	requireSameState(t, a, b)
}

// countingCopy is a real copy that counts how often its _local documents
// are listed.
type countingCopy struct {
	*shard.Shard
	lists int
}

func (c *countingCopy) LocalDocs(ctx context.Context) ([]shard.LocalDoc, error) {
	c.lists++
	return c.Shard.LocalDocs(ctx)
}

// TestPushLocalDocsOnlyWhenChanged: a push lists _local documents only
// when the source's changed since the last push to that target.
func TestPushLocalDocsOnlyWhenChanged(t *testing.T) {
	ctx := context.Background()
	a, b := twoCopies(t)
	src := &countingCopy{Shard: a}
	write(t, a, &couch.Doc{ID: "_local/ckpt", Body: []byte(`{"seq":1}`)})
	write(t, a, &couch.Doc{ID: "doc", Body: []byte(`{}`)})
	push := func() {
		t.Helper()
		if _, err := Push(ctx, src, "n1", b, "n2"); err != nil {
			t.Fatal(err)
		}
	}
	push()
	if src.lists != 1 {
		t.Fatalf("first push listed local docs %d times, want 1", src.lists)
	}
	write(t, a, &couch.Doc{ID: "doc2", Body: []byte(`{}`)}) // not a _local doc
	push()
	if src.lists != 1 {
		t.Errorf("push after a document write listed local docs again (%d)", src.lists)
	}
	write(t, a, &couch.Doc{ID: "_local/ckpt", Rev: localRev(1), Body: []byte(`{"seq":2}`)})
	push()
	if src.lists != 2 {
		t.Errorf("push after a _local write: %d listings, want 2", src.lists)
	}
	if doc, err := b.Open(ctx, "_local/ckpt", couch.OpenOptions{}); err != nil || string(doc.Revisions[0].Body) != `{"seq":2}` {
		t.Errorf("target's checkpoint: %v %v", doc, err)
	}
}
