package fabric

import (
	"encoding/json"

	"github.com/divandb/divan/internal/couch"
)

// CreateDBOptions are the shard parameters of a new database; zero values take
// the `[cluster]` defaults.
type CreateDBOptions struct {
	Q int
	N int
	// Placement is ?placement= ("zone:n,…"); it overrides N.
	Placement string
}

// DBInfo is a database's aggregated info (GET /{db}).
type DBInfo struct {
	Name              string
	UpdateSeq         string // clustered, opaque
	PurgeSeq          string // clustered, opaque
	DocCount          int64
	DocDelCount       int64
	SizeFile          int64
	SizeExternal      int64
	SizeActive        int64
	InstanceStartTime string // shard suffix seconds, e.g. "1529362187"
	Q, N, W, R        int
	Props             json.RawMessage // "{}" unless set
	CompactRunning    bool
}

// WriteOptions controls a clustered write.
type WriteOptions struct {
	NewEdits bool
	// W is the number of copies that must acknowledge; 0 means quorum.
	W int
}

// DocResult is one document's outcome of a clustered write.
type DocResult struct {
	ID  string
	Rev couch.Rev
	// Err is a *couch.Error when the document was not written.
	Err error
	// Accepted is true when fewer than W copies acknowledged but at least one
	// did (HTTP 202).
	Accepted bool
}

// ReadOptions controls a clustered document read.
type ReadOptions struct {
	couch.OpenOptions
	// R is the number of copies that must agree; 0 means quorum.
	R int
}

// AllDocsOptions are the `_all_docs` query parameters, keys already parsed.
// Keys are document ids compared by raw byte order.
type AllDocsOptions struct {
	StartKey     *string // nil: from the beginning (the end when Descending)
	EndKey       *string // nil: to the end
	InclusiveEnd bool
	Descending   bool
	Limit        int // < 0: no limit
	Skip         int
	IncludeDocs  bool
	Conflicts    bool // with IncludeDocs: add _conflicts to docs
	// Keys, when non-nil, selects exactly these ids in this order instead of
	// a range; a key may repeat and missing ids yield error rows.
	Keys []string
	// UpdateSeq asks for the db's update_seq in the metadata.
	UpdateSeq bool
}

// AllDocsMeta is the metadata sent before the rows.
type AllDocsMeta struct {
	TotalRows int64
	// Offset is nil for keys queries (CouchDB sends null).
	Offset    *int64
	UpdateSeq string // set when AllDocsOptions.UpdateSeq
}

// AllDocsRow is one row of `_all_docs`.
type AllDocsRow struct {
	ID      string
	Rev     couch.Rev
	Deleted bool // only in keys queries: the id names a deleted document
	// Doc is the winning revision when IncludeDocs (nil for deleted docs).
	Doc *couch.Revision
	// Conflicts lists the doc's conflicting revisions when Conflicts.
	Conflicts []couch.Rev
	// Err is set for a keys query row whose id is not found ("not_found").
	Err error
}

// RowSink receives `_all_docs` results as they stream: Meta once before any
// row, then Row for each row. Returning an error stops the query.
type RowSink struct {
	Meta func(AllDocsMeta) error
	Row  func(AllDocsRow) error
}

// PurgeResult is the per-document outcome of a purge.
type PurgeResult struct {
	PurgeSeq *string
	Purged   map[string][]couch.Rev
	Accepted bool
}
