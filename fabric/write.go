package fabric

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/divandb/divan/cluster"
	"github.com/divandb/divan/internal/couch"
)

// UpdateDocs writes docs to every copy of their ranges and answers per doc:
// ok once W copies agree on the same revision, Accepted when fewer but at
// least one did, else the copies' error (fabric_doc_update).
func (f *Fabric) UpdateDocs(ctx context.Context, db string, docs []*couch.Doc, opts WriteOptions) ([]DocResult, error) {
	m, err := f.cl.ShardMap(ctx, db)
	if err != nil {
		return nil, err
	}
	results := make([]DocResult, len(docs))
	groups := map[cluster.Range][]int{}
	var order []cluster.Range
	// _local documents are stamped once here, for every copy: copies keep
	// the later stamp (shard.LocalOutranks), so a write that reaches a slow
	// copy after a later one does not undo it there, and all copies of one
	// write agree. Distinct per document, so the later of two writes of
	// one id in one request wins.
	stamp := uint64(time.Now().UnixNano())
	for i, d := range docs {
		if couch.IsLocalID(d.ID) && d.LocalVersion == 0 {
			d.LocalVersion = stamp + uint64(i)
		}
		if d.Atts == nil && d.Attachments != nil {
			// Decode, compress and digest inline attachments once here,
			// not on every copy.
			atts, err := couch.ParseAttachments(d.Attachments, f.cfg.Attachments)
			if err != nil {
				results[i] = DocResult{ID: d.ID, Err: err}
				continue
			}
			d.Atts = atts
		}
		rs := m.RangeFor(d.ID)
		if len(rs) == 0 {
			return nil, fmt.Errorf("shard map of %s does not cover %q", db, d.ID)
		}
		if _, ok := groups[rs[0]]; !ok {
			order = append(order, rs[0])
		}
		groups[rs[0]] = append(groups[rs[0]], i)
	}
	err = parallel(ctx, len(order), func(ctx context.Context, gi int) error {
		r := order[gi]
		idx := groups[r]
		sub := make([]*couch.Doc, len(idx))
		for j, i := range idx {
			sub[j] = docs[i]
		}
		if opts.NewEdits {
			// The new revisions' ids, hashed once here rather than by
			// each copy (see couch.Doc.NewRevID), range by range in
			// parallel as the copies would.
			for _, d := range sub {
				if len(d.Atts) == 0 && !couch.IsLocalID(d.ID) {
					d.NewRevID = couch.NewRevID(d.Rev, d.Deleted, d.Body, nil)
				}
			}
		}
		res, err := f.updateRange(ctx, m, r, sub, opts)
		if err != nil {
			return err
		}
		for j, i := range idx {
			results[i] = res[j]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// updateRange writes docs, all of range r, to every copy of r in parallel
// and answers as soon as the outcome can no longer change, as
// fabric_doc_update does:
//
//   - once every doc has w copies agreeing on the same revision, the write
//     is done (201): copies still writing finish in the background;
//   - otherwise, once every copy has answered or failed, each doc is ok,
//     accepted (202: at least one copy wrote it) or the copies' error, and
//     the range fails only when no copy answered at all.
//
// Conflicts and other per-doc errors do not count toward w, so a doc that
// conflicts waits for every copy: a later copy may still accept it (202).
func (f *Fabric) updateRange(ctx context.Context, m *cluster.ShardMap, r cluster.Range, docs []*couch.Doc, opts WriteOptions) ([]DocResult, error) {
	copies := m.Copies(r)
	if len(copies) == 0 {
		return nil, fmt.Errorf("write to %s range %s: no copies", m.DB, r)
	}
	w := opts.W
	if w <= 0 {
		w = quorum(len(copies))
	}
	uopts := couch.UpdateOptions{NewEdits: opts.NewEdits}
	if len(copies) > 1 {
		// One id for every copy's write: their receipts spare internal
		// replication comparing these documents again. And one encoding
		// for the copies on other nodes.
		uopts.WriteID = couch.NewWriteID()
		uopts.Encoding = new(couch.SharedEncoding)
	}
	// Only a write answered before its last copy can run ahead of a slow
	// node; one that waits for every copy needs no window.
	windowed := w < len(copies)
	arrivals, admitted := f.writeCopies(ctx, copies, docs, uopts, windowed)
	replies := make([]*copyReply, len(copies)) // by copy; nil until it answers
	for range copies {
		select {
		case rep := <-arrivals:
			replies[rep.idx] = &rep
		case <-ctx.Done():
			return nil, fmt.Errorf("write to %s range %s: %w", m.DB, r, context.Cause(ctx))
		}
		if out, done := tallyDocs(docs, replies, w); done {
			// Answer once every copy has been sent its write, so that this
			// request, not the next, waits on a full window.
			admitted.Wait()
			return out, nil
		}
	}
	var errs []error
	for _, rep := range replies {
		if rep.err != nil {
			errs = append(errs, rep.err)
		}
	}
	if len(errs) == len(replies) {
		return nil, fmt.Errorf("write to %s range %s: %w", m.DB, r, errors.Join(errs...))
	}
	out, done := tallyDocs(docs, replies, w)
	if !done && opts.NewEdits && f.settleReplicationRaces(ctx, copies, docs, replies, out) {
		out, _ = tallyDocs(docs, replies, w)
	}
	return out, nil
}

// settleReplicationRaces looks again at docs that a copy refused as a
// conflict while another copy wrote them: internal replication may have
// brought the very same revision to that copy first (revision ids are
// deterministic), in which case it agrees rather than conflicts. CouchDB
// answers such a race 202; Divan counts the copy toward w when it holds
// the revision. It rewrites those replies and reports whether
// it changed any. A genuine conflict (the copy holds other revisions) is
// left as it is.
func (f *Fabric) settleReplicationRaces(ctx context.Context, copies []cluster.Copy, docs []*couch.Doc, replies []*copyReply, out []DocResult) bool {
	type check struct{ copyIdx, doc int }
	var checks []check
	for j, res := range out {
		if !res.Accepted {
			continue
		}
		for i, rep := range replies {
			if rep != nil && rep.err == nil && errors.Is(rep.results[j].Err, couch.ErrConflict) {
				checks = append(checks, check{i, j})
			}
		}
	}
	changed := false
	for _, c := range checks {
		cp, err := f.copies.Handle(ctx, copies[c.copyIdx].Node, copies[c.copyIdx].Name)
		if err != nil {
			continue
		}
		rev := out[c.doc].Rev
		id := docs[c.doc].ID
		if !hasRevision(ctx, cp, id, rev) {
			continue
		}
		replies[c.copyIdx].results[c.doc] = couch.UpdateResult{ID: id, Rev: rev}
		changed = true
	}
	return changed
}

// hasRevision reports whether copy cp holds revision rev of doc id.
func hasRevision(ctx context.Context, cp Copy, id string, rev couch.Rev) bool {
	doc, err := cp.Open(ctx, id, couch.OpenOptions{OpenRevs: []couch.Rev{rev}})
	return err == nil && len(doc.Revisions) == 1 && !doc.Revisions[0].Missing && doc.Revisions[0].Rev == rev
}

// copyReply is one copy's answer to a range write: a result per doc, or
// the error that kept the copy from answering.
type copyReply struct {
	idx     int // the copy's index in the range's copies
	results []couch.UpdateResult
	err     error
}

// writeCopies starts writing docs to each copy, every copy in its own
// goroutine that takes room in the node's write window (window.go) and
// then writes to it (Copies.Handle: no round trip to open it first), so
// that a slow or silent node delays nobody but itself. Replies arrive on
// the returned channel in completion order, one per copy; it is buffered
// for all of them, so a copy answering after the caller has stopped
// listening never blocks. With windowed, each copy write first waits for
// room in its node's window, and admitted is done once every copy's write
// has been sent.
//
// The writes are detached from ctx's cancellation and bounded by the
// request timeout instead: the caller returns at quorum, and a slow but live
// copy should still get the write rather than have it cut off (internal
// replication would bring it later, at a higher cost).
func (f *Fabric) writeCopies(ctx context.Context, copies []cluster.Copy, docs []*couch.Doc, opts couch.UpdateOptions, windowed bool) (replies <-chan copyReply, admitted *sync.WaitGroup) {
	out := make(chan copyReply, len(copies))
	admitted = new(sync.WaitGroup)
	admitted.Add(len(copies))
	var size int64
	if windowed {
		size = int64(couch.DocsSize(docs))
	}
	for i, c := range copies {
		f.bg.Add(1)
		go func() {
			defer f.bg.Done()
			var win *window
			if windowed {
				win = f.windows.acquire(ctx, c.Node, size)
			}
			admitted.Done()
			wctx, cancel := f.detached(ctx)
			defer cancel()
			res, err := f.updateCopy(wctx, c, docs, opts)
			if win != nil {
				win.release(size, err == nil)
			}
			out <- copyReply{idx: i, results: res, err: err}
		}()
	}
	return out, admitted
}

// updateCopy writes docs to copy c.
func (f *Fabric) updateCopy(ctx context.Context, c cluster.Copy, docs []*couch.Doc, opts couch.UpdateOptions) ([]couch.UpdateResult, error) {
	cp, err := f.copies.Handle(ctx, c.Node, c.Name)
	if err != nil {
		return nil, err
	}
	res, err := cp.Update(ctx, docs, opts)
	if err != nil {
		return nil, fmt.Errorf("update %s on %s: %w", c.Name, c.Node, err)
	}
	if len(res) != len(docs) {
		return nil, fmt.Errorf("update %s on %s: %d results for %d docs", c.Name, c.Node, len(res), len(docs))
	}
	return res, nil
}

// tallyDocs decides every doc's outcome from the replies so far (nil for
// copies yet to answer) and reports whether all of them reached w.
func tallyDocs(docs []*couch.Doc, replies []*copyReply, w int) ([]DocResult, bool) {
	out := make([]DocResult, len(docs))
	done := true
	for j, d := range docs {
		var ok bool
		out[j], ok = tally(d.ID, j, replies, w)
		done = done && ok
	}
	return out, done
}

// tally decides one doc's outcome from the copies' replies, taken in copy
// order: ok when w copies wrote the same revision, accepted when fewer but
// at least one did, else the first copy's error for it. quorum reports the
// first case.
func tally(id string, j int, replies []*copyReply, w int) (res DocResult, quorum bool) {
	// The distinct revisions the copies wrote, with how many wrote each:
	// a few at most, so a list beats a map allocated per document.
	type revCount struct {
		rev couch.Rev
		n   int
	}
	var buf [4]revCount
	counts := buf[:0]
	var firstErr error
	best := -1
	for _, rep := range replies {
		if rep == nil || rep.err != nil {
			continue
		}
		r := rep.results[j]
		if r.Err != nil {
			if firstErr == nil {
				firstErr = r.Err
			}
			continue
		}
		k := 0
		for k < len(counts) && counts[k].rev != r.Rev {
			k++
		}
		if k == len(counts) {
			counts = append(counts, revCount{rev: r.Rev})
		}
		counts[k].n++
		if best < 0 || counts[k].n > counts[best].n {
			best = k
		}
	}
	switch {
	case best >= 0 && counts[best].n >= w:
		return DocResult{ID: id, Rev: counts[best].rev}, true
	case best >= 0:
		return DocResult{ID: id, Rev: counts[best].rev, Accepted: true}, false
	default:
		return DocResult{ID: id, Err: firstErr}, false
	}
}

// Purge removes leaf revisions on every copy of their ranges.
func (f *Fabric) Purge(ctx context.Context, db string, revs map[string][]couch.Rev) (*PurgeResult, error) {
	m, err := f.cl.ShardMap(ctx, db)
	if err != nil {
		return nil, err
	}
	byRange := map[cluster.Range]map[string][]couch.Rev{}
	for id, rs := range revs {
		rr := m.RangeFor(id)
		if len(rr) == 0 {
			continue
		}
		if byRange[rr[0]] == nil {
			byRange[rr[0]] = map[string][]couch.Rev{}
		}
		byRange[rr[0]][id] = rs
	}
	out := &PurgeResult{Purged: map[string][]couch.Rev{}}
	for id := range revs {
		out.Purged[id] = []couch.Rev{}
	}
	for r, req := range byRange {
		copies, _ := f.allCopies(ctx, m, r)
		ok := 0
		for _, c := range copies {
			purged, err := c.Purge(ctx, req)
			if err != nil {
				f.log.WarnContext(ctx, "purge on copy failed", "shard", c.meta.Name, "node", c.meta.Node, "err", err)
				continue
			}
			ok++
			for id, rs := range purged {
				if len(rs) > len(out.Purged[id]) {
					out.Purged[id] = rs
				}
			}
		}
		if ok == 0 {
			return nil, fmt.Errorf("purge in %s range %s: no copy answered", db, r)
		}
		if ok < quorum(len(m.ByRange[r])) {
			out.Accepted = true
		}
	}
	return out, nil
}
