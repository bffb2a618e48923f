package httpapi

import (
	"context"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/couch"
)

// Backend is what the HTTP API needs from the cluster coordinator. fabric.Fabric
// implements it. Errors are *couch.Error (wrapped or not) for every failure a
// client should see as a CouchDB error; anything else is a 500.
type Backend interface {
	// CreateDB creates a database cluster-wide; couch.ErrDBExists when it
	// exists. Name validation is the caller's (httpapi) job.
	CreateDB(ctx context.Context, name string, opts fabric.CreateDBOptions) error
	// DeleteDB deletes a database; couch.ErrNoDB when it does not exist.
	DeleteDB(ctx context.Context, name string) error
	// AllDBs lists databases in sorted order (system dbs included).
	AllDBs(ctx context.Context) ([]string, error)
	// DBInfo aggregates a database's info; couch.ErrNoDB when missing.
	DBInfo(ctx context.Context, db string) (*fabric.DBInfo, error)

	// UpdateDocs writes documents (ids assigned by the caller) and returns one
	// result per doc in order. `_local/` docs are written as local docs.
	UpdateDocs(ctx context.Context, db string, docs []*couch.Doc, opts fabric.WriteOptions) ([]fabric.DocResult, error)
	// OpenDoc reads a document (including `_local/` ids).
	// couch.ErrNotFound / couch.ErrDeleted when there is no such doc or rev
	// (for plain and rev reads; open_revs reads report Missing instead).
	OpenDoc(ctx context.Context, db, id string, opts fabric.ReadOptions) (*couch.Document, error)
	// AllDocs streams `_all_docs` rows to sink.
	AllDocs(ctx context.Context, db string, opts fabric.AllDocsOptions, sink fabric.RowSink) error

	// Security returns the db's raw `_security` object ("{}" when unset).
	Security(ctx context.Context, db string) ([]byte, error)
	SetSecurity(ctx context.Context, db string, sec []byte) error
	RevsLimit(ctx context.Context, db string) (int, error)
	SetRevsLimit(ctx context.Context, db string, limit int) error
	// Purge removes the given leaf revisions completely.
	Purge(ctx context.Context, db string, revs map[string][]couch.Rev) (*fabric.PurgeResult, error)
	PurgedInfosLimit(ctx context.Context, db string) (int, error)
	SetPurgedInfosLimit(ctx context.Context, db string, limit int) error
	// Compact starts compaction of every copy of db (dropping the bodies of
	// replaced revisions) and may return before it finishes.
	Compact(ctx context.Context, db string) error
	// AttachmentData returns the stored (possibly gzipped) bytes of an
	// attachment of document id.
	AttachmentData(ctx context.Context, db, id, digest string) ([]byte, error)

	// Changes makes one pass over db's changes feed after opts.Since.
	Changes(ctx context.Context, db string, opts fabric.ChangesOptions, fn func(fabric.ChangeRow) error) (fabric.ChangesResult, error)
	// WaitForChange returns a channel closed at db's next write (or when ctx
	// ends); cancel ctx once done waiting.
	WaitForChange(ctx context.Context, db string) (<-chan struct{}, error)
	// RevsDiff reports per id the given revisions db lacks.
	RevsDiff(ctx context.Context, db string, revs map[string][]couch.Rev) (map[string]fabric.RevsDiff, error)
	// AttachmentPolicy is how attachments are compressed on write.
	AttachmentPolicy() couch.AttachmentPolicy
}
