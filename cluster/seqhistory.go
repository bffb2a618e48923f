package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/divandb/divan/internal/couch"
)

// Sequence history: which of a copy's changes another copy of the range had
// received, and by which of its own update seqs. A clustered _changes seq
// names, per range, the copy it was read from (by uuid prefix) and a seq in
// that copy. When that copy cannot serve the next request, another copy T
// resumes: if the missing copy S had received all of T's changes up to
// T-seq a by S-seq b, and the client read S up to seq ≥ b, the client saw
// T's changes up to a, so T resumes at a and nothing is missed
// (mem3_rep:find_source_seq). Internal replication records these pairs on
// the pushing copy after every batch.

// UUIDPrefixLen is how much of a copy's uuid a clustered seq keeps
// (CouchDB's [fabric] uuid_prefix_len).
const UUIDPrefixLen = 7

// seqHistoryMax bounds the pairs kept per target; the newest are kept.
const seqHistoryMax = 64

// SeqPair says: the target held every change of the source up to
// SourceSeq once it had reached TargetSeq.
type SeqPair struct {
	SourceSeq uint64 `json:"source_seq"`
	TargetSeq uint64 `json:"target_seq"`
}

type seqHistory struct {
	Target string    `json:"target_uuid"`
	Pairs  []SeqPair `json:"history"`
}

// SeqHistoryID is the _local document on a source copy holding its history
// with the target copy whose uuid starts with prefix.
func SeqHistoryID(targetUUIDPrefix string) string {
	if len(targetUUIDPrefix) > UUIDPrefixLen {
		targetUUIDPrefix = targetUUIDPrefix[:UUIDPrefixLen]
	}
	return "_local/shard-seqs-" + targetUUIDPrefix
}

// DocReader opens documents of a shard copy.
type DocReader interface {
	Open(ctx context.Context, id string, opts couch.OpenOptions) (*couch.Document, error)
}

func readSeqHistory(ctx context.Context, c DocReader, targetUUID string) seqHistory {
	doc, err := c.Open(ctx, SeqHistoryID(targetUUID), couch.OpenOptions{})
	if err != nil || len(doc.Revisions) == 0 {
		return seqHistory{Target: targetUUID}
	}
	var h seqHistory
	if json.Unmarshal(doc.Revisions[0].Body, &h) != nil || h.Target != targetUUID {
		// Unreadable, or another copy with the same uuid prefix: start
		// over rather than mix two targets' histories.
		return seqHistory{Target: targetUUID}
	}
	return h
}

// recordSeqPair adds p to source's history with the target copy.
func recordSeqPair(ctx context.Context, source SyncCopy, targetUUID string, p SeqPair) error {
	h := readSeqHistory(ctx, source, targetUUID)
	if n := len(h.Pairs); n > 0 && h.Pairs[n-1] == p {
		return nil
	}
	h.Pairs = append(h.Pairs, p)
	if len(h.Pairs) > seqHistoryMax {
		h.Pairs = h.Pairs[len(h.Pairs)-seqHistoryMax:]
	}
	body, err := json.Marshal(h)
	if err != nil {
		return err
	}
	res, err := source.Update(ctx, []*couch.Doc{{ID: SeqHistoryID(targetUUID), Body: body}}, couch.UpdateOptions{NewEdits: true})
	if err != nil {
		return fmt.Errorf("record seq history: %w", err)
	}
	return res[0].Err
}

// ResumeSeq returns the seq at which copy c can resume a changes feed read
// from another copy, named by its uuid prefix, up to that copy's seq
// seenSeq: the greatest source seq c's history shows the other copy had
// received by a seq ≤ seenSeq, or 0 when it shows none (replay all).
func ResumeSeq(ctx context.Context, c DocReader, otherUUIDPrefix string, seenSeq uint64) uint64 {
	doc, err := c.Open(ctx, SeqHistoryID(otherUUIDPrefix), couch.OpenOptions{})
	if err != nil || len(doc.Revisions) == 0 {
		return 0
	}
	var h seqHistory
	if json.Unmarshal(doc.Revisions[0].Body, &h) != nil || len(h.Target) < len(otherUUIDPrefix) || h.Target[:len(otherUUIDPrefix)] != otherUUIDPrefix {
		return 0
	}
	sort.Slice(h.Pairs, func(i, j int) bool { return h.Pairs[i].TargetSeq < h.Pairs[j].TargetSeq })
	var best uint64
	for _, p := range h.Pairs {
		if p.TargetSeq > seenSeq {
			break
		}
		best = max(best, p.SourceSeq)
	}
	return best
}
