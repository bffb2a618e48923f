package fabric

import (
	"context"
	"errors"
	"fmt"
	"sync"

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
	for i, d := range docs {
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

func (f *Fabric) updateRange(ctx context.Context, m *cluster.ShardMap, r cluster.Range, docs []*couch.Doc, opts WriteOptions) ([]DocResult, error) {
	copies, copyErrs := f.allCopies(ctx, m, r)
	n := len(m.ByRange[r])
	w := opts.W
	if w <= 0 {
		w = quorum(n)
	}
	replies := make([][]couch.UpdateResult, len(copies))
	errs := make([]error, len(copies))
	var wg sync.WaitGroup
	for i, c := range copies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i], errs[i] = c.Update(ctx, docs, couch.UpdateOptions{NewEdits: opts.NewEdits})
		}()
	}
	wg.Wait()

	answered := 0
	for i := range copies {
		if errs[i] == nil {
			answered++
		} else {
			copyErrs = append(copyErrs, errs[i])
		}
	}
	if answered == 0 {
		if err := errors.Join(copyErrs...); err != nil {
			return nil, fmt.Errorf("write to %s range %s: %w", m.DB, r, err)
		}
		return nil, fmt.Errorf("write to %s range %s: no copies", m.DB, r)
	}
	out := make([]DocResult, len(docs))
	for j, d := range docs {
		out[j] = tally(d.ID, j, replies, errs, w)
	}
	return out, nil
}

// tally decides one doc's outcome from every copy's reply.
func tally(id string, j int, replies [][]couch.UpdateResult, errs []error, w int) DocResult {
	counts := map[couch.Rev]int{}
	var firstErr error
	var best couch.Rev
	for i, rep := range replies {
		if errs[i] != nil {
			continue
		}
		res := rep[j]
		if res.Err != nil {
			if firstErr == nil {
				firstErr = res.Err
			}
			continue
		}
		counts[res.Rev]++
		if counts[res.Rev] > counts[best] {
			best = res.Rev
		}
	}
	switch {
	case counts[best] >= w:
		return DocResult{ID: id, Rev: best}
	case counts[best] > 0:
		return DocResult{ID: id, Rev: best, Accepted: true}
	default:
		return DocResult{ID: id, Err: firstErr}
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
