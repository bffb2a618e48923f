package couch

import (
	"crypto/rand"
	"sync"
)

// Document is what a read of one document returns from a shard copy (and, after
// merging, from fabric): the full rev tree and the revisions asked for.
type Document struct {
	ID string
	// Seq is the shard copy's update seq of the document's latest change
	// (`_local_seq`).
	Seq uint64
	// Tree is the full revision tree: conflicts, deleted conflicts,
	// `_revs_info` and `_revisions` derive from it. Nil for _local docs.
	Tree *RevTree
	// Revisions holds the revisions asked for, in the order asked; the winner
	// alone for a plain read.
	Revisions []Revision
}

// Revision is one revision of a document with its body.
type Revision struct {
	Rev     Rev
	Deleted bool
	// Body is a compact JSON object without special members; nil when Missing.
	Body []byte
	// Atts is the revision's attachment metadata (no data), sorted by name.
	Atts []Attachment
	// Missing reports a revision that was asked for (open_revs) but is not in
	// the tree, or whose body is no longer stored.
	Missing bool
}

// OpenOptions says which revisions of a document to read.
type OpenOptions struct {
	// Rev reads one specific revision; zero reads the winner.
	Rev Rev
	// OpenRevs reads these revisions (open_revs=[...]).
	OpenRevs []Rev
	// AllLeaves reads every leaf (open_revs=all).
	AllLeaves bool
	// Latest replaces each requested revision with the leaves descending
	// from it (latest=true).
	Latest bool
}

// UpdateOptions controls a write of one or more documents.
type UpdateOptions struct {
	// NewEdits is false for replicated writes (new_edits=false): the given
	// revisions are merged into the tree as they are, without conflict checks.
	NewEdits bool
	// WriteID, when set, names one coordinator's write of one range: the
	// same on every copy it is sent to. A copy keeps a receipt of it, by
	// which internal replication skips what the peer provably holds.
	WriteID WriteID
	// ReplicateLocal marks internal replication's writes of _local
	// documents (cluster/sync.go): each is stored at exactly its Rev and
	// LocalVersion when that outranks what the copy holds. Never set from
	// a client's request.
	ReplicateLocal bool
	// Encoding, when set, is shared by every copy the write is sent to, so
	// that those reached over the network encode it once (internal/rpc).
	// Storage ignores it.
	Encoding *SharedEncoding
}

// SharedEncoding is one write's encoding for the network, made by the first
// copy that needs it and reused by the others (UpdateOptions.Encoding).
type SharedEncoding struct {
	once sync.Once
	key  string
	data []byte
	err  error
}

// Get returns the encoding, made by encode on the first call. key names
// what was encoded: a call with another key (a request the others do not
// share) gets encode's own result.
func (s *SharedEncoding) Get(key string, encode func() ([]byte, error)) ([]byte, error) {
	s.once.Do(func() { s.key = key; s.data, s.err = encode() })
	if key != s.key {
		return encode()
	}
	return s.data, s.err
}

// WriteID identifies one write sent to every copy of a range.
type WriteID [16]byte

// NewWriteID returns a random WriteID.
func NewWriteID() WriteID {
	var id WriteID
	rand.Read(id[:]) // never fails (crypto/rand)
	return id
}

// IsZero reports an unset WriteID.
func (id WriteID) IsZero() bool { return id == WriteID{} }

// UpdateResult is the outcome of writing one document. Err is an *Error
// (conflict, forbidden, ...) for a document that was not written.
type UpdateResult struct {
	ID  string
	Rev Rev
	Err error
}
