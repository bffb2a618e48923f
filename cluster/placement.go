package cluster

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ZoneCopies is one rule of a placement: N copies of every range on nodes
// of Zone.
type ZoneCopies struct {
	Zone string
	N    int
}

// ErrPlacementSyntax reports a placement that is not "zone:n[,zone:n…]".
var ErrPlacementSyntax = errors.New("cluster: placement must be zone:n[,zone:n...]")

// ErrNoNodesInZone reports a placement rule naming a zone without nodes
// (mem3:choose_shards raises no_nodes_in_zone).
var ErrNoNodesInZone = errors.New("no_nodes_in_zone")

// ParsePlacement parses `[cluster] placement` or `?placement=`:
// comma-separated zone:n rules with n a positive integer. Empty tokens are
// skipped as Erlang's string:tokens does.
func ParsePlacement(s string) ([]ZoneCopies, error) {
	var rules []ZoneCopies
	for _, rule := range strings.Split(s, ",") {
		if rule == "" {
			continue
		}
		zone, n, ok := strings.Cut(rule, ":")
		if !ok || zone == "" || strings.Contains(n, ":") {
			return nil, ErrPlacementSyntax
		}
		k, err := strconv.Atoi(n)
		if err != nil || k <= 0 {
			return nil, ErrPlacementSyntax
		}
		rules = append(rules, ZoneCopies{Zone: zone, N: k})
	}
	if len(rules) == 0 {
		return nil, ErrPlacementSyntax
	}
	return rules, nil
}

// PlaceZoned builds the shard map of a new database under a placement, as
// mem3:choose_shards does: every rule places its own N copies of each of
// the q ranges on the nodes of its zone (N capped at their number), so the
// total copies of a range are the sum of the rules' N — the placement
// overrides n. offset(k) picks the rotation for a zone of k nodes.
func PlaceZoned(db, suffix string, q int, rules []ZoneCopies, members []Member, offset func(nodes int) int) (*ShardMap, error) {
	var m *ShardMap
	for _, rule := range rules {
		var nodes []string
		for _, mb := range members {
			if mb.Zone == rule.Zone && !mb.Decom {
				nodes = append(nodes, mb.Name)
			}
		}
		if len(nodes) == 0 {
			return nil, fmt.Errorf("%w: %q", ErrNoNodesInZone, rule.Zone)
		}
		zm := Place(db, suffix, q, rule.N, nodes, offset(len(nodes)))
		if m == nil {
			m = zm
			continue
		}
		for r, copies := range zm.ByRange {
			m.ByRange[r] = append(m.ByRange[r], copies...)
			sort.Strings(m.ByRange[r])
		}
	}
	return m, nil
}
