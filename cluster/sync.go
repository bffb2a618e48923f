package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/shard"
)

// SyncCopy is what internal replication needs of a shard copy, local or
// remote (mem3_rep's view of a shard). fabric's copies provide it.
type SyncCopy interface {
	Info(ctx context.Context) (shard.Info, error)
	Changes(ctx context.Context, since uint64, fn func(shard.Change) error) error
	RevsDiff(ctx context.Context, revs map[string][]couch.Rev) (map[string]shard.RevsDiff, error)
	Open(ctx context.Context, id string, opts couch.OpenOptions) (*couch.Document, error)
	AttachmentData(ctx context.Context, digest string) ([]byte, error)
	Update(ctx context.Context, docs []*couch.Doc, opts couch.UpdateOptions) ([]couch.UpdateResult, error)
	Security(ctx context.Context) ([]byte, uint64, error)
	SetSecurity(ctx context.Context, sec []byte, version uint64) (bool, error)
	LocalDocs(ctx context.Context) ([]shard.LocalDoc, error)
	PurgeInfos(ctx context.Context, since uint64, limit int) ([]shard.PurgeInfo, error)
	Purge(ctx context.Context, revs map[string][]couch.Rev) (map[string][]couch.Rev, error)
	MatchReceipts(ctx context.Context, rs []shard.Receipt) ([]bool, error)
}

// receiptSource is a copy that keeps write receipts (shard/receipts.go): a
// local shard. Pushing from any other copy compares every change.
type receiptSource interface {
	Receipts(since uint64) []shard.Receipt
}

// SyncBatch is how many changes one push copies before checkpointing
// ([mem3] sync_batch_size).
const SyncBatch = 500

// checkpoint is the body of `_local/shard-sync-<src uuid>-<tgt uuid>`, kept
// on both sides (mem3_rep's checkpoint, simplified to what Divan reads).
type checkpoint struct {
	Seq        uint64 `json:"seq"`
	TargetUUID string `json:"target_uuid"`
	SourceNode string `json:"source_node"`
	TargetNode string `json:"target_node"`
	Timestamp  string `json:"timestamp"`
}

func checkpointID(src, tgt shard.Info) string {
	return "_local/shard-sync-" + src.UUID + "-" + tgt.UUID
}

// Push copies to target every change of source the target lacks, with full
// revision paths and attachments, as replicated (new_edits=false) writes,
// checkpointing on both copies after each batch, and the source's
// _security object when it is newer. It returns the number of
// changes still pending when ctx ends, zero when the target caught up.
// Conflicting edits on different copies become ordinary conflicts.
func Push(ctx context.Context, source SyncCopy, sourceNode string, target SyncCopy, targetNode string) (pending int64, err error) {
	return push(ctx, source, sourceNode, target, targetNode, 0)
}

// push is Push, leaving out the source's writes committed within the last
// inFlight that the target does not hold yet, and everything after them:
// fabric sends each write to every copy at once, so such a write is most
// likely still on its way to the target, and comparing it now would copy
// it a second time. The changes left out count as pending.
func push(ctx context.Context, source SyncCopy, sourceNode string, target SyncCopy, targetNode string, inFlight time.Duration) (pending int64, err error) {
	src, err := source.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("push: source info: %w", err)
	}
	tgt, err := target.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("push: target info: %w", err)
	}
	if src.SecurityVersion > tgt.SecurityVersion {
		// The target missed a _security setting (mem3_sync_security's
		// job in CouchDB); the greater version wins on every copy.
		sec, version, err := source.Security(ctx)
		if err != nil {
			return 0, fmt.Errorf("push: source security: %w", err)
		}
		if _, err := target.SetSecurity(ctx, sec, version); err != nil {
			return 0, fmt.Errorf("push: target security: %w", err)
		}
	}
	// Purges first, both ways (mem3_rep pulls the target's purges before
	// pushing): a copy that missed a purge must drop those revisions
	// before its changes are compared, or it would push them back.
	if err := syncPurges(ctx, target, tgt, source, src); err != nil {
		return 0, err
	}
	if err := syncPurges(ctx, source, src, target, tgt); err != nil {
		return 0, err
	}
	if err := pushLocalDocs(ctx, source, src, target, tgt); err != nil {
		return 0, err
	}
	id := checkpointID(src, tgt)
	since := min(readCheckpoint(ctx, source, id), readCheckpoint(ctx, target, id))
	prog := progress{source: source, target: target, id: id,
		cp: checkpoint{TargetUUID: tgt.UUID, SourceNode: sourceNode, TargetNode: targetNode}}
	saved := since
	// Changes committed after the Info above are left to the next push
	// (every commit schedules one): the receipts read next cover only
	// these, and a push that chased the newest writes would compare
	// exactly the ones still on their way to the target.
	end := src.UpdateSeq
	skip, held := confirmedWrites(ctx, source, target, since, inFlight)
	if held > 0 {
		end = min(end, held-1)
	}
	for since < end {
		if err := ctx.Err(); err != nil {
			return int64(src.UpdateSeq - since), err
		}
		next, err := pushBatch(ctx, source, target, since, end, skip)
		if err != nil {
			return int64(src.UpdateSeq - since), err
		}
		if next == since {
			// Nothing left up to end: what seqs remain there were
			// purged or rewritten to higher ones since.
			since = end
			break
		}
		since = next
		if since-saved >= checkpointEvery {
			if err := prog.save(ctx, since); err != nil {
				return int64(src.UpdateSeq - since), err
			}
			saved = since
		}
	}
	if since > saved {
		if err := prog.save(ctx, since); err != nil {
			return 0, err
		}
	}
	if since < src.UpdateSeq {
		return int64(src.UpdateSeq - since), nil
	}
	return 0, nil
}

