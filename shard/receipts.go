package shard

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"

	"github.com/divandb/divan/internal/couch"
)

// Write receipts let internal replication skip what a peer copy provably
// holds. Fabric sends each write of a range to every copy under one
// couch.WriteID; every copy remembers, for each such write it committed,
// the seqs the write's documents took there and a digest of its results.
// When copy A pushes to copy B, a write that both committed with the same
// results brought B every revision it brought A, so A's changes at that
// write's seqs need not be compared one by one — provided B already held
// what those documents were on A before the write (Receipt.PrevMax).
//
// Receipts live in memory only: after a restart, or once a receipt has
// been pushed out of the log, internal replication compares documents as
// before. Nothing is ever skipped without both copies' receipts.

// Receipt is a copy's record of one committed write that carried a WriteID.
type Receipt struct {
	WriteID couch.WriteID
	// Digest sums the write's per-document results (id, revision, error):
	// equal digests mean the copies did the same with the write.
	Digest [16]byte
	// First and Last are the seqs the write's documents took on this copy;
	// First > Last when it changed none.
	First, Last uint64
	// PrevMax is the highest seq any written document had on this copy
	// before the write; zero when all were new.
	PrevMax uint64
	// Age is how long ago this copy committed the write, as of the
	// Receipts call that returned it (measured on the monotonic clock).
	// Internal replication leaves a young write alone while it may still
	// be on its way to the peer.
	Age time.Duration
}

// receiptLogSize bounds the receipts a store keeps, for all its shards
// together (about 64 bytes each, plus the index). Bulk writes leave one per
// range and request, single-document writes one per document; the log
// covers a few seconds of writes, the time internal replication takes to
// follow them.
const receiptLogSize = 1 << 15

// receiptKey names a receipt in the store-wide log.
type receiptKey struct {
	shard uint32 // the shard's handle
	id    couch.WriteID
}

type loggedReceipt struct {
	shard uint32
	// committed is when the write was committed, as time since the log's
	// epoch: monotonic, and free of the pointer a time.Time holds.
	committed time.Duration
	Receipt
}

// receiptLog is a store's ring of the latest receipts of all its shards,
// oldest overwritten first, with an index by shard and WriteID. It holds
// no pointers, so it costs the garbage collector nothing, and it grows only
// as receipts come (a single node, whose writes carry no WriteID, has none).
type receiptLog struct {
	epoch time.Time // carries the monotonic clock reading ages are taken on

	mu   sync.Mutex
	size int
	ring []loggedReceipt // grows to size, then wraps at next
	next int
	byID map[receiptKey]int // ring position
}

func newReceiptLog(size int) *receiptLog {
	return &receiptLog{epoch: time.Now(), size: size, byID: map[receiptKey]int{}}
}

func (l *receiptLog) add(shard uint32, rs []Receipt) {
	if len(rs) == 0 {
		return
	}
	committed := time.Since(l.epoch)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range rs {
		e := loggedReceipt{shard: shard, committed: committed, Receipt: r}
		var pos int
		if len(l.ring) < l.size {
			pos = len(l.ring)
			l.ring = append(l.ring, e)
		} else {
			pos = l.next
			old := l.ring[pos]
			if p, ok := l.byID[receiptKey{old.shard, old.WriteID}]; ok && p == pos {
				delete(l.byID, receiptKey{old.shard, old.WriteID})
			}
			l.ring[pos] = e
			l.next = (pos + 1) % l.size
		}
		l.byID[receiptKey{shard, r.WriteID}] = pos
	}
}

// since returns shard's receipts of writes that took seqs after since,
// oldest first.
func (l *receiptLog) since(shard uint32, since uint64) []Receipt {
	now := time.Since(l.epoch)
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Receipt
	// Oldest first: from next to the end, then from the start (before the
	// ring wrapped, next is 0 and the second part is empty).
	for _, part := range [][]loggedReceipt{l.ring[l.next:], l.ring[:l.next]} {
		for _, e := range part {
			if e.shard == shard && e.Last > since && e.First <= e.Last {
				r := e.Receipt
				r.Age = now - e.committed
				out = append(out, r)
			}
		}
	}
	return out
}

// match reports, for each receipt, whether shard has one of the same write
// with the same digest.
func (l *receiptLog) match(shard uint32, rs []Receipt) []bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]bool, len(rs))
	for i, r := range rs {
		if pos, ok := l.byID[receiptKey{shard, r.WriteID}]; ok {
			out[i] = l.ring[pos].Digest == r.Digest
		}
	}
	return out
}

// forget drops every receipt of shard. A purge takes revisions away, so
// the shard's receipts no longer say all of what it holds; purges are
// rare, and forgetting is the simple safe answer.
func (l *receiptLog) forget(shard uint32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.ring {
		if l.ring[i].shard == shard {
			delete(l.byID, receiptKey{shard, l.ring[i].WriteID})
			l.ring[i] = loggedReceipt{}
		}
	}
}

// digestResults sums a write's results for Receipt.Digest. It runs on every
// write that carries a WriteID, so it hashes one buffer of length-prefixed
// fields rather than allocating per field.
func digestResults(results []couch.UpdateResult) [16]byte {
	buf := make([]byte, 0, 64*len(results))
	field := func(s string) {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
		buf = append(buf, s...)
	}
	for _, r := range results {
		field(r.ID)
		// field(r.Rev.String()), without making the string.
		at := len(buf)
		buf = r.Rev.AppendText(binary.BigEndian.AppendUint32(buf, 0))
		binary.BigEndian.PutUint32(buf[at:], uint32(len(buf)-at-4))
		if r.Err != nil {
			field(r.Err.Error())
		} else {
			field("")
		}
	}
	sum := sha256.Sum256(buf)
	return [16]byte(sum[:16])
}

// Receipts returns the copy's receipts of writes that took seqs after
// since, oldest first (see Receipt).
func (sh *Shard) Receipts(since uint64) []Receipt {
	return sh.store.receipts.since(sh.handle(), since)
}

// MatchReceipts reports, for each of another copy's receipts, whether this
// copy committed the same write with the same results.
func (sh *Shard) MatchReceipts(ctx context.Context, rs []Receipt) ([]bool, error) {
	return sh.store.receipts.match(sh.handle(), rs), nil
}
