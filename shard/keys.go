package shard

import (
	"encoding/binary"

	"github.com/divandb/divan/internal/couch"
)

// Key layout (see docs/format/storage.md):
//
//	0x00 'c' <shard name>                  catalog: shard name -> handle (4 bytes)
//	0x00 'h'                               next free handle (4 bytes)
//	0x01 <handle:4> 'm' <meta name>         per-shard metadata
//	0x01 <handle:4> 'd' <doc id>            doc info: seq + rev tree
//	0x01 <handle:4> 'b' <uvarint len(id)> <id> <rev>   revision body
//	0x01 <handle:4> 'r' <last seq:8 BE>     by-seq run: (seq, doc id) pairs of one batch
//	0x01 <handle:4> 'x' <seq:8 BE>          stale by-seq pair (empty value)
//	0x01 <handle:4> 's' <seq:8 BE>          by-seq entry of older stores -> doc id (migrated at open)
//	0x01 <handle:4> 'l' <doc id>            _local doc or its tombstone (full id)
//	0x01 <handle:4> 'p' <purge seq:8 BE>    purge info
const (
	nsCatalog = 0x00
	nsShard   = 0x01

	tagMeta  = 'm'
	tagDoc   = 'd'
	tagBody  = 'b'
	tagRun   = 'r'
	tagStale = 'x'
	// tagLegacySeq entries are the by-seq index of stores written before
	// runs; openShard rewrites them as runs.
	tagLegacySeq = 's'
	tagLocal     = 'l'
	tagPurge     = 'p'
)

var (
	keyNextHandle = []byte{nsCatalog, 'h'}
	catalogPrefix = []byte{nsCatalog, 'c'}
)

func catalogKey(name string) []byte {
	return append(append([]byte{}, catalogPrefix...), name...)
}

// keys builds the keys of one shard copy. It is a value type: a 5-byte prefix.
type keys [5]byte

func newKeys(handle uint32) keys {
	var k keys
	k[0] = nsShard
	binary.BigEndian.PutUint32(k[1:], handle)
	return k
}

func (k keys) prefix() []byte { return k[:] }

func (k keys) tagged(tag byte, extra int) []byte {
	b := make([]byte, 0, len(k)+1+extra)
	b = append(b, k[:]...)
	return append(b, tag)
}

func (k keys) tagPrefix(tag byte) []byte { return k.tagged(tag, 0) }

func (k keys) meta(name string) []byte {
	return append(k.tagged(tagMeta, len(name)), name...)
}

func (k keys) doc(id string) []byte {
	return k.appendDoc(make([]byte, 0, len(k)+1+len(id)), id)
}

func (k keys) appendDoc(dst []byte, id string) []byte {
	dst = append(append(dst, k[:]...), tagDoc)
	return append(dst, id...)
}

// body is the key of a revision's body: the id's length, the id, then the
// revision as couch.Rev.String formats it.
func (k keys) body(id string, rev couch.Rev) []byte {
	return k.appendBody(make([]byte, 0, len(k)+1+binary.MaxVarintLen32+len(id)+maxRevPosLen+1+len(rev.ID)), id, rev)
}

func (k keys) appendBody(dst []byte, id string, rev couch.Rev) []byte {
	dst = append(append(dst, k[:]...), tagBody)
	dst = binary.AppendUvarint(dst, uint64(len(id)))
	dst = append(dst, id...)
	return rev.AppendText(dst)
}

// maxRevPosLen is the most digits a revision's position takes.
const maxRevPosLen = 20

func (k keys) run(lastSeq uint64) []byte {
	return binary.BigEndian.AppendUint64(k.tagged(tagRun, 8), lastSeq)
}

func (k keys) stale(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(k.tagged(tagStale, 8), seq)
}

func (k keys) legacySeq(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(k.tagged(tagLegacySeq, 8), seq)
}

func (k keys) local(id string) []byte {
	return append(k.tagged(tagLocal, len(id)), id...)
}

func (k keys) purge(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(k.tagged(tagPurge, 8), seq)
}
