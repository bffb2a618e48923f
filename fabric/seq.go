package fabric

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"

	"github.com/divandb/divan/cluster"
)

// RangeSeq is one range's position in a clustered sequence: which copy
// (node, shard uuid prefix) was read and up to which of its seqs.
type RangeSeq struct {
	Node  string
	Range cluster.Range
	Seq   uint64
	UUID  string // prefix of the copy's uuid
}

const seqVersion = 1

// uuidPrefixLen matches CouchDB's [fabric] uuid_prefix_len.
const uuidPrefixLen = cluster.UUIDPrefixLen

// PackSeq encodes per-range positions as CouchDB-style opaque sequence
// "<sum>-<base64url>". The sum is cosmetic; the payload is Divan's own
// versioned binary encoding (docs/format/seq.md).
func PackSeq(seqs []RangeSeq) string {
	var sum uint64
	b := []byte{seqVersion}
	for _, s := range seqs {
		sum += s.Seq
		b = binary.AppendUvarint(b, uint64(len(s.Node)))
		b = append(b, s.Node...)
		b = binary.BigEndian.AppendUint32(b, s.Range.Begin)
		b = binary.BigEndian.AppendUint32(b, s.Range.End)
		b = binary.AppendUvarint(b, s.Seq)
		u := s.UUID
		if len(u) > uuidPrefixLen {
			u = u[:uuidPrefixLen]
		}
		b = binary.AppendUvarint(b, uint64(len(u)))
		b = append(b, u...)
	}
	return strconv.FormatUint(sum, 10) + "-" + base64.RawURLEncoding.EncodeToString(b)
}

// packSeq is PackSeq for this fabric's databases. The node-local API serves
// each shard copy as a database of its own, and CouchDB gives such a
// database's seqs as plain integers (couch_db), not clustered strings.
func (f *Fabric) packSeq(seqs []RangeSeq) string {
	if f.cfg.NodeLocal && len(seqs) == 1 {
		return strconv.FormatUint(seqs[0].Seq, 10)
	}
	return PackSeq(seqs)
}

// localSince parses the since of a node-local feed given as an integer,
// as CouchDB's shard-level databases take it.
func (f *Fabric) localSince(since string) (uint64, bool) {
	if !f.cfg.NodeLocal {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.Trim(since, `"`), 10, 64)
	return n, err == nil
}

// ErrBadSeq reports a sequence that is not one Divan packed.
var ErrBadSeq = errors.New("fabric: malformed sequence")

// UnpackSeq decodes a packed sequence. "0" and "" decode to nil (start).
func UnpackSeq(s string) ([]RangeSeq, error) {
	s = strings.Trim(s, `"`)
	if s == "" || s == "0" {
		return nil, nil
	}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		s = s[i+1:]
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 || b[0] != seqVersion {
		return nil, ErrBadSeq
	}
	b = b[1:]
	var out []RangeSeq
	readBytes := func() ([]byte, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return nil, false
		}
		v := b[k : k+int(n)]
		b = b[k+int(n):]
		return v, true
	}
	for len(b) > 0 {
		var rs RangeSeq
		node, ok := readBytes()
		if !ok || len(b) < 8 {
			return nil, ErrBadSeq
		}
		rs.Node = string(node)
		rs.Range.Begin = binary.BigEndian.Uint32(b)
		rs.Range.End = binary.BigEndian.Uint32(b[4:])
		b = b[8:]
		seq, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, ErrBadSeq
		}
		rs.Seq = seq
		b = b[k:]
		u, ok := readBytes()
		if !ok {
			return nil, ErrBadSeq
		}
		rs.UUID = string(u)
		out = append(out, rs)
	}
	return out, nil
}
