package cluster

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// ShardMap is a database's placement: which nodes hold a copy of which range.
// It is the parsed form of the database's document in `_dbs`.
type ShardMap struct {
	DB string
	// Suffix is "." followed by the creation time in unix seconds; it is part
	// of every shard copy's name.
	Suffix string
	// ByRange lists, per range, the nodes holding a copy (sorted).
	ByRange map[Range][]string
	// Changelog is kept verbatim: it is history, never read for routing.
	Changelog json.RawMessage
	Props     json.RawMessage
	// Unsharded marks a node-local database (`_dbs`, `_nodes`, or a shard
	// copy addressed by its own name): its one copy is named DB.
	Unsharded bool

	// ranges caches Ranges: a map is not changed once built, and every
	// document request routes through it.
	rangesOnce sync.Once
	ranges     []Range
}

// Copy identifies one shard copy: a range of a database on a node.
type Copy struct {
	Node  string
	Range Range
	Name  string // "shards/<range>/<db><suffix>"
}

// ShardName is the name of the db's shard for range r.
func (m *ShardMap) ShardName(r Range) string {
	if m.Unsharded {
		return m.DB
	}
	return "shards/" + r.String() + "/" + m.DB + m.Suffix
}

// NodeLocalMap is the map of a node-local database: one copy, named as the
// database itself, on node, covering the whole ring.
func NodeLocalMap(db, node string) *ShardMap {
	return &ShardMap{DB: db, Unsharded: true, ByRange: map[Range][]string{{0, 0xffffffff}: {node}}, Props: json.RawMessage("{}")}
}

// Ranges returns the distinct ranges, sorted by start. The slice is shared:
// callers must not modify it, nor ByRange after the first call.
func (m *ShardMap) Ranges() []Range {
	m.rangesOnce.Do(func() { m.ranges = m.sortedRanges() })
	return m.ranges
}

func (m *ShardMap) sortedRanges() []Range {
	out := make([]Range, 0, len(m.ByRange))
	for r := range m.ByRange {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Begin != out[j].Begin {
			return out[i].Begin < out[j].Begin
		}
		return out[i].End < out[j].End
	})
	return out
}

// Copies returns the copies of range r.
func (m *ShardMap) Copies(r Range) []Copy {
	nodes := m.ByRange[r]
	out := make([]Copy, len(nodes))
	for i, n := range nodes {
		out[i] = Copy{Node: n, Range: r, Name: m.ShardName(r)}
	}
	return out
}

// RangeFor returns the ranges holding docID; after a split there can be
// more than one range of different widths containing the same hash only
// transiently, so callers normally take the first. The slice must not be
// modified.
func (m *ShardMap) RangeFor(docID string) []Range {
	h := Hash(docID)
	ranges := m.Ranges()
	var out []Range
	for i, r := range ranges {
		if !r.Contains(h) {
			continue
		}
		if out == nil {
			// Usually the only one (ranges overlap only while a split
			// is under way): a view of the cached ranges, capped so
			// that an append copies.
			out = ranges[i : i+1 : i+1]
			continue
		}
		out = append(out, r)
	}
	return out
}

// Q is the number of distinct ranges; N the largest number of copies of any
// range — what GET /{db} reports as cluster.q and cluster.n.
func (m *ShardMap) Q() int { return len(m.ByRange) }

// N returns the largest number of copies of any range.
func (m *ShardMap) N() int {
	n := 0
	for _, nodes := range m.ByRange {
		n = max(n, len(nodes))
	}
	return n
}

// CreationTime is the suffix's seconds as a string ("0" without a suffix):
// the db's instance_start_time.
func (m *ShardMap) CreationTime() string {
	s := strings.TrimPrefix(m.Suffix, ".")
	if _, err := strconv.ParseUint(s, 10, 64); err != nil || s == "" {
		return "0"
	}
	return s
}

