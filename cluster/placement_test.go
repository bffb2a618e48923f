package cluster

import (
	"errors"
	"reflect"
	"testing"
)

func TestParsePlacement(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []ZoneCopies
	}{
		{"a:2", []ZoneCopies{{"a", 2}}},
		{"east:2,west:1", []ZoneCopies{{"east", 2}, {"west", 1}}},
		{"east:2,,west:1,", []ZoneCopies{{"east", 2}, {"west", 1}}},
	} {
		got, err := ParsePlacement(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParsePlacement(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", ",", "a", "a:", ":1", "a:0", "a:-1", "a:x", "a:1:2", "a:1,b"} {
		if _, err := ParsePlacement(bad); !errors.Is(err, ErrPlacementSyntax) {
			t.Errorf("ParsePlacement(%q) error = %v, want ErrPlacementSyntax", bad, err)
		}
	}
}

func TestPlaceZoned(t *testing.T) {
	members := []Member{
		{Name: "n1", Zone: "east"}, {Name: "n2", Zone: "east"}, {Name: "n3", Zone: "east"},
		{Name: "n4", Zone: "west"}, {Name: "n5", Zone: "west"},
		{Name: "n6", Zone: "west", Decom: true},
	}
	rules := []ZoneCopies{{"east", 2}, {"west", 1}}
	for offset := 0; offset < 3; offset++ {
		m, err := PlaceZoned("db", ".1", 8, rules, members, func(int) int { return offset })
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Ranges()) != 8 {
			t.Fatalf("%d ranges, want 8", len(m.Ranges()))
		}
		zone := map[string]string{}
		for _, mb := range members {
			zone[mb.Name] = mb.Zone
		}
		for _, r := range m.Ranges() {
			nodes := m.ByRange[r]
			count := map[string]int{}
			seen := map[string]bool{}
			for _, n := range nodes {
				if seen[n] {
					t.Fatalf("range %v: node %s holds two copies", r, n)
				}
				if n == "n6" {
					t.Fatalf("range %v placed on a decommissioned node", r)
				}
				seen[n] = true
				count[zone[n]]++
			}
			if count["east"] != 2 || count["west"] != 1 || len(nodes) != 3 {
				t.Errorf("range %v on %v: want 2 east + 1 west copies", r, nodes)
			}
		}
	}
	// A rule asking for more copies than its zone has nodes is capped.
	m, err := PlaceZoned("db", ".1", 2, []ZoneCopies{{"west", 5}}, members, func(int) int { return 0 })
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Ranges() {
		if got := len(m.ByRange[r]); got != 2 {
			t.Errorf("range %v: %d copies, want 2 (the west zone's live nodes)", r, got)
		}
	}
	if _, err := PlaceZoned("db", ".1", 2, []ZoneCopies{{"north", 1}}, members, func(int) int { return 0 }); !errors.Is(err, ErrNoNodesInZone) {
		t.Errorf("empty zone: err = %v, want ErrNoNodesInZone", err)
	}
}