// checkpointEvery is how many changes a long push copies between
// checkpoints. Each checkpoint is three durable writes; after every batch
// they took more time than the batches themselves, and the push fell
// seconds behind the writes. A push cut short repeats at most this many
// changes, which the target then finds it has.
const checkpointEvery = 10 * SyncBatch

// progress is where one push records how far it got.
type progress struct {
	source, target SyncCopy
	id             string     // the checkpoint document, on both copies
	cp             checkpoint // all but Seq and Timestamp
}

// save records that the target holds the source's changes up to seq: the
// checkpoint on both copies, and the pair of seqs where a feed read from
// the target can resume on the source (seqhistory.go).
func (p progress) save(ctx context.Context, seq uint64) error {
	cp := p.cp
	cp.Seq = seq
	if err := writeCheckpoint(ctx, p.id, cp, p.target, p.source); err != nil {
		return err
	}
	now, err := p.target.Info(ctx)
	if err != nil {
		return fmt.Errorf("push: target info: %w", err)
	}
	if err := recordSeqPair(ctx, p.source, cp.TargetUUID, SeqPair{SourceSeq: seq, TargetSeq: now.UpdateSeq}); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	return nil
}

// writeCheckpoint stores cp, stamped with the time, as the _local
// document id on each of copies, in order.
func writeCheckpoint(ctx context.Context, id string, cp checkpoint, copies ...SyncCopy) error {
	cp.Timestamp = time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
	body, _ := json.Marshal(cp)
	for _, c := range copies {
		if _, err := c.Update(ctx, []*couch.Doc{{ID: id, Body: body}}, couch.UpdateOptions{NewEdits: true}); err != nil {
			return fmt.Errorf("push: checkpoint %s: %w", id, err)
		}
	}
	return nil
}

func readCheckpoint(ctx context.Context, c SyncCopy, id string) uint64 {
	doc, err := c.Open(ctx, id, couch.OpenOptions{})
	if err != nil || len(doc.Revisions) == 0 {
		return 0
	}
	var cp checkpoint
	if json.Unmarshal(doc.Revisions[0].Body, &cp) != nil {
		return 0
	}
	return cp.Seq
}

// seqRange is an inclusive range of a copy's seqs.
type seqRange struct{ first, last uint64 }

