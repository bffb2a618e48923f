package couch

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"slices"
	"strings"
)

// RevTree is a document's full revision tree (a forest: stemming and
// replication can leave several roots). It is stored flat, one node per
// revision with its parent's id, which makes merging stemmed paths, stemming
// and purging simple set operations.
//
// The nodes are one slice sorted by (Pos, ID): a lookup is a binary search,
// the encoding needs no sort, and the tree of a document with a few
// revisions, as most have, is a single small allocation. A merge takes a
// path oldest first, so the revisions it adds usually go at the end.
//
// Invariants: a node's parent, when known, is at Pos-1; a leaf is a node that
// no other node names as parent. The zero value is an empty tree. RevTree is
// not safe for concurrent use.
type RevTree struct {
	nodes []revNode
	// orphans holds, once per naming node, the parents that nodes name but
	// that are not in the tree (stemmed or never seen), so that a later merge
	// that brings one back can count its children without a scan.
	orphans []Rev
}

type revNode struct {
	rev     Rev
	parent  string // id of the parent at Pos-1; "" when unknown (root or stemmed)
	deleted bool
	// nobody marks a revision whose body is not stored: an ancestor only
	// known from a replicated path, or one removed by compaction.
	nobody   bool
	children int32 // nodes in the tree that name this one as parent
	mark     int32 // scratch for Stem
}

// Leaf is a leaf revision and whether it is a deletion.
type Leaf struct {
	Rev     Rev
	Deleted bool
}

// RevInfo is one entry of `_revs_info`.
type RevInfo struct {
	Rev    Rev
	Status string // "available", "missing" or "deleted"
}

// NewRevTree returns an empty tree.
func NewRevTree() *RevTree { return &RevTree{} }

// Len returns the number of revisions in the tree.
func (t *RevTree) Len() int { return len(t.nodes) }

// find returns the index of r in t.nodes and true, or where r would go and
// false.
func (t *RevTree) find(r Rev) (int, bool) {
	lo, hi := 0, len(t.nodes)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if revCmp(t.nodes[m].rev, r) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(t.nodes) && t.nodes[lo].rev == r
}

// node returns r's node, nil if r is not in the tree. The pointer is good
// until the tree changes shape (a node added or removed).
func (t *RevTree) node(r Rev) *revNode {
	if i, ok := t.find(r); ok {
		return &t.nodes[i]
	}
	return nil
}

// Has reports whether r is in the tree.
func (t *RevTree) Has(r Rev) bool { return t.node(r) != nil }

// IsLeaf reports whether r is in the tree and has no children.
func (t *RevTree) IsLeaf(r Rev) bool {
	n := t.node(r)
	return n != nil && n.children == 0
}

// IsDeletedRev reports whether r is in the tree and marked deleted.
func (t *RevTree) IsDeletedRev(r Rev) bool {
	n := t.node(r)
	return n != nil && n.deleted
}

// leafCmp orders leaves as CouchDB ranks them (couch_doc:to_doc_info_path):
// live before deleted, then higher Pos, then greater id bytes. The winner
// sorts first.
func leafCmp(a, b Leaf) int {
	if a.Deleted != b.Deleted {
		if a.Deleted {
			return 1
		}
		return -1
	}
	if a.Rev.Pos != b.Rev.Pos {
		if a.Rev.Pos > b.Rev.Pos {
			return -1
		}
		return 1
	}
	return strings.Compare(b.Rev.ID, a.Rev.ID)
}

