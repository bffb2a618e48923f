package couch

// RevTree is a document's full revision tree (a forest: stemming and
// replication can leave several roots). It is stored flat, one node per
// revision with its parent's id, which makes merging stemmed paths, stemming
// and purging simple set operations.
//
// Invariants: a node's parent, when known, is at Pos-1; a leaf is a node that
// no other node names as parent. RevTree is not safe for concurrent use.
type RevTree struct {
	nodes map[Rev]*revNode
}

type revNode struct {
	parent  string // id of the parent at Pos-1; "" when unknown (root or stemmed)
	deleted bool
}

// Leaf is a leaf revision and whether it is a deletion.
type Leaf struct {
	Rev     Rev
	Deleted bool
}

// NewRevTree returns an empty tree.
func NewRevTree() *RevTree {
	panic("unimplemented")
}
