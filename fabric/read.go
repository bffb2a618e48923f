package fabric

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/divandb/divan/internal/couch"
)

// OpenDoc reads a document from the copies of its range. It answers once R
// copies replied (or all that could), returning the reply with the greatest
// winning revision, as fabric_doc_open does.
func (f *Fabric) OpenDoc(ctx context.Context, db, id string, opts ReadOptions) (*couch.Document, error) {
	m, err := f.cl.ShardMap(ctx, db)
	if err != nil {
		return nil, err
	}
	rs := m.RangeFor(id)
	if len(rs) == 0 {
		return nil, fmt.Errorf("shard map of %s does not cover %q", db, id)
	}
	copies, copyErrs := f.allCopies(ctx, m, rs[0])
	if len(copies) == 0 {
		return nil, fmt.Errorf("read %s/%s: %w", db, id, errors.Join(copyErrs...))
	}
	if len(copies) == 1 {
		return copies[0].Open(ctx, id, opts.OpenOptions)
	}
	docs := make([]*couch.Document, len(copies))
	errs := make([]error, len(copies))
	var wg sync.WaitGroup
	for i, c := range copies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			docs[i], errs[i] = c.Open(ctx, id, opts.OpenOptions)
		}()
	}
	wg.Wait()
	var best *couch.Document
	var bestErr error
	for i := range copies {
		if errs[i] != nil {
			// "deleted" knows more than "missing"; any not-found beats an
			// unreachable copy.
			if bestErr == nil || errors.Is(errs[i], couch.ErrDeleted) {
				bestErr = errs[i]
			}
			continue
		}
		if best == nil || newer(docs[i], best) {
			best = docs[i]
		}
	}
	if best != nil {
		return best, nil
	}
	return nil, bestErr
}

// newer reports whether a's winning revision sorts above b's.
func newer(a, b *couch.Document) bool {
	if a.Tree == nil || b.Tree == nil {
		return a.Tree != nil
	}
	wa, _ := a.Tree.Winner()
	wb, _ := b.Tree.Winner()
	if wa.Deleted != wb.Deleted {
		return !wa.Deleted
	}
	return wb.Rev.Less(wa.Rev)
}

// AttachmentData returns the stored bytes of an attachment of document id,
// from the first copy of its range that has them.
func (f *Fabric) AttachmentData(ctx context.Context, db, id, digest string) ([]byte, error) {
	m, err := f.cl.ShardMap(ctx, db)
	if err != nil {
		return nil, err
	}
	rs := m.RangeFor(id)
	if len(rs) == 0 {
		return nil, fmt.Errorf("shard map of %s does not cover %q", db, id)
	}
	copies, copyErrs := f.allCopies(ctx, m, rs[0])
	var lastErr error = errors.Join(copyErrs...)
	for _, c := range copies {
		data, err := c.AttachmentData(ctx, digest)
		if err == nil {
			return data, nil
		}
		lastErr = err
	}
	return nil, lastErr
}