// revCmp orders revisions by Pos, then id bytes (ascending).
func revCmp(a, b Rev) int {
	if c := cmp.Compare(a.Pos, b.Pos); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// Leaves returns all leaves in CouchDB winner order; the first is the winner.
func (t *RevTree) Leaves() []Leaf {
	var leaves []Leaf
	for i := range t.nodes {
		if n := &t.nodes[i]; n.children == 0 {
			leaves = append(leaves, Leaf{Rev: n.rev, Deleted: n.deleted})
		}
	}
	if len(leaves) > 1 {
		slices.SortFunc(leaves, leafCmp)
	}
	return leaves
}

// Winner returns the winning leaf; false for an empty tree.
func (t *RevTree) Winner() (Leaf, bool) {
	var w Leaf
	found := false
	for i := range t.nodes {
		n := &t.nodes[i]
		if n.children != 0 {
			continue
		}
		l := Leaf{Rev: n.rev, Deleted: n.deleted}
		if !found || leafCmp(l, w) < 0 {
			w, found = l, true
		}
	}
	return w, found
}

// Deleted reports whether the document is deleted: the tree is non-empty and
// every leaf is a deletion.
func (t *RevTree) Deleted() bool {
	for i := range t.nodes {
		if n := &t.nodes[i]; n.children == 0 && !n.deleted {
			return false
		}
	}
	return len(t.nodes) > 0
}

// Conflicts returns the non-winning live leaves, highest first (`_conflicts`).
func (t *RevTree) Conflicts() []Rev { return t.losers(false) }

// DeletedConflicts returns the non-winning deleted leaves, highest first
// (`_deleted_conflicts`).
func (t *RevTree) DeletedConflicts() []Rev { return t.losers(true) }

func (t *RevTree) losers(deleted bool) []Rev {
	if len(t.nodes) < 2 {
		return nil
	}
	w, _ := t.Winner()
	var out []Rev
	for i := range t.nodes {
		if n := &t.nodes[i]; n.children == 0 && n.deleted == deleted && n.rev != w.Rev {
			out = append(out, n.rev)
		}
	}
	slices.Reverse(out) // highest first
	return out
}

// Path returns r and its known ancestors, newest first. It stops where a
// parent is unknown or was stemmed. It returns nil if r is not in the tree.
func (t *RevTree) Path(r Rev) []Rev {
	n := t.node(r)
	if n == nil {
		return nil
	}
	c := len(t.nodes)
	if r.Pos >= 0 && r.Pos < c {
		c = r.Pos + 1
	}
	path := make([]Rev, 0, c)
	for {
		path = append(path, r)
		if n.parent == "" {
			return path
		}
		r = Rev{Pos: r.Pos - 1, ID: n.parent}
		if n = t.node(r); n == nil {
			return path
		}
	}
}

// RevsInfo returns `_revs_info` for r: its Path with each revision "deleted"
// if it is a deletion, else "available" if its body is stored, else
// "missing". It returns nil if r is not in the tree.
func (t *RevTree) RevsInfo(r Rev) []RevInfo {
	path := t.Path(r)
	if path == nil {
		return nil
	}
	out := make([]RevInfo, len(path))
	for i, pr := range path {
		n := t.node(pr)
		status := "missing"
		switch {
		case n.deleted:
			status = "deleted"
		case !n.nobody:
			status = "available"
		}
		out[i] = RevInfo{Rev: pr, Status: status}
	}
	return out
}

// LeavesFrom returns the leaves that descend from r (r itself if it is a
// leaf) in winner order, as `latest=true` needs. It returns nil if r is not
// in the tree.
func (t *RevTree) LeavesFrom(r Rev) []Leaf {
	rn := t.node(r)
	if rn == nil {
		return nil
	}
	if rn.children == 0 {
		return []Leaf{{Rev: r, Deleted: rn.deleted}}
	}
	var out []Leaf
	for i := range t.nodes {
		ln := &t.nodes[i]
		if ln.children != 0 || ln.rev.Pos <= r.Pos {
			continue
		}
		cn := ln
		for cn.rev.Pos > r.Pos && cn.parent != "" {
			pn := t.node(Rev{Pos: cn.rev.Pos - 1, ID: cn.parent})
			if pn == nil {
				break
			}
			cn = pn
		}
		if cn.rev == r {
			out = append(out, Leaf{Rev: ln.rev, Deleted: ln.deleted})
		}
	}
	slices.SortFunc(out, leafCmp)
	return out
}

// Merge merges a path into the tree, as new_edits=false does. path is newest
// first with consecutive positions (path[i].Pos == path[0].Pos-i); it is cut
// at the first entry that breaks that or has an empty id or negative Pos.
// Missing nodes are inserted and each node is linked to the next one in the
// path as its parent (an existing node whose parent was unknown gets it). A
// new path[0] is marked deleted as given; new intermediate nodes are live
// and marked as having no stored body;
// existing nodes keep their flags. Stemmed paths that overlap the tree join
// it; disjoint ones start a new root. Merge reports whether path[0] is new.
func (t *RevTree) Merge(path []Rev, deleted bool) (added bool) {
	n := 0
	for n < len(path) && path[n].ID != "" && path[n].Pos >= 0 &&
		(n == 0 || path[n].Pos == path[n-1].Pos-1) {
		n++
	}
	path = path[:n]
	if n == 0 {
		return false
	}
	if t.nodes == nil {
		t.nodes = make([]revNode, 0, n)
	}
	// Oldest first: a path that extends the tree appends to t.nodes.
	for i := n - 1; i >= 0; i-- {
		r := path[i]
		var parent string
		if i+1 < n {
			parent = path[i+1].ID
		}
		k, ok := t.find(r)
		if !ok {
			if i == 0 {
				added = true
			}
			t.insert(k, revNode{rev: r, parent: parent, deleted: i == 0 && deleted, nobody: i > 0})
			continue
		}
		if node := &t.nodes[k]; node.parent == "" && parent != "" {
			node.parent = parent
			t.link(node)
		}
	}
	return added
}

// insert adds n at index k (where find put it) and links it to its parent
// and to any children already present.
func (t *RevTree) insert(k int, n revNode) {
	for i := 0; i < len(t.orphans); {
		if t.orphans[i] == n.rev {
			n.children++
			last := len(t.orphans) - 1
			t.orphans[i] = t.orphans[last]
			t.orphans = t.orphans[:last]
			continue
		}
		i++
	}
	t.nodes = slices.Insert(t.nodes, k, n)
	t.link(&t.nodes[k])
}

// link counts n as a child of its parent, or records the parent as an orphan.
func (t *RevTree) link(n *revNode) {
	if n.parent == "" {
		return
	}
	pr := Rev{Pos: n.rev.Pos - 1, ID: n.parent}
	if p := t.node(pr); p != nil {
		p.children++
	} else {
		t.orphans = append(t.orphans, pr)
	}
}

// relink recomputes children counts and orphans from the parent links.
func (t *RevTree) relink() {
	t.orphans = t.orphans[:0]
	for i := range t.nodes {
		t.nodes[i].children = 0
	}
	for i := range t.nodes {
		t.link(&t.nodes[i])
	}
}

// Stem cuts every root-to-leaf path to its newest limit revisions (CouchDB's
// _revs_limit): it keeps the nodes less than limit parent links away from
// some leaf, removes the rest and returns them sorted by Pos, then id. A limit
// below 1 counts as 1. Nodes whose parent is removed keep the parent's id, so
// a later Merge of an overlapping path re-links them.
func (t *RevTree) Stem(limit int) []Rev {
	if limit < 1 {
		limit = 1
	}
	if len(t.nodes) <= limit {
		return nil // no node can be limit or more links from its nearest leaf
	}
	for i := range t.nodes {
		t.nodes[i].mark = -1
	}
	// mark is the number of further ancestors a node keeps; walks stop where
	// an earlier walk already went at least as far.
	for i := range t.nodes {
		n := &t.nodes[i]
		if n.children != 0 {
			continue
		}
		budget := int32(limit - 1)
		for n.mark < budget {
			n.mark = budget
			if budget == 0 || n.parent == "" {
				break
			}
			if n = t.node(Rev{Pos: n.rev.Pos - 1, ID: n.parent}); n == nil {
				break
			}
			budget--
		}
	}
	var removed []Rev // in tree order: by Pos, then id
	t.nodes = slices.DeleteFunc(t.nodes, func(n revNode) bool {
		if n.mark < 0 {
			removed = append(removed, n.rev)
			return true
		}
		return false
	})
	if len(removed) == 0 {
		return nil
	}
	t.relink()
	return removed
}

// Remove purges leaf: it removes the leaf and then each ancestor that no
// remaining node descends from, stopping at the first one still shared. It
// returns the removed revisions newest first, or nil if leaf is not a leaf.
func (t *RevTree) Remove(leaf Rev) []Rev {
	k, ok := t.find(leaf)
	if !ok || t.nodes[k].children != 0 {
		return nil
	}
	var removed []Rev
	for {
		n := t.nodes[k]
		t.nodes = slices.Delete(t.nodes, k, k+1)
		removed = append(removed, n.rev)
		if n.parent == "" {
			break
		}
		pr := Rev{Pos: n.rev.Pos - 1, ID: n.parent}
		pk, ok := t.find(pr)
		if !ok {
			if i := slices.Index(t.orphans, pr); i >= 0 {
				last := len(t.orphans) - 1
				t.orphans[i] = t.orphans[last]
				t.orphans = t.orphans[:last]
			}
			break
		}
		if t.nodes[pk].children--; t.nodes[pk].children != 0 {
			break
		}
		k = pk
	}
	return removed
}

// Clone returns a deep copy of t.
func (t *RevTree) Clone() *RevTree {
	c := &RevTree{}
	if len(t.nodes) == 0 {
		return c
	}
	c.nodes = slices.Clone(t.nodes)
	if len(t.orphans) > 0 {
		c.orphans = slices.Clone(t.orphans)
	}
	return c
}

// Binary encoding, version 1:
//
//	version byte (1), uvarint node count, then per node in (Pos, ID) order:
//	uvarint pos, flags byte, id, parent
//
// The id is 16 raw bytes if flagHexID (a 32-digit lowercase hex id, what
// Divan generates), else a uvarint length (>= 1) and the bytes. The parent is
// a uvarint index of an earlier node if flagParentIndex (the parent is in the
// tree), else 16 raw bytes if flagHexParent, else a uvarint length and the
// bytes (length 0: no parent). The encoding of a tree is unique; decoding
// rejects any other form.
const (
	revTreeVersion = 1

	flagDeleted     = 1 << 0
	flagHexID       = 1 << 1
	flagParentIndex = 1 << 2
	flagHexParent   = 1 << 3
	flagNoBody      = 1 << 4
	flagsKnown      = flagDeleted | flagHexID | flagParentIndex | flagHexParent | flagNoBody
)

var errBadRevTree = errors.New("couch: malformed rev tree encoding")

// MarshalBinary encodes t; see AppendBinary.
func (t *RevTree) MarshalBinary() ([]byte, error) {
	return t.AppendBinary(make([]byte, 0, 2+len(t.nodes)*20)), nil
}

// AppendBinary appends t's compact, deterministic encoding to dst. It
// allocates nothing beyond growing dst.
func (t *RevTree) AppendBinary(dst []byte) []byte {
	dst = append(dst, revTreeVersion)
	dst = binary.AppendUvarint(dst, uint64(len(t.nodes)))
	for i := range t.nodes {
		n := &t.nodes[i]
		dst = binary.AppendUvarint(dst, uint64(n.rev.Pos))
		var flags byte
		if n.deleted {
			flags |= flagDeleted
		}
		if n.nobody {
			flags |= flagNoBody
		}
		idBytes, hexID := decodeHex32(n.rev.ID)
		if hexID {
			flags |= flagHexID
		}
		pidx := -1
		var parentBytes [16]byte
		if n.parent != "" {
			var hexParent bool
			if k, ok := t.find(Rev{Pos: n.rev.Pos - 1, ID: n.parent}); ok {
				pidx = k
				flags |= flagParentIndex
			} else if parentBytes, hexParent = decodeHex32(n.parent); hexParent {
				flags |= flagHexParent
			}
		}
		dst = append(dst, flags)
		if hexID {
			dst = append(dst, idBytes[:]...)
		} else {
			dst = binary.AppendUvarint(dst, uint64(len(n.rev.ID)))
			dst = append(dst, n.rev.ID...)
		}
		switch {
		case flags&flagParentIndex != 0:
			dst = binary.AppendUvarint(dst, uint64(pidx))
		case flags&flagHexParent != 0:
			dst = append(dst, parentBytes[:]...)
		default:
			dst = binary.AppendUvarint(dst, uint64(len(n.parent)))
			dst = append(dst, n.parent...)
		}
	}
	return dst
}

func isLowerHex32(s string) bool {
	_, ok := decodeHex32(s)
	return ok
}

// decodeHex32 returns the 16 bytes that s spells when s is 32 lowercase
// hex digits (a rev id Divan or CouchDB made); ok is false for any other s.
// One pass with a table: every rev tree encoding decodes its ids.
func decodeHex32(s string) (b [16]byte, ok bool) {
	if len(s) != 32 {
		return b, false
	}
	var bad byte
	for i := range b {
		hi, lo := lowerHexValue[s[2*i]], lowerHexValue[s[2*i+1]]
		bad |= hi | lo
		b[i] = hi<<4 | lo
	}
	return b, bad <= 0x0f
}

// lowerHexValue maps '0'-'9' and 'a'-'f' to their values and every other
// byte to 0xff.
var lowerHexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := byte(0); c < 10; c++ {
		t['0'+c] = c
	}
	for c := byte(0); c < 6; c++ {
		t['a'+c] = 10 + c
	}
	return t
}()

