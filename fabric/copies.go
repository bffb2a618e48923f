package fabric

import (
	"context"
	"fmt"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/shard"
)

// Copy is one shard copy as fabric uses it. *shard.Shard implements it for
// copies on this node; a gRPC client implements it for remote ones. Errors a
// client should see are *couch.Error.
type Copy interface {
	Update(ctx context.Context, docs []*couch.Doc, opts couch.UpdateOptions) ([]couch.UpdateResult, error)
	Open(ctx context.Context, id string, opts couch.OpenOptions) (*couch.Document, error)
	Docs(ctx context.Context, q shard.DocsQuery, fn func(shard.DocRow) error) error
	Lookup(ctx context.Context, ids []string, includeDocs bool) ([]shard.DocRow, []bool, error)
	CountBefore(ctx context.Context, key string, descending bool) (int64, error)
	Info(ctx context.Context) (shard.Info, error)
	Security(ctx context.Context) (sec []byte, version uint64, err error)
	SetSecurity(ctx context.Context, sec []byte, version uint64) (applied bool, err error)
	RevsLimit(ctx context.Context) (int, error)
	SetRevsLimit(ctx context.Context, limit int) error
	Purge(ctx context.Context, revs map[string][]couch.Rev) (map[string][]couch.Rev, error)
	// AttachmentData returns the stored (possibly gzipped) bytes of the
	// attachment blob with this digest.
	AttachmentData(ctx context.Context, digest string) ([]byte, error)
	// RevsDiff reports the given revisions the copy does not have.
	RevsDiff(ctx context.Context, revs map[string][]couch.Rev) (map[string]shard.RevsDiff, error)
}

var _ Copy = (*shard.Shard)(nil)

// Copies reaches the shard copies of the cluster by node and shard name.
type Copies interface {
	// Copy returns a handle on an existing copy.
	Copy(ctx context.Context, node, name string) (Copy, error)
	// Handle returns a handle on a copy without first checking that the
	// copy exists and that its node answers, a round trip for a remote
	// copy: the handle's first call fails as Copy would have. It is for
	// callers that treat a call's error as they would Copy's (writes,
	// document reads). A handle's Changed may fire at once.
	Handle(ctx context.Context, node, name string) (Copy, error)
	// Create creates a copy on node with the given raw props.
	Create(ctx context.Context, node, name string, props []byte) error
	// Delete deletes a copy on node.
	Delete(ctx context.Context, node, name string) error
}

// LocalCopies serves the copies held by this node's store. Copies on other
// nodes are reported as down until a remote transport is configured.
type LocalCopies struct {
	Self  string
	Store *shard.Store
}

var _ Copies = LocalCopies{}

func (l LocalCopies) check(node string) error {
	if node != l.Self {
		return couch.Errorf(couch.CodeNodeDown, "%s is down", node)
	}
	return nil
}

// Copy implements Copies.
func (l LocalCopies) Copy(ctx context.Context, node, name string) (Copy, error) {
	if err := l.check(node); err != nil {
		return nil, err
	}
	sh, err := l.Store.Get(name)
	if err != nil {
		return nil, fmt.Errorf("open copy %s on %s: %w", name, node, err)
	}
	return sh, nil
}

// Handle implements Copies: a local copy is checked in-process, so it is
// Copy.
func (l LocalCopies) Handle(ctx context.Context, node, name string) (Copy, error) {
	return l.Copy(ctx, node, name)
}

// Create implements Copies.
func (l LocalCopies) Create(ctx context.Context, node, name string, props []byte) error {
	if err := l.check(node); err != nil {
		return err
	}
	_, err := l.Store.Create(ctx, name, props)
	return err
}

// Delete implements Copies.
func (l LocalCopies) Delete(ctx context.Context, node, name string) error {
	if err := l.check(node); err != nil {
		return err
	}
	return l.Store.Delete(ctx, name)
}
