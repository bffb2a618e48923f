package couch

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// rv parses "pos-id" for tests.
func rv(s string) Rev {
	dash := strings.IndexByte(s, '-')
	var pos int
	fmt.Sscan(s[:dash], &pos)
	return Rev{Pos: pos, ID: s[dash+1:]}
}

// rp builds a path, newest first: rp("3-c", "b", "a") is 3-c, 2-b, 1-a.
func rp(head string, older ...string) []Rev {
	r := rv(head)
	p := []Rev{r}
	for i, id := range older {
		p = append(p, Rev{Pos: r.Pos - 1 - i, ID: id})
	}
	return p
}

func revStrings(revs []Rev) string {
	s := make([]string, len(revs))
	for i, r := range revs {
		s[i] = r.String()
	}
	return strings.Join(s, " ")
}

func leafStrings(ls []Leaf) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = l.Rev.String()
		if l.Deleted {
			s[i] += "(d)"
		}
	}
	return strings.Join(s, " ")
}

// dump renders a tree deterministically: "pos-id<parent" with "*" for
// deleted nodes, sorted.
func dump(t *RevTree) string {
	var s []string
	for _, n := range t.nodes {
		e := n.rev.String()
		if n.parent != "" {
			e += "<" + n.parent
		}
		if n.deleted {
			e += "*"
		}
		s = append(s, e)
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

// checkTree verifies the tree's invariants and its derived state.
func checkTree(t testing.TB, tr *RevTree) {
	t.Helper()
	children := map[Rev]int32{}
	var orphans []Rev
	for i, n := range tr.nodes {
		r := n.rev
		if r.ID == "" || r.Pos < 0 {
			t.Fatalf("bad rev %v in %s", r, dump(tr))
		}
		if i > 0 && revCmp(tr.nodes[i-1].rev, r) >= 0 {
			t.Fatalf("nodes out of order at %v in %s", r, dump(tr))
		}
		if n.parent == "" {
			continue
		}
		pr := Rev{r.Pos - 1, n.parent}
		if tr.Has(pr) {
			children[pr]++
		} else {
			orphans = append(orphans, pr)
		}
	}
	for _, n := range tr.nodes {
		if n.children != children[n.rev] {
			t.Fatalf("%v: children %d, want %d in %s", n.rev, n.children, children[n.rev], dump(tr))
		}
	}
	got := slices.Clone(tr.orphans)
	slices.SortFunc(got, revCmp)
	slices.SortFunc(orphans, revCmp)
	if !slices.Equal(got, orphans) {
		t.Fatalf("orphans %v, want %v in %s", got, orphans, dump(tr))
	}
	leaves := tr.Leaves()
	if (len(leaves) == 0) != (tr.Len() == 0) {
		t.Fatalf("%d leaves for %d nodes", len(leaves), tr.Len())
	}
	w, ok := tr.Winner()
	if ok != (tr.Len() > 0) || (ok && w != leaves[0]) {
		t.Fatalf("winner %v %v, leaves %v", w, ok, leaves)
	}
	for i := 1; i < len(leaves); i++ {
		if leafCmp(leaves[i-1], leaves[i]) >= 0 {
			t.Fatalf("leaves out of order: %v", leaves)
		}
	}
	var conf, dconf []Rev
	allDeleted := len(leaves) > 0
	for i, l := range leaves {
		allDeleted = allDeleted && l.Deleted
		if i == 0 {
			continue
		}
		if l.Deleted {
			dconf = append(dconf, l.Rev)
		} else {
			conf = append(conf, l.Rev)
		}
	}
	if c := tr.Conflicts(); !slices.Equal(c, conf) {
		t.Fatalf("conflicts %v, want %v", c, conf)
	}
	if c := tr.DeletedConflicts(); !slices.Equal(c, dconf) {
		t.Fatalf("deleted conflicts %v, want %v", c, dconf)
	}
	if tr.Deleted() != allDeleted {
		t.Fatalf("Deleted() = %v, leaves %v", tr.Deleted(), leaves)
	}
}

func sameTree(a, b *RevTree) bool {
	if a.Len() != b.Len() {
		return false
	}
	for _, n := range a.nodes {
		m := b.node(n.rev)
		if m == nil || m.parent != n.parent || m.deleted != n.deleted {
			return false
		}
	}
	return true
}

type mergeOp struct {
	path    []Rev
	deleted bool
}

func build(t testing.TB, ops ...mergeOp) *RevTree {
	t.Helper()
	tr := NewRevTree()
	for _, op := range ops {
		tr.Merge(op.path, op.deleted)
	}
	checkTree(t, tr)
	return tr
}

func live(p []Rev) mergeOp { return mergeOp{p, false} }
func del(p []Rev) mergeOp  { return mergeOp{p, true} }

func TestRevTreeWinner(t *testing.T) {
	tests := []struct {
		name      string
		ops       []mergeOp
		leaves    string
		conflicts string
		dconf     string
		deleted   bool
	}{
		{"empty", nil, "", "", "", false},
		{"single", []mergeOp{live(rp("1-a"))}, "1-a", "", "", false},
		{"single deleted", []mergeOp{del(rp("2-b", "a"))}, "2-b(d)", "", "", true},
		{"live beats deleted", []mergeOp{live(rp("2-b", "a")), del(rp("4-d", "c", "x", "a"))},
			"2-b 4-d(d)", "", "4-d", false},
		{"higher pos wins", []mergeOp{live(rp("2-z", "a")), live(rp("3-b", "x", "a"))},
			"3-b 2-z", "2-z", "", false},
		{"greater id wins", []mergeOp{live(rp("2-a", "x")), live(rp("2-b", "x")), live(rp("2-ab", "x"))},
			"2-b 2-ab 2-a", "2-ab 2-a", "", false},
		{"id byte order", []mergeOp{live(rp("1-Z")), live(rp("1-a")), live(rp("1-B"))},
			"1-a 1-Z 1-B", "1-Z 1-B", "", false},
		{"all deleted", []mergeOp{del(rp("2-a", "x")), del(rp("3-b", "q", "x")), del(rp("2-c", "x"))},
			"3-b(d) 2-c(d) 2-a(d)", "", "2-c 2-a", true},
		{"mixed", []mergeOp{
			live(rp("3-a", "b", "r")), del(rp("4-d", "e", "b", "r")), live(rp("2-f", "r")),
			del(rp("2-g", "r")), live(rp("3-h", "i", "r")),
		}, "3-h 3-a 2-f 4-d(d) 2-g(d)", "3-a 2-f", "4-d 2-g", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := build(t, tc.ops...)
			if got := leafStrings(tr.Leaves()); got != tc.leaves {
				t.Fatalf("leaves %q, want %q", got, tc.leaves)
			}
			if got := revStrings(tr.Conflicts()); got != tc.conflicts {
				t.Fatalf("conflicts %q, want %q", got, tc.conflicts)
			}
			if got := revStrings(tr.DeletedConflicts()); got != tc.dconf {
				t.Fatalf("deleted conflicts %q, want %q", got, tc.dconf)
			}
			if tr.Deleted() != tc.deleted {
				t.Fatalf("Deleted() = %v", tr.Deleted())
			}
		})
	}
}

func TestRevTreeMerge(t *testing.T) {
	type step struct {
		path    []Rev
		deleted bool
		added   bool
		want    string // dump after the step
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"interactive edits", []step{
			{rp("1-a"), false, true, "1-a"},
			{rp("2-b", "a"), false, true, "1-a 2-b<a"},
			{rp("3-c", "b"), true, true, "1-a 2-b<a 3-c<b*"},
		}},
		{"existing revs are no-ops", []step{
			{rp("3-c", "b", "a"), false, true, "1-a 2-b<a 3-c<b"},
			{rp("3-c", "b", "a"), true, false, "1-a 2-b<a 3-c<b"},
			{rp("2-b", "a"), true, false, "1-a 2-b<a 3-c<b"},
			{rp("1-a"), false, false, "1-a 2-b<a 3-c<b"},
		}},
		{"branch", []step{
			{rp("3-c", "b", "a"), false, true, "1-a 2-b<a 3-c<b"},
			{rp("3-x", "y", "a"), false, true, "1-a 2-b<a 2-y<a 3-c<b 3-x<y"},
			{rp("4-z", "c", "b"), false, true, "1-a 2-b<a 2-y<a 3-c<b 3-x<y 4-z<c"},
		}},
		{"new intermediate nodes are live", []step{
			{rp("3-c", "b", "a"), true, true, "1-a 2-b<a 3-c<b*"},
		}},
		{"disjoint root", []step{
			{rp("2-b", "a"), false, true, "1-a 2-b<a"},
			{rp("5-e", "d"), false, true, "1-a 2-b<a 4-d 5-e<d"},
		}},
		{"stemmed re-merge joins", []step{
			{rp("4-d", "c"), false, true, "3-c 4-d<c"},
			{rp("3-c", "b", "a"), false, false, "1-a 2-b<a 3-c<b 4-d<c"},
			{rp("5-e", "d", "c", "b"), false, true, "1-a 2-b<a 3-c<b 4-d<c 5-e<d"},
		}},
		{"missing middle fills in", []step{
			{rp("5-e", "d"), false, true, "4-d 5-e<d"},
			{rp("2-b", "a"), false, true, "1-a 2-b<a 4-d 5-e<d"},
			{rp("4-d", "c", "b"), false, false, "1-a 2-b<a 3-c<b 4-d<c 5-e<d"},
		}},
		{"orphan parent comes back", []step{
			{rp("5-e", "d"), false, true, "4-d 5-e<d"},
			{rp("4-d", "c"), false, false, "3-c 4-d<c 5-e<d"},
		}},
		{"bad paths are cut", []step{
			{nil, false, false, ""},
			{[]Rev{{Pos: 1, ID: ""}}, false, false, ""},
			{[]Rev{{Pos: 3, ID: "c"}, {Pos: 1, ID: "a"}}, false, true, "3-c"},
			{[]Rev{{Pos: 1, ID: "x"}, {Pos: 0, ID: "w"}, {Pos: -1, ID: "v"}}, false, true, "0-w 1-x<w 3-c"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewRevTree()
			for i, s := range tc.steps {
				if added := tr.Merge(s.path, s.deleted); added != s.added {
					t.Fatalf("step %d: added = %v", i, added)
				}
				checkTree(t, tr)
				if got := dump(tr); got != s.want {
					t.Fatalf("step %d: tree %q, want %q", i, got, s.want)
				}
			}
		})
	}
}

func TestRevTreeStem(t *testing.T) {
	// 1-a 2-b 3-c 4-d 5-e, with 3-x branching from 2-b, and 2-y deleted
	// from 1-a.
	base := func() *RevTree {
		return build(t, live(rp("5-e", "d", "c", "b", "a")), live(rp("3-x", "b", "a")), del(rp("2-y", "a")))
	}
	tests := []struct {
		limit   int
		removed string
		want    string
	}{
		{1000, "", "1-a 2-b<a 2-y<a* 3-c<b 3-x<b 4-d<c 5-e<d"},
		{8, "", "1-a 2-b<a 2-y<a* 3-c<b 3-x<b 4-d<c 5-e<d"},
		{3, "", "1-a 2-b<a 2-y<a* 3-c<b 3-x<b 4-d<c 5-e<d"},
		{2, "3-c", "1-a 2-b<a 2-y<a* 3-x<b 4-d<c 5-e<d"},
		{1, "1-a 2-b 3-c 4-d", "2-y<a* 3-x<b 5-e<d"},
		{0, "1-a 2-b 3-c 4-d", "2-y<a* 3-x<b 5-e<d"},
		{-5, "1-a 2-b 3-c 4-d", "2-y<a* 3-x<b 5-e<d"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.limit), func(t *testing.T) {
			tr := base()
			if got := revStrings(tr.Stem(tc.limit)); got != tc.removed {
				t.Fatalf("removed %q, want %q", got, tc.removed)
			}
			checkTree(t, tr)
			if got := dump(tr); got != tc.want {
				t.Fatalf("tree %q, want %q", got, tc.want)
			}
			if tr.Stem(tc.limit) != nil {
				t.Fatalf("second Stem removed more")
			}
		})
	}

	t.Run("long branch alone", func(t *testing.T) {
		tr := build(t, live(rp("6-f", "e", "d", "c", "b", "a")), live(rp("2-z", "a")))
		if got := revStrings(tr.Stem(3)); got != "2-b 3-c" {
			t.Fatalf("removed %q", got)
		}
		if got := revStrings(tr.Path(rv("6-f"))); got != "6-f 5-e 4-d" {
			t.Fatalf("path %q", got)
		}
		if got := revStrings(tr.Path(rv("2-z"))); got != "2-z 1-a" {
			t.Fatalf("path %q", got)
		}
		// Re-merging the full path restores the links.
		tr.Merge(rp("6-f", "e", "d", "c", "b", "a"), false)
		checkTree(t, tr)
		if got := revStrings(tr.Path(rv("6-f"))); got != "6-f 5-e 4-d 3-c 2-b 1-a" {
			t.Fatalf("path after re-merge %q", got)
		}
	})
}