// dbDoc is the `_dbs` document format (fabric_db_create:make_document).
type dbDoc struct {
	ShardSuffix json.RawMessage     `json:"shard_suffix"`
	Changelog   json.RawMessage     `json:"changelog"`
	ByNode      map[string][]string `json:"by_node"`
	ByRange     map[string][]string `json:"by_range"`
	Props       json.RawMessage     `json:"props,omitempty"`
}

// MarshalDoc renders the map as its `_dbs` document body (without _id/_rev),
// shard_suffix as an array of character codes as CouchDB writes it.
func (m *ShardMap) MarshalDoc() ([]byte, error) {
	codes := make([]int, 0, len(m.Suffix))
	for _, c := range []byte(m.Suffix) {
		codes = append(codes, int(c))
	}
	suffix, _ := json.Marshal(codes)
	d := dbDoc{
		ShardSuffix: suffix,
		Changelog:   m.Changelog,
		ByNode:      map[string][]string{},
		ByRange:     map[string][]string{},
		Props:       m.Props,
	}
	if d.Props == nil {
		d.Props = json.RawMessage("{}")
	}
	for r, nodes := range m.ByRange {
		sorted := append([]string(nil), nodes...)
		sort.Strings(sorted)
		d.ByRange[r.String()] = sorted
		for _, n := range nodes {
			d.ByNode[n] = append(d.ByNode[n], r.String())
		}
	}
	for _, rs := range d.ByNode {
		sort.Strings(rs)
	}
	if d.Changelog == nil {
		var log [][]string
		for _, r := range m.Ranges() {
			for _, n := range d.ByRange[r.String()] {
				log = append(log, []string{"add", r.String(), n})
			}
		}
		d.Changelog, _ = json.Marshal(log)
	}
	// encoding/json sorts map keys, which is the orddict order CouchDB writes.
	return json.Marshal(d)
}

// ParseDoc parses a `_dbs` document. The routing table is built from
// by_node, as mem3_util:build_shards does; shard_suffix may be an array of
// character codes (CouchDB) or a string.
func ParseDoc(db string, body []byte) (*ShardMap, error) {
	var d dbDoc
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("cluster: parse shard map of %s: %w", db, err)
	}
	m := &ShardMap{DB: db, ByRange: map[Range][]string{}, Changelog: d.Changelog, Props: d.Props}
	var codes []int
	if err := json.Unmarshal(d.ShardSuffix, &codes); err == nil {
		b := make([]byte, len(codes))
		for i, c := range codes {
			b[i] = byte(c)
		}
		m.Suffix = string(b)
	} else if err := json.Unmarshal(d.ShardSuffix, &m.Suffix); err != nil && len(d.ShardSuffix) > 0 {
		return nil, fmt.Errorf("cluster: bad shard_suffix of %s", db)
	}
	for node, ranges := range d.ByNode {
		for _, rs := range ranges {
			r, err := ParseRange(rs)
			if err != nil {
				return nil, err
			}
			m.ByRange[r] = append(m.ByRange[r], node)
		}
	}
	for r := range m.ByRange {
		sort.Strings(m.ByRange[r])
	}
	return m, nil
}

// Place builds the shard map of a new database: q ranges with n copies each,
// assigned round-robin over nodes starting at offset so the copies of a range
// land on n consecutive distinct nodes (mem3:choose_shards). n is capped at
// the number of nodes.
func Place(db, suffix string, q, n int, nodes []string, offset int) *ShardMap {
	sorted := append([]string(nil), nodes...)
	sort.Strings(sorted)
	n = max(1, min(n, len(sorted)))
	m := &ShardMap{DB: db, Suffix: suffix, ByRange: map[Range][]string{}, Props: json.RawMessage("{}")}
	i := offset
	for _, r := range Ranges(q) {
		for c := 0; c < n; c++ {
			m.ByRange[r] = append(m.ByRange[r], sorted[(i)%len(sorted)])
			i++
		}
		sort.Strings(m.ByRange[r])
	}
	return m
}
