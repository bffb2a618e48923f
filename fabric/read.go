package fabric

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/divandb/divan/cluster"

	"github.com/divandb/divan/internal/couch"
)

// OpenDoc reads a document from the copies of its range, as
// fabric_doc_open does: every copy is asked in parallel and the answer comes
// once R copies agree (or all have answered or failed), as the reply with
// the greatest winning revision among those received. Copies that answered
// with less are read-repaired in the background; copies that had not
// answered yet are left to internal replication.
func (f *Fabric) OpenDoc(ctx context.Context, db, id string, opts ReadOptions) (*couch.Document, error) {
	m, err := f.cl.ShardMap(ctx, db)
	if err != nil {
		return nil, err
	}
	rs := m.RangeFor(id)
	if len(rs) == 0 {
		return nil, fmt.Errorf("shard map of %s does not cover %q", db, id)
	}
	copies := m.Copies(rs[0])
	if len(copies) == 1 {
		c, err := f.copies.Handle(ctx, copies[0].Node, copies[0].Name)
		if err != nil {
			return nil, fmt.Errorf("read %s/%s: %w", db, id, err)
		}
		return c.Open(ctx, id, opts.OpenOptions)
	}
	r := opts.R
	if r <= 0 {
		r = quorum(len(copies))
	}
	r = min(r, len(copies))
	replies, err := f.readQuorum(ctx, copies, id, opts.OpenOptions, r)
	if err != nil {
		return nil, fmt.Errorf("read %s/%s: %w", db, id, err)
	}
	best := newestReply(replies)
	if best >= 0 {
		f.maybeRepair(ctx, db, id, replies, best)
		return replies[best].doc, nil
	}
	if err := notFound(replies); err != nil {
		return nil, err
	}
	var errs []error
	for _, rep := range replies {
		if rep != nil {
			errs = append(errs, rep.err)
		}
	}
	return nil, fmt.Errorf("read %s/%s: %w", db, id, errors.Join(errs...))
}

// readReply is one copy's answer to a document read.
type readReply struct {
	idx  int       // the copy's index in the range's copies
	copy rangeCopy // nil Copy when the copy could not be opened
	doc  *couch.Document
	err  error
}

// answered reports whether the copy knows the document's state: it sent
// the document or said not_found (missing or deleted). Only such replies
// count toward r; a copy that failed or is unreachable does not.
func (rep *readReply) answered() bool {
	var ce *couch.Error
	return rep.doc != nil || errors.As(rep.err, &ce) && ce.Code == couch.CodeNotFound
}

// agrees reports whether two answered replies say the same: the same
// revision tree (leaves and size), or the same not_found reason.
func (rep *readReply) agrees(o *readReply) bool {
	if rep.doc == nil || o.doc == nil {
		return rep.doc == nil && o.doc == nil && notFoundReason(rep.err) == notFoundReason(o.err)
	}
	a, b := rep.doc, o.doc
	if a.Tree == nil || b.Tree == nil { // _local documents
		return a.Tree == nil && b.Tree == nil && len(a.Revisions) > 0 && len(b.Revisions) > 0 &&
			a.Revisions[0].Rev == b.Revisions[0].Rev
	}
	return a.Tree.Len() == b.Tree.Len() && slices.Equal(a.Tree.Leaves(), b.Tree.Leaves())
}

// notFoundReason is the reason of a not_found error ("missing",
// "deleted"), or "" for any other error.
func notFoundReason(err error) string {
	var ce *couch.Error
	if errors.As(err, &ce) && ce.Code == couch.CodeNotFound {
		return ce.Reason
	}
	return ""
}

