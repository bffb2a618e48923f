package cluster

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestRanges(t *testing.T) {
	for _, tc := range []struct {
		q    int
		want []string
	}{
		{1, []string{"00000000-ffffffff"}},
		{2, []string{"00000000-7fffffff", "80000000-ffffffff"}},
		{3, []string{"00000000-55555554", "55555555-aaaaaaa9", "aaaaaaaa-ffffffff"}},
		{8, []string{"00000000-1fffffff", "20000000-3fffffff", "40000000-5fffffff", "60000000-7fffffff",
			"80000000-9fffffff", "a0000000-bfffffff", "c0000000-dfffffff", "e0000000-ffffffff"}},
	} {
		var got []string
		for _, r := range Ranges(tc.q) {
			got = append(got, r.String())
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Ranges(%d) = %v, want %v", tc.q, got, tc.want)
		}
	}
	// Every q covers the ring exactly.
	for q := 1; q <= 64; q++ {
		rs := Ranges(q)
		if len(rs) != q || rs[0].Begin != 0 || rs[len(rs)-1].End != 0xffffffff {
			t.Fatalf("q=%d: %v", q, rs)
		}
		for i := 1; i < len(rs); i++ {
			if rs[i].Begin != rs[i-1].End+1 {
				t.Fatalf("q=%d: gap between %v and %v", q, rs[i-1], rs[i])
			}
		}
	}
}

func TestHashMatchesCouchDB(t *testing.T) {
	// erlang:crc32(<<"foo">>) = 2356372769 (standard CRC-32/IEEE).
	if got := Hash("foo"); got != 2356372769 {
		t.Fatalf("Hash(foo) = %d", got)
	}
}

func TestShardMapDocRoundTrip(t *testing.T) {
	m := Place("mydb", ".1529362187", 2, 3, []string{"n3@h", "n1@h", "n2@h"}, 0)
	body, err := m.MarshalDoc()
	if err != nil {
		t.Fatal(err)
	}
	// CouchDB writes shard_suffix as an array of character codes.
	if !strings.Contains(string(body), `"shard_suffix":[46,49,53,50,57,51,54,50,49,56,55]`) {
		t.Fatalf("shard_suffix not as char codes: %s", body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"by_node", "by_range", "changelog", "props"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("missing %s in %s", k, body)
		}
	}
	back, err := ParseDoc("mydb", body)
	if err != nil {
		t.Fatal(err)
	}
	if back.Suffix != m.Suffix || !reflect.DeepEqual(back.ByRange, m.ByRange) {
		t.Fatalf("round trip: %+v vs %+v", back, m)
	}
	if back.Q() != 2 || back.N() != 3 || back.CreationTime() != "1529362187" {
		t.Fatalf("q/n/time = %d/%d/%s", back.Q(), back.N(), back.CreationTime())
	}
	if got := back.ShardName(Ranges(2)[0]); got != "shards/00000000-7fffffff/mydb.1529362187" {
		t.Fatalf("ShardName = %s", got)
	}
	// A string suffix (hand-edited maps) is accepted too.
	alt, err := ParseDoc("x", []byte(`{"shard_suffix":".123","by_node":{"a@h":["00000000-ffffffff"]}}`))
	if err != nil || alt.Suffix != ".123" {
		t.Fatalf("string suffix: %v %v", alt, err)
	}
}

func TestPlaceSpreadsCopies(t *testing.T) {
	nodes := []string{"a@h", "b@h", "c@h", "d@h"}
	m := Place("db", ".1", 4, 3, nodes, 1)
	perNode := map[string]int{}
	for _, r := range m.Ranges() {
		copies := m.ByRange[r]
		if len(copies) != 3 {
			t.Fatalf("range %v has %d copies", r, len(copies))
		}
		seen := map[string]bool{}
		for _, n := range copies {
			if seen[n] {
				t.Fatalf("range %v has two copies on %s", r, n)
			}
			seen[n] = true
			perNode[n]++
		}
	}
	for _, n := range nodes {
		if perNode[n] != 3 {
			t.Fatalf("uneven placement: %v", perNode)
		}
	}
	// n is capped at the number of nodes.
	if got := Place("db", ".1", 2, 3, []string{"solo@h"}, 0).N(); got != 1 {
		t.Fatalf("n on one node = %d", got)
	}
}

func TestParseShardName(t *testing.T) {
	for _, tc := range []struct {
		in, db, rng string
		ok          bool
	}{
		{"shards/00000000-7fffffff/mydb.1529362187", "mydb", "00000000-7fffffff", true},
		{"shards/80000000-ffffffff/a/b.1529362187", "a/b", "80000000-ffffffff", true},
		{"shards/80000000-ffffffff/x.y.1529362187", "x.y", "80000000-ffffffff", true},
		{"_dbs", "", "", false},
		{"shards/zz/db.1", "", "", false},
	} {
		db, r, ok := ParseShardName(tc.in)
		if ok != tc.ok || (ok && (db != tc.db || r.String() != tc.rng)) {
			t.Errorf("ParseShardName(%q) = %q %v %v", tc.in, db, r, ok)
		}
	}
}
