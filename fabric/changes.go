package fabric

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/divandb/divan/cluster"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/shard"
)

// ChangesOptions are a changes feed's read parameters, feed mode aside:
// httpapi runs longpoll and continuous feeds as repeated reads separated by
// WaitForChange.
type ChangesOptions struct {
	// Since is a packed seq, "0"/"" for the beginning or "now".
	Since       string
	Limit       int // < 0: no limit
	Descending  bool
	IncludeDocs bool
	Conflicts   bool
	// AllLeaves is style=all_docs: every leaf in "changes", not just the
	// winner.
	AllLeaves bool
	// DocIDs restricts the feed to these ids (filter=_doc_ids).
	DocIDs []string
	// NeedDoc makes rows carry the winning body even without IncludeDocs,
	// for filters that look at documents (the doc is then dropped unless
	// IncludeDocs).
	NeedDoc bool
	// Filter, when set, keeps only rows it returns true for.
	Filter func(*ChangeRow) bool
}

// ChangeRow is one row of a changes feed.
type ChangeRow struct {
	Seq       string // packed seq of the whole feed after this row
	ID        string
	Changes   []couch.Rev
	Deleted   bool
	Doc       *couch.Revision // winner, with IncludeDocs or NeedDoc
	Conflicts []couch.Rev     // with Conflicts and IncludeDocs
}

// ChangesResult ends a read.
type ChangesResult struct {
	LastSeq string
	Pending int64
}

var errFeedLimit = errors.New("fabric: feed limit reached")

// changesBatch bounds how many changes one storage snapshot serves, so a
// slow client never pins a read transaction for long.
const changesBatch = 1000

// Changes reads the db's changes after opts.Since from one copy per range
// and calls fn for each row. Rows of different ranges interleave; every
// row's Seq covers all ranges, so resuming from any row's Seq misses nothing.
func (f *Fabric) Changes(ctx context.Context, db string, opts ChangesOptions, fn func(ChangeRow) error) (ChangesResult, error) {
	m, err := f.cl.ShardMap(ctx, db)
	if err != nil {
		return ChangesResult{}, err
	}
	ring, err := f.ringCopies(ctx, m, seqNodes(opts.Since))
	if err != nil {
		return ChangesResult{}, err
	}
	pos, err := f.startSeqs(ctx, ring, opts.Since, opts.Descending)
	if err != nil {
		return ChangesResult{}, err
	}
	var wantIDs map[string]bool
	if opts.DocIDs != nil {
		wantIDs = make(map[string]bool, len(opts.DocIDs))
		for _, id := range opts.DocIDs {
			wantIDs[id] = true
		}
	}
	emitted := 0
	for i, c := range ring {
		sh, ok := c.Copy.(changesReader)
		if !ok {
			return ChangesResult{}, fmt.Errorf("copy %s does not serve changes", c.meta.Name)
		}
		for {
			n := 0
			last := pos[i].Seq
			visit := func(ch shard.Change) error {
				if opts.Limit >= 0 && emitted >= opts.Limit {
					return errFeedLimit
				}
				n++
				last = ch.Seq
				if wantIDs != nil && !wantIDs[ch.ID] {
					return nil
				}
				row, err := f.changeRow(ctx, sh, ch, opts)
				if err != nil {
					return err
				}
				if opts.Filter != nil && !opts.Filter(&row) {
					pos[i].Seq = ch.Seq
					return nil
				}
				if !opts.IncludeDocs {
					row.Doc = nil
				}
				pos[i].Seq = ch.Seq
				row.Seq = f.packSeq(pos)
				emitted++
				if err := fn(row); err != nil {
					return err
				}
				if n >= changesBatch {
					return errFeedLimit
				}
				return nil
			}
			if opts.Descending {
				err = sh.ChangesDescending(ctx, 0, visit)
			} else {
				err = sh.Changes(ctx, pos[i].Seq, visit)
			}
			if err != nil && !errors.Is(err, errFeedLimit) {
				return ChangesResult{}, err
			}
			if !opts.Descending {
				pos[i].Seq = max(pos[i].Seq, last)
			}
			limitHit := opts.Limit >= 0 && emitted >= opts.Limit
			if opts.Descending || limitHit || n < changesBatch {
				break
			}
		}
		if opts.Limit >= 0 && emitted >= opts.Limit {
			break
		}
	}
	res := ChangesResult{LastSeq: f.packSeq(pos)}
	if !opts.Descending {
		for i, c := range ring {
			if sh, ok := c.Copy.(changesReader); ok {
				p, err := sh.CountChanges(ctx, pos[i].Seq)
				if err != nil {
					return ChangesResult{}, err
				}
				res.Pending += p
			}
		}
	}
	return res, nil
}

