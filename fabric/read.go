package fabric

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/divandb/divan/cluster"

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
	bestIdx := -1
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
			best, bestIdx = docs[i], i
		}
	}
	if best != nil {
		f.maybeRepair(ctx, db, id, copies, docs, errs, bestIdx)
		return best, nil
	}
	return nil, bestErr
}

// readRepairTimeout bounds a background read repair.
const readRepairTimeout = 30 * time.Second

// maybeRepair writes, in the background, the revisions the best copy has
// to every copy that answered with less (fabric_doc_open's read repair), as
// replicated (new_edits=false) writes. _local documents are never repaired.
func (f *Fabric) maybeRepair(ctx context.Context, db, id string, copies []rangeCopy, docs []*couch.Document, errs []error, best int) {
	if couch.IsLocalID(id) || docs[best].Tree == nil {
		return
	}
	want, _ := docs[best].Tree.Winner()
	var behind []rangeCopy
	for i, c := range copies {
		if i == best {
			continue
		}
		if errs[i] != nil {
			var ce *couch.Error
			if !errors.As(errs[i], &ce) || ce.Code != couch.CodeNotFound {
				continue // unreachable or failing: internal replication's job
			}
			behind = append(behind, c)
			continue
		}
		if w, _ := docs[i].Tree.Winner(); w.Rev != want.Rev || docs[i].Tree.Len() != docs[best].Tree.Len() {
			behind = append(behind, c)
		}
	}
	if len(behind) == 0 {
		return
	}
	source := copies[best]
	// The repair outlives the request that noticed the difference.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readRepairTimeout)
	go func() {
		defer cancel()
		if err := f.repair(rctx, id, source, behind); err != nil {
			f.log.DebugContext(rctx, "read repair incomplete", "db", db, "doc_id", id, "err", err)
		}
	}()
}

func (f *Fabric) repair(ctx context.Context, id string, source rangeCopy, targets []rangeCopy) error {
	doc, err := source.Open(ctx, id, couch.OpenOptions{AllLeaves: true})
	if err != nil {
		return err
	}
	leaves := make([]couch.Rev, 0, len(doc.Revisions))
	for _, r := range doc.Revisions {
		leaves = append(leaves, r.Rev)
	}
	for _, t := range targets {
		diff, err := t.RevsDiff(ctx, map[string][]couch.Rev{id: leaves})
		if err != nil {
			return err
		}
		var writes []*couch.Doc
		for _, r := range doc.Revisions {
			if r.Missing || !slices.Contains(diff[id].Missing, r.Rev) {
				continue
			}
			d, err := cluster.ReplicatedDoc(ctx, source.AttachmentData, doc, r)
			if err != nil {
				return err
			}
			writes = append(writes, d)
		}
		if len(writes) == 0 {
			continue
		}
		if _, err := t.Update(ctx, writes, couch.UpdateOptions{NewEdits: false}); err != nil {
			return err
		}
		f.log.DebugContext(ctx, "read repair", "doc_id", id, "shard", t.meta.Name, "node", t.meta.Node, "revs", len(writes))
	}
	return nil
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
