package shard

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/divandb/divan/internal/couch"
)

// applyPurge removes leaf revisions inside the batch transaction and records
// a purge info per document under the new purge seq.
func (sh *Shard) applyPurge(bt *batchTxn, req map[string][]couch.Rev, st *stats) (map[string][]couch.Rev, error) {
	purged := make(map[string][]couch.Rev, len(req))
	for id, revs := range req {
		if err := bt.docDone(*st); err != nil {
			return nil, err
		}
		purged[id] = []couch.Rev{}
		di, oldSize, err := sh.loadDocInfo(bt.txn, id)
		if err != nil {
			return nil, err
		}
		if di == nil || di.tree.Len() == 0 {
			continue
		}
		wasDeleted := di.tree.Deleted()
		oldWinner, _ := di.tree.Winner()
		for _, rev := range revs {
			if !di.tree.IsLeaf(rev) {
				continue
			}
			for _, r := range di.tree.Remove(rev) {
				if err := bt.delete(sh.keys.body(id, r)); err != nil {
					return nil, err
				}
			}
			purged[id] = append(purged[id], rev)
		}
		if len(purged[id]) == 0 {
			continue
		}
		st.PurgeSeq++
		info, _ := json.Marshal(struct {
			ID   string   `json:"id"`
			Revs []string `json:"revs"`
		}{id, revStrings(purged[id])})
		if err := bt.setFinal(sh.keys.purge(st.PurgeSeq), info); err != nil {
			return nil, err
		}
		if err := bt.supersede(di.seq); err != nil {
			return nil, err
		}
		st.Active -= int64(oldSize)
		st.External -= di.winnerSize
		if di.tree.Len() == 0 {
			adjustCounts(st, true, wasDeleted, false, false)
			if err := bt.deleteFinal(sh.keys.doc(id)); err != nil {
				return nil, err
			}
			continue
		}
		if w, _ := di.tree.Winner(); w.Rev != oldWinner.Rev {
			if di.winnerSize, err = sh.bodySize(bt.txn, id, w.Rev); err != nil {
				return nil, err
			}
		}
		st.External += di.winnerSize
		st.UpdateSeq++
		di.seq = st.UpdateSeq
		bt.indexChange(di.seq, id)
		v, err := di.encode()
		if err != nil {
			return nil, err
		}
		if err := sh.putDocInfo(bt, id, v, di.tree.Deleted()); err != nil {
			return nil, err
		}
		st.Active += int64(len(v))
		adjustCounts(st, true, wasDeleted, true, di.tree.Deleted())
	}
	return purged, nil
}

func revStrings(revs []couch.Rev) []string {
	out := make([]string, len(revs))
	for i, r := range revs {
		out[i] = r.String()
	}
	return out
}

// PurgeInfo is one recorded purge: the revisions of one document removed
// at a purge seq.
type PurgeInfo struct {
	Seq  uint64
	ID   string
	Revs []couch.Rev
}

// PurgeInfos returns up to limit purge infos after purge seq since, in seq
// order. Internal replication applies them to the other copies, so that a
// copy that missed a purge does not bring the revisions back.
func (sh *Shard) PurgeInfos(ctx context.Context, since uint64, limit int) ([]PurgeInfo, error) {
	prefix := sh.keys.tagPrefix(tagPurge)
	var out []PurgeInfo
	err := sh.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
		defer it.Close()
		for it.Seek(sh.keys.purge(since + 1)); it.ValidForPrefix(prefix) && len(out) < limit; it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			key := item.Key()
			if len(key) < len(prefix)+8 {
				return fmt.Errorf("shard: corrupt purge key %x", key)
			}
			var rec struct {
				ID   string   `json:"id"`
				Revs []string `json:"revs"`
			}
			if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &rec) }); err != nil {
				return fmt.Errorf("shard: corrupt purge info: %w", err)
			}
			info := PurgeInfo{Seq: binary.BigEndian.Uint64(key[len(key)-8:]), ID: rec.ID}
			for _, s := range rec.Revs {
				r, err := couch.ParseRev(s)
				if err != nil {
					return fmt.Errorf("shard: corrupt purge info rev %q: %w", s, err)
				}
				info.Revs = append(info.Revs, r)
			}
			out = append(out, info)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read purge infos of %s: %w", sh.name, err)
	}
	return out, nil
}
