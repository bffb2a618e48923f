package couch

import (
	"bytes"
	"slices"
	"testing"
)

var fuzzIDs = [8]string{"a", "b", "c", "d", "e", "f", hexA, hexB}

// fuzzPath returns a path of n revisions ending at (pos, fuzzIDs[id]). Each
// revision's parent is a fixed function of the revision, as real rev ids
// (hashes of their parent) make it.
func fuzzPath(pos, id, n int) []Rev {
	p := make([]Rev, 0, n)
	for i := 0; i < n; i++ {
		p = append(p, Rev{Pos: pos - i, ID: fuzzIDs[id]})
		id = (id*5 + pos - i + 3) % len(fuzzIDs)
	}
	return p
}

// stemBrute returns the nodes at least limit links away from every leaf.
func stemBrute(t *RevTree, limit int) []Rev {
	if limit < 1 {
		limit = 1
	}
	dist := map[Rev]int{}
	for _, l := range t.Leaves() {
		for i, r := range t.Path(l.Rev) {
			if d, ok := dist[r]; !ok || i < d {
				dist[r] = i
			}
		}
	}
	var out []Rev
	for _, n := range t.nodes {
		if dist[n.rev] >= limit {
			out = append(out, n.rev)
		}
	}
	slices.SortFunc(out, revCmp)
	return out
}

func FuzzRevTreeMerge(f *testing.F) {
	f.Add([]byte{0x00, 0x35, 0x08, 0x24, 0x45, 0x01, 0x06, 0x00})
	f.Add([]byte{0x10, 0x99, 0x21, 0x47, 0x05, 0x01, 0x02, 0x93, 0x06, 0x03})
	f.Add([]byte{0x40, 0x19, 0x18, 0x88, 0x2b, 0x33, 0x05, 0x00, 0x07, 0x12})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 256 {
			return
		}
		tr := NewRevTree()
		var paths [][]Rev
		for i := 0; i+1 < len(data); i += 2 {
			b0, b1 := data[i], data[i+1]
			id := int(b0>>3) % len(fuzzIDs)
			switch op := b0 & 7; op {
			case 0, 1, 2, 3, 4:
				pos := int(b1&15)%10 + 1
				path := fuzzPath(pos, id, 1+int(b1>>4)%pos)
				deleted := b0&0x40 != 0
				had := tr.Has(path[0])
				if added := tr.Merge(path, deleted); added == had {
					t.Fatalf("Merge(%v) added = %v, had = %v", path, added, had)
				}
				if !had && tr.IsDeletedRev(path[0]) != deleted {
					t.Fatalf("new head %v deleted = %v", path[0], !deleted)
				}
				if got := tr.Path(path[0]); len(got) < len(path) || !slices.Equal(got[:len(path)], path) {
					t.Fatalf("Path(%v) = %v after merging %v", path[0], got, path)
				}
				before := tr.Clone()
				if tr.Merge(path, !deleted) || !sameTree(before, tr) {
					t.Fatalf("merge of %v not idempotent", path)
				}
				paths = append(paths, path)
			case 5:
				limit := int(b1 % 4)
				want := stemBrute(tr, limit)
				got := tr.Stem(limit)
				if !slices.Equal(got, want) {
					t.Fatalf("Stem(%d) removed %v, want %v", limit, got, want)
				}
				for _, r := range got {
					if tr.Has(r) {
						t.Fatalf("stemmed %v still present", r)
					}
				}
			case 6, 7:
				var r Rev
				if leaves := tr.Leaves(); op == 6 && len(leaves) > 0 {
					r = leaves[int(b1)%len(leaves)].Rev
				} else {
					r = Rev{Pos: int(b1)%10 + 1, ID: fuzzIDs[id]}
				}
				wasLeaf := tr.IsLeaf(r)
				path := tr.Path(r)
				removed := tr.Remove(r)
				if !wasLeaf {
					if removed != nil {
						t.Fatalf("Remove(%v) of a non-leaf removed %v", r, removed)
					}
					break
				}
				if len(removed) == 0 || len(removed) > len(path) || !slices.Equal(removed, path[:len(removed)]) {
					t.Fatalf("Remove(%v) = %v, path %v", r, removed, path)
				}
				for _, x := range removed {
					if tr.Has(x) {
						t.Fatalf("removed %v still present", x)
					}
				}
				if len(removed) < len(path) && tr.IsLeaf(path[len(removed)]) {
					t.Fatalf("Remove(%v) stopped at %v, which is now a leaf", r, path[len(removed)])
				}
			}
			checkTree(t, tr)
		}

		// Encoding round trip.
		enc, err := tr.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var dec RevTree
		if err := dec.UnmarshalBinary(enc); err != nil {
			t.Fatalf("unmarshal: %v (%s)", err, dump(tr))
		}
		checkTree(t, &dec)
		if !sameTree(tr, &dec) {
			t.Fatalf("round trip %q, want %q", dump(&dec), dump(tr))
		}
		if enc2 := dec.AppendBinary(nil); !bytes.Equal(enc, enc2) {
			t.Fatalf("re-encoding differs")
		}
		if c := tr.Clone(); !sameTree(tr, c) {
			t.Fatalf("clone differs")
		}

		// LeavesFrom and RevsInfo against Path.
		leaves := tr.Leaves()
		for _, n := range tr.nodes {
			r := n.rev
			var want []Leaf
			for _, l := range leaves {
				if slices.Contains(tr.Path(l.Rev), r) {
					want = append(want, l)
				}
			}
			if got := tr.LeavesFrom(r); !slices.Equal(got, want) {
				t.Fatalf("LeavesFrom(%v) = %v, want %v", r, got, want)
			}
			if len(tr.RevsInfo(r)) != len(tr.Path(r)) {
				t.Fatalf("RevsInfo(%v) length", r)
			}
		}

		// The same paths merged in another order give the same tree.
		fwd, rev, odd := NewRevTree(), NewRevTree(), NewRevTree()
		for i := range paths {
			fwd.Merge(paths[i], false)
			rev.Merge(paths[len(paths)-1-i], false)
		}
		for i := 1; i < len(paths); i += 2 {
			odd.Merge(paths[i], false)
		}
		for i := 0; i < len(paths); i += 2 {
			odd.Merge(paths[i], false)
		}
		checkTree(t, fwd)
		checkTree(t, rev)
		checkTree(t, odd)
		if !sameTree(fwd, rev) || !sameTree(fwd, odd) {
			t.Fatalf("merge order matters:\n%s\n%s\n%s", dump(fwd), dump(rev), dump(odd))
		}
	})
}

func FuzzUnmarshalRevTree(f *testing.F) {
	for _, tr := range []*RevTree{
		NewRevTree(),
		build(f, live(rp("2-b", "a"))),
		build(f, del(rp("3-"+hexA, hexB, "x")), live(rp("5-e", "d"))),
	} {
		b, _ := tr.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{1, 1, 1, flagHexID | flagHexParent, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var tr RevTree
		if err := tr.UnmarshalBinary(data); err != nil {
			return
		}
		checkTree(t, &tr)
		// Accepted encodings are canonical.
		if b := tr.AppendBinary(nil); !bytes.Equal(b, data) {
			t.Fatalf("re-encoding %x, input %x", b, data)
		}
		tr.Merge(rp("12-z", "y", "x"), true)
		tr.Stem(2)
		checkTree(t, &tr)
	})
}