// confirmedWrites returns, in order, the source's seq ranges that target
// provably holds: writes both copies committed with the same results (their
// receipts match), whose documents target already held as they were on
// source before the write (every earlier seq of theirs is at or below
// since, the checkpoint). Their changes need no comparison. Any failure
// only means comparing every change, as without receipts.
//
// held is the first seq of the oldest write younger than inFlight that
// target does not hold (zero if none): a write likely still on its way.
func confirmedWrites(ctx context.Context, source, target SyncCopy, since uint64, inFlight time.Duration) (skip []seqRange, held uint64) {
	rs, ok := source.(receiptSource)
	if !ok {
		return nil, 0
	}
	cands := rs.Receipts(since)
	if len(cands) == 0 {
		return nil, 0
	}
	matched, err := target.MatchReceipts(ctx, cands)
	if err != nil || len(matched) != len(cands) {
		return nil, 0
	}
	var out []seqRange
	for i, r := range cands {
		if !matched[i] {
			if r.Age < inFlight && (held == 0 || r.First < held) {
				held = r.First
			}
			continue
		}
		if r.PrevMax > since {
			continue
		}
		if n := len(out); n > 0 && out[n-1].last+1 == r.First {
			out[n-1].last = r.Last // adjacent writes: one range
			continue
		}
		out = append(out, seqRange{r.First, r.Last})
	}
	return out, held
}

// skipJump is the shortest confirmed range a push jumps over with a new
// read of the changes; shorter ones are read and passed over.
const skipJump = 256

