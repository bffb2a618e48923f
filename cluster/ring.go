package cluster

import (
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"unsafe"
)

// Range is an inclusive interval of the 32-bit hash ring.
type Range struct {
	Begin, End uint32
}

// String renders a range as CouchDB names it: "00000000-7fffffff".
func (r Range) String() string { return fmt.Sprintf("%08x-%08x", r.Begin, r.End) }

// Contains reports whether hash h falls in r.
func (r Range) Contains(h uint32) bool { return h >= r.Begin && h <= r.End }

// ParseRange parses "bbbbbbbb-eeeeeeee".
func ParseRange(s string) (Range, error) {
	b, e, ok := strings.Cut(s, "-")
	if !ok || len(b) != 8 || len(e) != 8 {
		return Range{}, fmt.Errorf("cluster: invalid range %q", s)
	}
	bv, err1 := strconv.ParseUint(b, 16, 32)
	ev, err2 := strconv.ParseUint(e, 16, 32)
	if err1 != nil || err2 != nil || bv > ev {
		return Range{}, fmt.Errorf("cluster: invalid range %q", s)
	}
	return Range{Begin: uint32(bv), End: uint32(ev)}, nil
}

// Ranges splits the ring into q ranges as mem3_util:make_key_ranges does:
// equal steps of 2^32/q, the last range extended to 0xffffffff.
func Ranges(q int) []Range {
	if q < 1 {
		q = 1
	}
	const top = uint64(1) << 32
	inc := top / uint64(q)
	out := make([]Range, 0, q)
	for start := uint64(0); start < top; start += inc {
		end := start + inc - 1
		if start+2*inc > top {
			end = top - 1
		}
		out = append(out, Range{Begin: uint32(start), End: uint32(end)})
		if end == top-1 {
			break
		}
	}
	return out
}

// Hash returns the ring position of a document id (CouchDB's default
// mem3_hash: crc32 of the raw id bytes).
func Hash(docID string) uint32 {
	// The id's bytes are only read: no copy of them is needed.
	return crc32.ChecksumIEEE(unsafe.Slice(unsafe.StringData(docID), len(docID)))
}