func TestRevTreeRemove(t *testing.T) {
	base := func() *RevTree {
		return build(t, live(rp("3-c", "b", "a")), live(rp("3-x", "b", "a")), live(rp("2-y", "a")))
	}
	tests := []struct {
		name    string
		remove  []string
		removed string // of the last Remove
		want    string
	}{
		{"leaf with shared parent", []string{"3-c"}, "3-c", "1-a 2-b<a 2-y<a 3-x<b"},
		{"not a leaf", []string{"2-b"}, "", "1-a 2-b<a 2-y<a 3-c<b 3-x<b"},
		{"unknown", []string{"9-z"}, "", "1-a 2-b<a 2-y<a 3-c<b 3-x<b"},
		{"up to shared ancestor", []string{"3-c", "3-x"}, "3-x 2-b", "1-a 2-y<a"},
		{"everything", []string{"3-c", "3-x", "2-y"}, "2-y 1-a", ""},
		{"twice", []string{"3-c", "3-c"}, "", "1-a 2-b<a 2-y<a 3-x<b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := base()
			var removed []Rev
			for _, r := range tc.remove {
				removed = tr.Remove(rv(r))
				checkTree(t, tr)
			}
			if got := revStrings(removed); got != tc.removed {
				t.Fatalf("removed %q, want %q", got, tc.removed)
			}
			if got := dump(tr); got != tc.want {
				t.Fatalf("tree %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("stemmed", func(t *testing.T) {
		tr := build(t, live(rp("4-d", "c", "b")))
		tr.Stem(2)
		if got := revStrings(tr.Remove(rv("4-d"))); got != "4-d 3-c" {
			t.Fatalf("removed %q", got)
		}
		checkTree(t, tr)
		if tr.Len() != 0 {
			t.Fatalf("tree %q", dump(tr))
		}
	})
}

func TestRevTreePathRevsInfo(t *testing.T) {
	tr := build(t,
		del(rp("2-b", "a")),            // 2-b is created deleted...
		live(rp("4-d", "c", "b")),      // ...and becomes interior
		del(rp("3-x", "b", "a")),       // deleted leaf
		live(rp("9-z", "y")),           // disjoint, parent stemmed
		live(rp("5-e", "d", "c", "b")), // extends 4-d
	)
	tests := []struct {
		rev  string
		path string
		info string
	}{
		{"5-e", "5-e 4-d 3-c 2-b 1-a", "5-e:available 4-d:available 3-c:missing 2-b:deleted 1-a:missing"},
		{"3-x", "3-x 2-b 1-a", "3-x:deleted 2-b:deleted 1-a:missing"},
		{"1-a", "1-a", "1-a:missing"},
		{"9-z", "9-z 8-y", "9-z:available 8-y:missing"},
		{"3-q", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.rev, func(t *testing.T) {
			if got := revStrings(tr.Path(rv(tc.rev))); got != tc.path {
				t.Fatalf("path %q, want %q", got, tc.path)
			}
			var info []string
			for _, ri := range tr.RevsInfo(rv(tc.rev)) {
				info = append(info, ri.Rev.String()+":"+ri.Status)
			}
			if got := strings.Join(info, " "); got != tc.info {
				t.Fatalf("revs_info %q, want %q", got, tc.info)
			}
		})
	}
	if tr.Path(rv("3-q")) != nil || tr.RevsInfo(rv("3-q")) != nil {
		t.Fatalf("unknown rev should give nil")
	}
}

func TestRevTreeLeavesFrom(t *testing.T) {
	tr := build(t,
		live(rp("3-c", "b", "a")),
		del(rp("3-d", "b", "a")),
		live(rp("2-x", "a")),
		live(rp("7-g", "f")), // stemmed: 5 and below unknown
		live(rp("4-h", "c")),
	)
	tests := []struct{ rev, want string }{
		{"1-a", "4-h 2-x 3-d(d)"},
		{"2-b", "4-h 3-d(d)"},
		{"3-c", "4-h"},
		{"3-d", "3-d(d)"},
		{"2-x", "2-x"},
		{"6-f", "7-g"},
		{"5-e", ""},
		{"9-q", ""},
	}
	for _, tc := range tests {
		if got := leafStrings(tr.LeavesFrom(rv(tc.rev))); got != tc.want {
			t.Fatalf("LeavesFrom(%s) = %q, want %q", tc.rev, got, tc.want)
		}
	}
}

const (
	hexA = "0123456789abcdef0123456789abcdef"
	hexB = "fedcba9876543210fedcba9876543210"
	hexC = "00000000000000000000000000000000"
)

func TestRevTreeEncoding(t *testing.T) {
	trees := map[string]*RevTree{
		"empty":  NewRevTree(),
		"single": build(t, live(rp("1-"+hexA))),
		"chain":  build(t, del(rp("3-"+hexC, hexB, hexA))),
		"foreign ids": build(t, live(rp("3-c", "b", "a")), del(rp("3-x", "b", "a")),
			live(rp("2-"+strings.ToUpper(hexA), "a"))),
		"stemmed": build(t, live(rp("9-"+hexA, hexB, hexC)), live(rp("4-d", "c", "b")), live(rp("1-z"))),
		"pos0":    build(t, live(rp("1-x", "w"))),
	}
	trees["stemmed"].Stem(1)
	for name, tr := range trees {
		t.Run(name, func(t *testing.T) {
			b, err := tr.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if b2 := tr.AppendBinary([]byte("x")); !bytes.Equal(b2[1:], b) {
				t.Fatalf("AppendBinary differs from MarshalBinary")
			}
			got := NewRevTree()
			got.Merge(rp("1-junk"), false)
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			checkTree(t, got)
			if !sameTree(tr, got) {
				t.Fatalf("round trip: %q, want %q", dump(got), dump(tr))
			}
			b2, _ := got.MarshalBinary()
			if !bytes.Equal(b, b2) {
				t.Fatalf("re-encoding differs")
			}
			// Every strict prefix and any trailing byte is rejected.
			for i := 0; i < len(b); i++ {
				if err := got.UnmarshalBinary(b[:i]); err == nil {
					t.Fatalf("prefix %d accepted", i)
				}
			}
			if err := got.UnmarshalBinary(append(b[:len(b):len(b)], 0)); err == nil {
				t.Fatalf("trailing byte accepted")
			}
			if !sameTree(tr, got) {
				t.Fatalf("failed unmarshal changed the tree")
			}
		})
	}

	bad := map[string][]byte{
		"nil":              nil,
		"version":          {2, 0},
		"huge count":       {1, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 0, 1, 'a', 0},
		"empty id":         {1, 1, 1, 0, 0, 0},
		"unknown flag":     {1, 1, 1, 0x20, 1, 'a', 0},
		"both parent kind": {1, 1, 1, flagParentIndex | flagHexParent, 1, 'a', 0},
		"unsorted": {1, 2,
			1, 0, 1, 'b', 0,
			1, 0, 1, 'a', 0},
		"duplicate": {1, 2,
			1, 0, 1, 'a', 0,
			1, 0, 1, 'a', 0},
		"parent index forward": {1, 1, 2, flagParentIndex, 1, 'b', 0},
		"parent index wrong pos": {1, 2,
			1, 0, 1, 'a', 0,
			3, flagParentIndex, 1, 'c', 0},
		"present parent as string": {1, 2,
			1, 0, 1, 'a', 0,
			2, 0, 1, 'b', 1, 'a'},
		"parent of pos 0":  {1, 1, 0, 0, 1, 'a', 1, 'z'},
		"hex id as string": append(append([]byte{1, 1, 1, 0, 32}, hexA...), 0),
		"pos overflow":     {1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 1, 'a', 0},
	}
	for name, b := range bad {
		var tr RevTree
		if err := tr.UnmarshalBinary(b); err == nil {
			t.Fatalf("%s: accepted, tree %q", name, dump(&tr))
		}
	}
	// Hand-checked encoding of 2-b<1-a (1-a known only from the path, so
	// without a stored body).
	tr := build(t, live(rp("2-b", "a")))
	want := []byte{1, 2, 1, flagNoBody, 1, 'a', 0, 2, flagParentIndex, 1, 'b', 0}
	if b, _ := tr.MarshalBinary(); !bytes.Equal(b, want) {
		t.Fatalf("encoding %v, want %v", b, want)
	}
}

func TestRevTreeClone(t *testing.T) {
	tr := build(t, live(rp("3-c", "b", "a")), live(rp("7-x", "w")))
	before := dump(tr)
	c := tr.Clone()
	checkTree(t, c)
	if dump(c) != before {
		t.Fatalf("clone %q, want %q", dump(c), before)
	}
	c.Merge(rp("4-d", "c"), true)
	c.Merge(rp("6-w", "v"), false)
	c.Stem(1)
	checkTree(t, c)
	checkTree(t, tr)
	if dump(tr) != before {
		t.Fatalf("original changed: %q", dump(tr))
	}
	if e := NewRevTree().Clone(); e.Len() != 0 {
		t.Fatalf("clone of empty tree")
	}
}

func TestRevTreeZeroValue(t *testing.T) {
	var tr RevTree
	if tr.Len() != 0 || tr.Leaves() != nil || tr.Deleted() || tr.Stem(1) != nil || tr.Remove(rv("1-a")) != nil {
		t.Fatalf("zero tree not empty")
	}
	if _, ok := tr.Winner(); ok {
		t.Fatalf("zero tree has a winner")
	}
	if !tr.Merge(rp("1-a"), false) || !tr.IsLeaf(rv("1-a")) {
		t.Fatalf("merge into zero tree")
	}
}

func TestRevTreeAllocs(t *testing.T) {
	tr := build(t, live(rp("1-"+hexA)))
	enc, _ := tr.MarshalBinary()
	big := build(t, live(rp("3-"+hexC, hexB, hexA)), live(rp("3-"+hexA, hexB, hexA)))
	bigEnc, _ := big.MarshalBinary()
	buf := make([]byte, 0, 1024)
	var dst RevTree
	mid := rv("2-" + hexB)
	checks := []struct {
		name string
		max  float64
		fn   func()
	}{
		{"Leaves 1 node", 1, func() { tr.Leaves() }},
		{"Winner", 0, func() { big.Winner() }},
		{"Deleted", 0, func() { big.Deleted() }},
		{"IsLeaf", 0, func() { big.IsLeaf(mid) }},
		{"Conflicts none", 0, func() { tr.Conflicts() }},
		{"Stem no-op", 0, func() { big.Stem(1000) }},
		{"AppendBinary", 0, func() { big.AppendBinary(buf[:0]) }},
		{"UnmarshalBinary 1 node", 4, func() { dst.UnmarshalBinary(enc) }},
		{"UnmarshalBinary 4 nodes", 4, func() { dst.UnmarshalBinary(bigEnc) }},
	}
	for _, c := range checks {
		if n := testing.AllocsPerRun(100, c.fn); n > c.max {
			t.Errorf("%s: %v allocs, want <= %v", c.name, n, c.max)
		}
	}
}

func BenchmarkRevTreeUpdate(b *testing.B) {
	// A typical interactive update: decode, check, merge, stem, encode.
	tr := NewRevTree()
	tr.Merge(rp("2-"+hexB, hexA), false)
	enc, _ := tr.MarshalBinary()
	next := rp("3-"+hexC, hexB)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var t RevTree
		if err := t.UnmarshalBinary(enc); err != nil {
			b.Fatal(err)
		}
		if !t.IsLeaf(next[1]) {
			b.Fatal("not a leaf")
		}
		t.Merge(next, false)
		t.Stem(1000)
		t.Winner()
		buf = t.AppendBinary(buf[:0])
	}
}

// longPath is a linear history of n revisions, newest first, as a document
// edited n times replicates.
func longPath(n int) []Rev {
	p := make([]Rev, n)
	for i := range p {
		p[i] = Rev{Pos: n - i, ID: fmt.Sprintf("%032x", n-i)}
	}
	return p
}

// BenchmarkRevTreeLongPath replicates a document with a full history
// (_revs_limit revisions) into an empty tree.
func BenchmarkRevTreeLongPath(b *testing.B) {
	path := longPath(1000)
	for b.Loop() {
		var t RevTree
		t.Merge(path, false)
		t.Stem(1000)
		_ = t.AppendBinary(nil)
	}
}

// BenchmarkRevTreeLongUpdate updates a document whose history is at
// _revs_limit: decode, merge, stem one revision, encode.
func BenchmarkRevTreeLongUpdate(b *testing.B) {
	var base RevTree
	base.Merge(longPath(1000), false)
	enc := base.AppendBinary(nil)
	next := []Rev{{Pos: 1001, ID: fmt.Sprintf("%032x", 1001)}, {Pos: 1000, ID: fmt.Sprintf("%032x", 1000)}}
	buf := make([]byte, 0, 64<<10)
	for b.Loop() {
		var t RevTree
		if err := t.UnmarshalBinary(enc); err != nil {
			b.Fatal(err)
		}
		t.Merge(next, false)
		t.Stem(1000)
		buf = t.AppendBinary(buf[:0])
	}
}

func TestRevTreeCompactDropsInteriorBodies(t *testing.T) {
	tr := NewRevTree()
	tr.Merge([]Rev{{1, "a"}}, false)
	tr.Merge([]Rev{{2, "b"}, {1, "a"}}, false)
	tr.Merge([]Rev{{3, "c"}, {2, "b"}}, false)
	if !tr.HasBody(Rev{1, "a"}) || !tr.HasBody(Rev{2, "b"}) {
		t.Fatal("interior revisions written with bodies lost them before compaction")
	}
	got := tr.Compact()
	if revStrings(got) != "1-a 2-b" {
		t.Fatalf("Compact = %q", revStrings(got))
	}
	if tr.HasBody(Rev{2, "b"}) || !tr.HasBody(Rev{3, "c"}) {
		t.Fatal("after Compact: interior bodies must be gone, the leaf's kept")
	}
	var back RevTree
	b, _ := tr.MarshalBinary()
	if err := back.UnmarshalBinary(b); err != nil || back.HasBody(Rev{1, "a"}) {
		t.Fatalf("no-body flag did not survive encoding: %v", err)
	}
	if len(tr.Compact()) != 0 {
		t.Fatal("second Compact found bodies to drop")
	}
}