// revTreeDecoder reads an encoding; the first error sticks in bad.
type revTreeDecoder struct {
	data []byte
	p    int
	bad  bool
}

func (d *revTreeDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.data[d.p:])
	if n <= 0 || (n > 1 && d.data[d.p+n-1] == 0) { // error, or not minimal
		d.bad = true
		return 0
	}
	d.p += n
	return v
}

func (d *revTreeDecoder) bytes(n uint64) []byte {
	if d.bad || n > uint64(len(d.data)-d.p) {
		d.bad = true
		return nil
	}
	b := d.data[d.p : d.p+int(n)]
	d.p += int(n)
	return b
}

func (d *revTreeDecoder) byte() byte {
	b := d.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

// UnmarshalBinary replaces t with the tree data encodes. It returns an error,
// leaving t unchanged, for anything AppendBinary would not have produced.
func (t *RevTree) UnmarshalBinary(data []byte) error {
	if len(data) < 2 || data[0] != revTreeVersion {
		return errBadRevTree
	}
	d := revTreeDecoder{data: data, p: 1}
	count := d.uvarint()
	// The smallest node is 5 bytes: pos, flags, an id of at least 2 (length
	// and one byte) and a parent of at least 1.
	if d.bad || count > uint64(len(data)-d.p)/5 {
		return errBadRevTree
	}
	// Pass 1: shape and string sizes.
	strLen := 0
	for range count {
		pos := d.uvarint()
		flags := d.byte()
		if d.bad || pos > math.MaxInt || flags&^flagsKnown != 0 ||
			flags&(flagParentIndex|flagHexParent) == flagParentIndex|flagHexParent {
			return errBadRevTree
		}
		if flags&flagHexID != 0 {
			d.bytes(16)
			strLen += 32
		} else {
			n := d.uvarint()
			if n == 0 {
				return errBadRevTree
			}
			strLen += len(d.bytes(n))
		}
		switch {
		case flags&flagParentIndex != 0:
			d.uvarint()
		case flags&flagHexParent != 0:
			d.bytes(16)
			strLen += 32
		default:
			strLen += len(d.bytes(d.uvarint()))
		}
		if d.bad {
			return errBadRevTree
		}
	}
	if d.p != len(data) {
		return errBadRevTree
	}
	if count == 0 {
		*t = RevTree{}
		return nil
	}

	// Pass 2: build, checking order and links.
	nodes := make([]revNode, count)
	var orphans []Rev
	var sb strings.Builder
	sb.Grow(strLen)
	str := func(b []byte, packed bool) string {
		start := sb.Len()
		if packed {
			var h [32]byte
			hex.Encode(h[:], b)
			sb.Write(h[:])
		} else {
			sb.Write(b)
		}
		return sb.String()[start:]
	}
	d.p = 1
	d.uvarint()
	for i := range nodes {
		e := &nodes[i]
		e.rev.Pos = int(d.uvarint())
		flags := d.byte()
		if flags&flagHexID != 0 {
			e.rev.ID = str(d.bytes(16), true)
		} else {
			e.rev.ID = str(d.bytes(d.uvarint()), false)
			if isLowerHex32(e.rev.ID) {
				return errBadRevTree
			}
		}
		if i > 0 && revCmp(nodes[i-1].rev, e.rev) >= 0 {
			return errBadRevTree
		}
		e.deleted = flags&flagDeleted != 0
		e.nobody = flags&flagNoBody != 0
		switch {
		case flags&flagParentIndex != 0:
			pi := d.uvarint()
			if pi >= uint64(i) || nodes[pi].rev.Pos != e.rev.Pos-1 {
				return errBadRevTree
			}
			e.parent = nodes[pi].rev.ID
			nodes[pi].children++
		case flags&flagHexParent != 0:
			e.parent = str(d.bytes(16), true)
		default:
			e.parent = str(d.bytes(d.uvarint()), false)
			if isLowerHex32(e.parent) {
				return errBadRevTree
			}
		}
		if flags&flagParentIndex == 0 && e.parent != "" {
			// A parent in the tree sorts before its child and must have
			// been given by index.
			pr := Rev{Pos: e.rev.Pos - 1, ID: e.parent}
			prefix := RevTree{nodes: nodes[:i]}
			if e.rev.Pos == 0 || prefix.Has(pr) {
				return errBadRevTree
			}
			orphans = append(orphans, pr)
		}
	}
	*t = RevTree{nodes: nodes, orphans: orphans}
	return nil
}

// HasBody reports whether r is in the tree with its body stored.
func (t *RevTree) HasBody(r Rev) bool {
	n := t.node(r)
	return n != nil && !n.nobody
}

// Compact marks every non-leaf revision as having no stored body and
// returns those that had one, so storage can drop their bodies
// (database compaction).
func (t *RevTree) Compact() []Rev {
	var out []Rev // in tree order: by Pos, then id
	for i := range t.nodes {
		if n := &t.nodes[i]; n.children > 0 && !n.nobody {
			n.nobody = true
			out = append(out, n.rev)
		}
	}
	return out
}
