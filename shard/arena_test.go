package shard

import (
	"bytes"
	"strings"
	"testing"
)

func TestBatchArena(t *testing.T) {
	var a batchArena
	var kept [][]byte
	var want []string
	for i := range 300 {
		// Mostly small pieces, some too long for a tail.
		s := strings.Repeat(string(rune('a'+i%26)), 1+i%40)
		if i%50 == 0 {
			s = strings.Repeat("z", 3*arenaMinTail)
		}
		b := a.keep(append(a.tail(), s...))
		if cap(b) != len(b) {
			t.Fatalf("kept slice has room past its end: len %d cap %d", len(b), cap(b))
		}
		kept, want = append(kept, b), append(want, s)
	}
	// Appending to a kept slice must not reach the next one.
	kept[0] = append(kept[0], '!')
	for i, b := range kept[1:] {
		if string(b) != want[i+1] {
			t.Fatalf("piece %d = %q, want %q", i+1, b, want[i+1])
		}
	}
	first := a.entry([]byte("k"), []byte("v"), 1)
	for range 3 * arenaEntries {
		a.entry(nil, nil, 0)
	}
	if !bytes.Equal(first.Key, []byte("k")) || !bytes.Equal(first.Value, []byte("v")) || first.UserMeta != 1 {
		t.Fatalf("first entry changed to %+v", first)
	}
}
