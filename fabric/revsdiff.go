package fabric

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/divandb/divan/cluster"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/shard"
)

// RevsDiff answers `_revs_diff`: per id, the revisions the database lacks.
// Every reachable copy of each range is asked and a revision counts as
// missing when any copy lacks it: the replicator then sends it again, which
// new_edits=false makes harmless, and no copy is left behind.
func (f *Fabric) RevsDiff(ctx context.Context, db string, revs map[string][]couch.Rev) (map[string]shard.RevsDiff, error) {
	m, err := f.cl.ShardMap(ctx, db)
	if err != nil {
		return nil, err
	}
	byRange := map[cluster.Range]map[string][]couch.Rev{}
	for id, rs := range revs {
		rr := m.RangeFor(id)
		if len(rr) == 0 {
			return nil, fmt.Errorf("shard map of %s does not cover %q", db, id)
		}
		if byRange[rr[0]] == nil {
			byRange[rr[0]] = map[string][]couch.Rev{}
		}
		byRange[rr[0]][id] = rs
	}
	out := map[string]shard.RevsDiff{}
	for r, req := range byRange {
		copies, errs := f.allCopies(ctx, m, r)
		answered := 0
		for _, c := range copies {
			diff, err := c.RevsDiff(ctx, req)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			answered++
			for id, d := range diff {
				prev := out[id]
				for _, rev := range d.Missing {
					if !slices.Contains(prev.Missing, rev) {
						prev.Missing = append(prev.Missing, rev)
					}
				}
				for _, rev := range d.PossibleAncestors {
					if !slices.Contains(prev.PossibleAncestors, rev) {
						prev.PossibleAncestors = append(prev.PossibleAncestors, rev)
					}
				}
				out[id] = prev
			}
		}
		if answered == 0 {
			return nil, fmt.Errorf("revs_diff on %s range %s: %w", db, r, errors.Join(errs...))
		}
	}
	return out, nil
}
