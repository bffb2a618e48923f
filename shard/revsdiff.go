package shard

import (
	"context"
	"sort"

	"github.com/dgraph-io/badger/v4"

	"github.com/divandb/divan/internal/couch"
)

// RevsDiff is the answer for one document of a `_revs_diff`: the revisions
// this copy lacks, and leaves it has that may be their ancestors.
type RevsDiff struct {
	Missing           []couch.Rev
	PossibleAncestors []couch.Rev
}

// RevsDiff reports, per document id, the given revisions this copy does not
// have (couch_db:get_missing_revs). Ids with nothing missing are omitted.
// Possible ancestors are the leaves positioned below the highest missing
// revision, which the replicator uses as atts_since.
func (sh *Shard) RevsDiff(ctx context.Context, revs map[string][]couch.Rev) (map[string]RevsDiff, error) {
	out := map[string]RevsDiff{}
	err := sh.db.View(func(txn *badger.Txn) error {
		for id, want := range revs {
			di, _, err := sh.loadDocInfo(txn, id)
			if err != nil {
				return err
			}
			var d RevsDiff
			maxPos := 0
			for _, r := range want {
				if di == nil || !di.tree.Has(r) {
					d.Missing = append(d.Missing, r)
					maxPos = max(maxPos, r.Pos)
				}
			}
			if len(d.Missing) == 0 {
				continue
			}
			if di != nil {
				for _, l := range di.tree.Leaves() {
					if l.Rev.Pos < maxPos {
						d.PossibleAncestors = append(d.PossibleAncestors, l.Rev)
					}
				}
				sort.Slice(d.PossibleAncestors, func(i, j int) bool { return d.PossibleAncestors[i].Less(d.PossibleAncestors[j]) })
			}
			out[id] = d
		}
		return nil
	})
	return out, err
}