// pushBatch copies up to SyncBatch changes after since and at most end,
// passing over those in skip; it returns the seq reached.
func pushBatch(ctx context.Context, source, target SyncCopy, since, end uint64, skip []seqRange) (uint64, error) {
	errStop := errors.New("stop reading changes")
	leaves := map[string][]couch.Rev{}
	reached := since
	for len(leaves) < SyncBatch && reached < end {
		var jump uint64
		err := source.Changes(ctx, reached, func(c shard.Change) error {
			if c.Seq > end {
				return errStop
			}
			for len(skip) > 0 && skip[0].last < c.Seq {
				skip = skip[1:]
			}
			if len(skip) > 0 && skip[0].first <= c.Seq {
				if skip[0].last-c.Seq >= skipJump {
					jump = min(skip[0].last, end)
					return errStop
				}
				reached = c.Seq
				return nil
			}
			revs := make([]couch.Rev, len(c.Leaves))
			for i, l := range c.Leaves {
				revs[i] = l.Rev
			}
			leaves[c.ID] = revs
			reached = c.Seq
			if len(leaves) >= SyncBatch {
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return since, fmt.Errorf("push: read changes: %w", err)
		}
		if jump == 0 {
			break // changes exhausted or batch full
		}
		reached = jump
	}
	if len(leaves) == 0 {
		return reached, nil
	}
	missing, err := target.RevsDiff(ctx, leaves)
	if err != nil {
		return since, fmt.Errorf("push: revs_diff: %w", err)
	}
	var docs []*couch.Doc
	for id, diff := range missing {
		doc, err := source.Open(ctx, id, couch.OpenOptions{OpenRevs: diff.Missing})
		if err != nil {
			return since, fmt.Errorf("push: open %s: %w", id, err)
		}
		for _, rev := range doc.Revisions {
			if rev.Missing {
				continue // purged or stemmed meanwhile; nothing to copy
			}
			d, err := ReplicatedDoc(ctx, source.AttachmentData, doc, rev)
			if err != nil {
				return since, err
			}
			docs = append(docs, d)
		}
	}
	if len(docs) > 0 {
		res, err := target.Update(ctx, docs, couch.UpdateOptions{NewEdits: false})
		if err != nil {
			return since, fmt.Errorf("push: write: %w", err)
		}
		for _, r := range res {
			if r.Err != nil {
				return since, fmt.Errorf("push: write %s: %w", r.ID, r.Err)
			}
		}
	}
	return reached, nil
}

// ReplicatedDoc builds the new_edits=false write of one revision of doc: its
// full known path and every attachment with its data, read with attData.
// Internal replication and fabric's read repair both write revisions so.
func ReplicatedDoc(ctx context.Context, attData func(ctx context.Context, digest string) ([]byte, error), doc *couch.Document, rev couch.Revision) (*couch.Doc, error) {
	path := doc.Tree.Path(rev.Rev)
	ids := make([]string, len(path))
	for i, r := range path {
		ids[i] = r.ID
	}
	d := &couch.Doc{
		ID: doc.ID, Rev: rev.Rev, Deleted: rev.Deleted, Body: rev.Body,
		Revisions: &couch.RevPath{Start: rev.Rev.Pos, IDs: ids},
	}
	for _, a := range rev.Atts {
		data, err := attData(ctx, a.Digest)
		if err != nil {
			return nil, fmt.Errorf("push: attachment %s of %s: %w", a.Name, doc.ID, err)
		}
		a.Data = data
		d.Atts = append(d.Atts, a)
	}
	if d.Atts == nil {
		d.Atts = []couch.Attachment{} // explicit: no attachments, do not parse
	}
	return d, nil
}

// pushLocalDocs copies to target the _local documents, and the tombstones
// of deleted ones, that outrank what it holds or that it lacks (replication
// checkpoints must be on every copy, or a client reading through another
// copy restarts from scratch; a deletion must reach a copy that missed it,
// or that copy would bring the document back). Versions are ordered by
// their hidden stamps (shard.LocalOutranks), so copies pushing both ways
// agree; they are written as they are (ReplicateLocal).
// It runs only when the source's _local documents changed since the last
// time (shard.Info.LocalSeq, remembered per pair), so a push does not list
// them every time. Internal replication's own documents are per pair of
// copies and stay where they are.
func pushLocalDocs(ctx context.Context, source SyncCopy, src shard.Info, target SyncCopy, tgt shard.Info) error {
	markID := couch.InternalLocalPrefix + "sync-locals-" + src.UUID + "-" + tgt.UUID
	if src.LocalSeq == 0 || readCheckpoint(ctx, source, markID) == src.LocalSeq {
		return nil
	}
	docs, err := source.LocalDocs(ctx)
	if err != nil {
		return fmt.Errorf("push: list local docs: %w", err)
	}
	theirs, err := target.LocalDocs(ctx)
	if err != nil {
		return fmt.Errorf("push: list target local docs: %w", err)
	}
	have := make(map[string]shard.LocalDoc, len(theirs))
	for _, d := range theirs {
		have[d.ID] = d
	}
	var writes []*couch.Doc
	for _, d := range docs {
		if couch.IsInternalLocalID(d.ID) {
			continue
		}
		if t, ok := have[d.ID]; ok && !shard.LocalOutranks(d, t) {
			continue
		}
		writes = append(writes, &couch.Doc{ID: d.ID, Rev: couch.Rev{Pos: 0, ID: strconv.FormatUint(d.Rev, 10)},
			Deleted: d.Deleted, Body: d.Body, LocalVersion: d.Version})
	}
	if len(writes) > 0 {
		if _, err := target.Update(ctx, writes, couch.UpdateOptions{NewEdits: true, ReplicateLocal: true}); err != nil {
			return fmt.Errorf("push: write local docs: %w", err)
		}
	}
	return writeCheckpoint(ctx, markID, checkpoint{Seq: src.LocalSeq, TargetUUID: tgt.UUID}, source)
}

// purgeBatch is how many purge infos one round applies.
const purgeBatch = 500

// purgeCheckpointID names, on both copies, how far from's purges have been
// applied to to (a "shard-sync-" document, so never copied elsewhere).
func purgeCheckpointID(from, to shard.Info) string {
	return "_local/shard-sync-purges-" + from.UUID + "-" + to.UUID
}

// syncPurges applies to copy to the purges recorded on copy from since the
// last round, and checkpoints how far it got on both.
func syncPurges(ctx context.Context, from SyncCopy, fromInfo shard.Info, to SyncCopy, toInfo shard.Info) error {
	if fromInfo.PurgeSeq == 0 {
		return nil
	}
	id := purgeCheckpointID(fromInfo, toInfo)
	since := min(readCheckpoint(ctx, from, id), readCheckpoint(ctx, to, id))
	for since < fromInfo.PurgeSeq {
		infos, err := from.PurgeInfos(ctx, since, purgeBatch)
		if err != nil {
			return fmt.Errorf("push: read purges: %w", err)
		}
		if len(infos) == 0 {
			break
		}
		revs := map[string][]couch.Rev{}
		for _, p := range infos {
			revs[p.ID] = append(revs[p.ID], p.Revs...)
		}
		if _, err := to.Purge(ctx, revs); err != nil {
			return fmt.Errorf("push: apply purges: %w", err)
		}
		since = infos[len(infos)-1].Seq
		if err := writeCheckpoint(ctx, id, checkpoint{Seq: since, TargetUUID: toInfo.UUID}, to, from); err != nil {
			return err
		}
	}
	return nil
}
