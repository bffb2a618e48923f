package shard

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/divandb/divan/internal/couch"
)

func TestReceiptLogWraps(t *testing.T) {
	l := newReceiptLog(4)
	id := func(n byte) couch.WriteID { return couch.WriteID{n} }
	for n := byte(1); n <= 6; n++ {
		l.add(1+uint32(n%2), []Receipt{{WriteID: id(n), Digest: [16]byte{n}, First: uint64(n), Last: uint64(n)}})
	}
	// 1 and 2 were overwritten; shard 1 has 4 and 6, shard 2 has 3 and 5.
	var got []uint64
	for _, r := range l.since(1, 0) {
		got = append(got, r.First)
	}
	if !slices.Equal(got, []uint64{4, 6}) {
		t.Errorf("shard 1 receipts = %v, want [4 6]", got)
	}
	if got := l.since(2, 3); len(got) != 1 || got[0].First != 5 {
		t.Errorf("shard 2 receipts after 3 = %+v, want the one at 5", got)
	}
	m := l.match(2, []Receipt{
		{WriteID: id(1), Digest: [16]byte{1}}, // overwritten
		{WriteID: id(3), Digest: [16]byte{3}},
		{WriteID: id(5), Digest: [16]byte{9}}, // other results
		{WriteID: id(4), Digest: [16]byte{4}}, // another shard's
	})
	if !slices.Equal(m, []bool{false, true, false, false}) {
		t.Errorf("match = %v", m)
	}
	l.forget(2)
	if got := l.since(2, 0); len(got) != 0 {
		t.Errorf("after forget: %+v", got)
	}
	if m := l.match(2, []Receipt{{WriteID: id(3), Digest: [16]byte{3}}}); m[0] {
		t.Error("forgotten receipt still matches")
	}
}

func TestUpdateLeavesReceipt(t *testing.T) {
	ctx := context.Background()
	a := mustCreate(t, openTestStore(t), "shards/00000000-ffffffff/db.1")
	b := mustCreate(t, openTestStore(t), "shards/00000000-ffffffff/db.1")
	r1 := put(t, a, &couch.Doc{ID: "x", Body: []byte(`{}`)}, true) // seq 1, no receipt
	put(t, b, &couch.Doc{ID: "x", Body: []byte(`{}`)}, true)
	w := couch.NewWriteID()
	docs := func() []*couch.Doc {
		return []*couch.Doc{
			{ID: "x", Rev: r1.Rev, Body: []byte(`{"v":2}`)},
			{ID: "y", Body: []byte(`{}`)},
			{ID: "x", Body: []byte(`{}`)}, // conflict: no seq
		}
	}
	for _, sh := range []*Shard{a, b} {
		if _, err := sh.Update(ctx, docs(), couch.UpdateOptions{NewEdits: true, WriteID: w}); err != nil {
			t.Fatal(err)
		}
	}
	rs := a.Receipts(0)
	if len(rs) != 1 || rs[0].WriteID != w || rs[0].First != 2 || rs[0].Last != 3 || rs[0].PrevMax != 1 {
		t.Fatalf("receipts = %+v, want one for seqs 2-3 with PrevMax 1", rs)
	}
	if got := a.Receipts(3); len(got) != 0 {
		t.Errorf("receipts after seq 3 = %+v", got)
	}
	if m, _ := b.MatchReceipts(ctx, rs); !m[0] {
		t.Error("b does not match a's receipt of the same write")
	}

	// Another write with the same id but other results does not match.
	other := rs[0]
	other.Digest[0] ^= 1
	if m, _ := b.MatchReceipts(ctx, []Receipt{other}); m[0] {
		t.Error("a receipt with another digest matches")
	}

	// A purge forgets the copy's receipts.
	if _, err := b.Purge(ctx, map[string][]couch.Rev{"y": {{Pos: 1, ID: "0"}}}); err != nil {
		t.Fatal(err)
	}
	if m, _ := b.MatchReceipts(ctx, rs); m[0] {
		t.Error("receipt still matches after a purge")
	}
}

// The digest is compared between copies, possibly on nodes of different
// versions: it must stay sha256 over each result's id, rev and error as
// length-prefixed strings.
func TestDigestResultsFormat(t *testing.T) {
	results := []couch.UpdateResult{
		{ID: "a", Rev: couch.Rev{Pos: 1, ID: "0123456789abcdef0123456789abcdef"}},
		{ID: "b", Err: couch.ErrConflict},
		{ID: "_local/c", Rev: couch.Rev{Pos: 0, ID: "12"}},
	}
	var buf []byte
	for _, r := range results {
		fields := []string{r.ID, r.Rev.String(), ""}
		if r.Err != nil {
			fields[2] = r.Err.Error()
		}
		for _, f := range fields {
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(f)))
			buf = append(buf, f...)
		}
	}
	sum := sha256.Sum256(buf)
	if got := digestResults(results); got != [16]byte(sum[:16]) {
		t.Fatalf("digest %x, want %x", got, sum[:16])
	}
}
