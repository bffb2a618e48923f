package fabric

import (
	"context"
	"strings"

	"github.com/divandb/divan/cluster"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/shard"
)

// rowBatch is how range workers hand rows to the merger: batching keeps
// channel traffic low on scans of millions of rows.
const rowBatch = 128

// AllDocs streams `_all_docs` rows: a merge of one copy per range, in raw
// byte order of ids (fabric_view_all_docs), or a keys lookup.
func (f *Fabric) AllDocs(ctx context.Context, db string, opts AllDocsOptions, sink RowSink) error {
	m, err := f.cl.ShardMap(ctx, db)
	if err != nil {
		return err
	}
	ring, err := f.ringCopies(ctx, m, nil)
	if err != nil {
		return err
	}
	infos := make([]shard.Info, len(ring))
	if err := parallel(ctx, len(ring), func(ctx context.Context, i int) error {
		var err error
		infos[i], err = ring[i].Info(ctx)
		return err
	}); err != nil {
		return err
	}
	meta := AllDocsMeta{}
	seqs := make([]RangeSeq, len(ring))
	for i, info := range infos {
		meta.TotalRows += info.DocCount
		seqs[i] = RangeSeq{Node: ring[i].meta.Node, Range: ring[i].meta.Range, Seq: info.UpdateSeq, UUID: info.UUID}
	}
	if opts.UpdateSeq {
		meta.UpdateSeq = f.packSeq(seqs)
	}
	if opts.Keys != nil {
		return f.allDocsKeys(ctx, m, ring, opts, meta, sink)
	}

	offset := int64(opts.Skip)
	if opts.StartKey != nil {
		counts := make([]int64, len(ring))
		if err := parallel(ctx, len(ring), func(ctx context.Context, i int) error {
			var err error
			counts[i], err = ring[i].CountBefore(ctx, *opts.StartKey, opts.Descending)
			return err
		}); err != nil {
			return err
		}
		for _, c := range counts {
			offset += c
		}
	}
	offset = min(offset, meta.TotalRows)
	meta.Offset = &offset
	if err := sink.Meta(meta); err != nil {
		return err
	}
	return f.mergeRanges(ctx, ring, opts, sink)
}

func (f *Fabric) mergeRanges(ctx context.Context, ring []rangeCopy, opts AllDocsOptions, sink RowSink) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	q := shard.DocsQuery{
		StartKey: opts.StartKey, EndKey: opts.EndKey, InclusiveEnd: opts.InclusiveEnd,
		Descending: opts.Descending, Limit: -1, IncludeDocs: opts.IncludeDocs,
	}
	if opts.Limit >= 0 {
		q.Limit = opts.Skip + opts.Limit
	}
	type stream struct {
		ch   chan []shard.DocRow
		errc chan error
		buf  []shard.DocRow
		done bool
	}
	streams := make([]*stream, len(ring))
	for i, c := range ring {
		// One batch in flight per range keeps the copies reading ahead
		// while the merge renders; more only holds more documents in
		// memory per concurrent request.
		s := &stream{ch: make(chan []shard.DocRow, 1), errc: make(chan error, 1)}
		streams[i] = s
		go func() {
			defer close(s.ch)
			batch := make([]shard.DocRow, 0, rowBatch)
			err := c.Docs(ctx, q, func(r shard.DocRow) error {
				batch = append(batch, r)
				if len(batch) == rowBatch {
					select {
					case s.ch <- batch:
					case <-ctx.Done():
						return ctx.Err()
					}
					batch = make([]shard.DocRow, 0, rowBatch)
				}
				return nil
			})
			if err == nil && len(batch) > 0 {
				select {
				case s.ch <- batch:
				case <-ctx.Done():
					err = ctx.Err()
				}
			}
			s.errc <- err
		}()
	}
	// fill makes sure s has a head row unless it is exhausted.
	fill := func(s *stream) error {
		for len(s.buf) == 0 && !s.done {
			b, ok := <-s.ch
			if !ok {
				s.done = true
				return <-s.errc
			}
			s.buf = b
		}
		return nil
	}
	skip, emitted := opts.Skip, 0
	for {
		var pick *stream
		for _, s := range streams {
			if err := fill(s); err != nil {
				return err
			}
			if len(s.buf) == 0 {
				continue
			}
			if pick == nil {
				pick = s
				continue
			}
			c := strings.Compare(s.buf[0].ID, pick.buf[0].ID)
			if (c < 0) != opts.Descending && c != 0 {
				pick = s
			}
		}
		if pick == nil {
			return nil
		}
		row := pick.buf[0]
		pick.buf = pick.buf[1:]
		if skip > 0 {
			skip--
			continue
		}
		if opts.Limit >= 0 && emitted >= opts.Limit {
			return nil
		}
		emitted++
		if err := sink.Row(toRow(row, opts)); err != nil {
			return err
		}
	}
}

func toRow(r shard.DocRow, opts AllDocsOptions) AllDocsRow {
	out := AllDocsRow{ID: r.ID, Rev: r.Rev, Deleted: r.Deleted, Doc: r.Doc}
	if opts.Conflicts {
		out.Conflicts = r.Conflicts
	}
	return out
}

func (f *Fabric) allDocsKeys(ctx context.Context, m *cluster.ShardMap, ring []rangeCopy, opts AllDocsOptions, meta AllDocsMeta, sink RowSink) error {
	if err := sink.Meta(meta); err != nil {
		return err
	}
	byCopy := make([][]int, len(ring))
	for i, k := range opts.Keys {
		h := cluster.Hash(k)
		for ci, c := range ring {
			if c.meta.Range.Contains(h) {
				byCopy[ci] = append(byCopy[ci], i)
				break
			}
		}
	}
	rows := make([]AllDocsRow, len(opts.Keys))
	if err := parallel(ctx, len(ring), func(ctx context.Context, ci int) error {
		idx := byCopy[ci]
		if len(idx) == 0 {
			return nil
		}
		ids := make([]string, len(idx))
		for j, i := range idx {
			ids[j] = opts.Keys[i]
		}
		found, ok, err := ring[ci].Lookup(ctx, ids, opts.IncludeDocs)
		if err != nil {
			return err
		}
		for j, i := range idx {
			if !ok[j] {
				rows[i] = AllDocsRow{ID: ids[j], Err: couch.ErrNotFound}
				continue
			}
			rows[i] = toRow(found[j], opts)
		}
		return nil
	}); err != nil {
		return err
	}
	if opts.Descending {
		for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
			rows[i], rows[j] = rows[j], rows[i]
		}
	}
	skip := opts.Skip
	emitted := 0
	for _, r := range rows {
		if skip > 0 {
			skip--
			continue
		}
		if opts.Limit >= 0 && emitted >= opts.Limit {
			break
		}
		emitted++
		if err := sink.Row(r); err != nil {
			return err
		}
	}
	return nil
}