// changesReader is what a copy must offer to serve a changes feed; the
// local shard does, and the remote copy will.
type changesReader interface {
	Changes(ctx context.Context, since uint64, fn func(shard.Change) error) error
	ChangesDescending(ctx context.Context, since uint64, fn func(shard.Change) error) error
	CountChanges(ctx context.Context, since uint64) (int64, error)
	ReadWinner(ctx context.Context, c shard.Change) (*couch.Revision, error)
	Changed() <-chan struct{}
}

func (f *Fabric) changeRow(ctx context.Context, sh changesReader, ch shard.Change, opts ChangesOptions) (ChangeRow, error) {
	row := ChangeRow{ID: ch.ID, Deleted: ch.Deleted}
	if len(ch.Leaves) > 0 {
		if opts.AllLeaves {
			for _, l := range ch.Leaves {
				row.Changes = append(row.Changes, l.Rev)
			}
		} else {
			row.Changes = []couch.Rev{ch.Leaves[0].Rev}
		}
	}
	if opts.IncludeDocs || opts.NeedDoc {
		doc, err := sh.ReadWinner(ctx, ch)
		if err != nil && !errors.Is(err, couch.ErrNotFound) {
			return row, err
		}
		row.Doc = doc
		if opts.Conflicts && ch.Tree != nil {
			row.Conflicts = ch.Tree.Conflicts()
		}
	}
	return row, nil
}

// seqNodes returns the node each range of a packed since was read from, so
// that the feed continues on the same copies when they are reachable.
func seqNodes(since string) map[cluster.Range]string {
	given, err := UnpackSeq(since)
	if err != nil || len(given) == 0 {
		return nil
	}
	out := make(map[cluster.Range]string, len(given))
	for _, g := range given {
		out[g.Range] = g.Node
	}
	return out
}

// startSeqs turns a since value into a position per ring copy. An entry
// read from another copy of the range (uuid prefix mismatch: the copy is
// down, or was replaced) resumes where that copy's sequence history shows
// nothing can be missed (cluster.ResumeSeq), at worst 0: replaying changes
// is allowed, skipping them is not.
func (f *Fabric) startSeqs(ctx context.Context, ring []rangeCopy, since string, descending bool) ([]RangeSeq, error) {
	pos := make([]RangeSeq, len(ring))
	for i, c := range ring {
		info, err := c.Info(ctx)
		if err != nil {
			return nil, err
		}
		pos[i] = RangeSeq{Node: c.meta.Node, Range: c.meta.Range, UUID: info.UUID}
		if since == "now" || descending {
			pos[i].Seq = info.UpdateSeq
		}
	}
	if since == "now" || descending {
		return pos, nil
	}
	if n, ok := f.localSince(since); ok {
		for i := range pos {
			pos[i].Seq = n
		}
		return pos, nil
	}
	given, err := UnpackSeq(since)
	if err != nil {
		return nil, couch.Errorf(couch.CodeBadRequest, "Malformed sequence supplied in 'since' parameter.")
	}
	for i := range pos {
		for _, g := range given {
			if g.Range != pos[i].Range {
				continue
			}
			if len(g.UUID) > 0 && len(pos[i].UUID) >= len(g.UUID) && pos[i].UUID[:len(g.UUID)] == g.UUID {
				pos[i].Seq = max(pos[i].Seq, g.Seq)
			} else if len(g.UUID) > 0 {
				pos[i].Seq = max(pos[i].Seq, cluster.ResumeSeq(ctx, ring[i].Copy, g.UUID, g.Seq))
			}
		}
	}
	return pos, nil
}

// WaitForChange returns a channel closed when any copy of db that feeds
// read commits a write, or when ctx ends; longpoll and continuous feeds wait
// on it. Cancel ctx once done waiting: that releases the watchers.
func (f *Fabric) WaitForChange(ctx context.Context, db string) (<-chan struct{}, error) {
	m, err := f.cl.ShardMap(ctx, db)
	if err != nil {
		return nil, err
	}
	ring, err := f.ringCopies(ctx, m, nil)
	if err != nil {
		return nil, err
	}
	out := make(chan struct{})
	var once sync.Once
	for _, c := range ring {
		sh, ok := c.Copy.(changesReader)
		if !ok {
			continue
		}
		ch := sh.Changed()
		go func() {
			select {
			case <-ch:
			case <-ctx.Done():
			}
			once.Do(func() { close(out) })
		}()
	}
	return out, nil
}