// readQuorum asks every copy for document id in parallel and collects the
// replies, indexed by copy (nil for copies that had not answered), until r
// answered replies agree or every copy has answered or failed. The reads
// still running then are cancelled.
func (f *Fabric) readQuorum(ctx context.Context, copies []cluster.Copy, id string, opts couch.OpenOptions, r int) ([]*readReply, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	arrivals := make(chan readReply, len(copies)) // never blocks a sender
	for i, c := range copies {
		f.bg.Add(1)
		go func() {
			defer f.bg.Done()
			arrivals <- f.readCopy(ctx, i, c, id, opts)
		}()
	}
	replies := make([]*readReply, len(copies))
	for range copies {
		select {
		case rep := <-arrivals:
			replies[rep.idx] = &rep
			if rep.answered() && agreeing(replies, &rep) >= r {
				return replies, nil
			}
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
	return replies, nil
}

// agreeing counts the replies that agree with rep (itself included).
func agreeing(replies []*readReply, rep *readReply) int {
	n := 0
	for _, o := range replies {
		if o != nil && o.answered() && o.agrees(rep) {
			n++
		}
	}
	return n
}

// readCopy reads document id from copy c.
func (f *Fabric) readCopy(ctx context.Context, idx int, c cluster.Copy, id string, opts couch.OpenOptions) readReply {
	rep := readReply{idx: idx, copy: rangeCopy{meta: c}}
	rep.copy.Copy, rep.err = f.copies.Handle(ctx, c.Node, c.Name)
	if rep.err == nil {
		rep.doc, rep.err = rep.copy.Open(ctx, id, opts)
	}
	return rep
}

// newestReply returns the index of the reply with the greatest winning
// revision, or -1 when no copy sent the document.
func newestReply(replies []*readReply) int {
	best := -1
	for i, rep := range replies {
		if rep == nil || rep.doc == nil {
			continue
		}
		if best < 0 || newer(rep.doc, replies[best].doc) {
			best = i
		}
	}
	return best
}

// notFound returns the not_found error to answer with when no copy sent
// the document but some said not_found: "deleted" knows more than
// "missing". It returns nil when no copy said not_found.
func notFound(replies []*readReply) error {
	var out error
	for _, rep := range replies {
		if rep == nil || !rep.answered() {
			continue
		}
		if out == nil || notFoundReason(rep.err) == couch.ErrDeleted.Reason {
			out = rep.err
		}
	}
	return out
}

// readRepairTimeout bounds a background read repair.
const readRepairTimeout = 30 * time.Second

// maybeRepair writes, in the background, the revisions the best reply has
// to every copy that answered with less (fabric_doc_open's read repair), as
// replicated (new_edits=false) writes. _local documents are never repaired.
func (f *Fabric) maybeRepair(ctx context.Context, db, id string, replies []*readReply, best int) {
	bestDoc := replies[best].doc
	if couch.IsLocalID(id) || bestDoc.Tree == nil {
		return
	}
	want, _ := bestDoc.Tree.Winner()
	var behind []rangeCopy
	for i, rep := range replies {
		if i == best || rep == nil || !rep.answered() {
			continue // unreachable or failing: internal replication's job
		}
		if rep.doc == nil {
			behind = append(behind, rep.copy)
			continue
		}
		if w, _ := rep.doc.Tree.Winner(); w.Rev != want.Rev || rep.doc.Tree.Len() != bestDoc.Tree.Len() {
			behind = append(behind, rep.copy)
		}
	}
	if len(behind) == 0 {
		return
	}
	source := replies[best].copy
	// The repair outlives the request that noticed the difference.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readRepairTimeout)
	f.bg.Add(1)
	go func() {
		defer f.bg.Done()
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
// from the first copy of its range that has them, this node's own copy
// first. Copies are opened one at a time, only as needed, so an unreachable
// node costs nothing while a copy before it in that order answers.
func (f *Fabric) AttachmentData(ctx context.Context, db, id, digest string) ([]byte, error) {
	m, err := f.cl.ShardMap(ctx, db)
	if err != nil {
		return nil, err
	}
	rs := m.RangeFor(id)
	if len(rs) == 0 {
		return nil, fmt.Errorf("shard map of %s does not cover %q", db, id)
	}
	var openErrs []error
	var lastErr error // the last answer of a copy that could be asked
	for _, c := range localFirst(m.Copies(rs[0]), f.cl.Self()) {
		cp, err := f.copies.Copy(ctx, c.Node, c.Name)
		if err != nil {
			openErrs = append(openErrs, err)
			continue
		}
		data, err := cp.AttachmentData(ctx, digest)
		if err == nil {
			return data, nil
		}
		lastErr = err
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, fmt.Errorf("attachment of %s/%s: %w", db, id, errors.Join(openErrs...))
}

// localFirst returns copies with those on node self moved to the front,
// the order otherwise kept.
func localFirst(copies []cluster.Copy, self string) []cluster.Copy {
	out := slices.Clone(copies)
	slices.SortStableFunc(out, func(a, b cluster.Copy) int {
		return cmpBool(b.Node == self, a.Node == self)
	})
	return out
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}
