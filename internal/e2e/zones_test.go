package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/divandb/divan/internal/testnode"
)

// TestZonePlacement: nodes started with a zone place copies by
// ?placement= and by [cluster] placement, as mem3:choose_shards does.
func TestZonePlacement(t *testing.T) {
	t.Parallel()
	zones := map[string]string{"n1@127.0.0.1": "east", "n2@127.0.0.1": "east", "n3@127.0.0.1": "west"}
	nodes := startClusterWith(t, func(i int) testnode.Options {
		o := testnode.Options{Args: []string{"-zone", zones[fmt.Sprintf("n%d@127.0.0.1", i)]}}
		if i == 2 {
			o.Config = "[cluster]\nplacement = west:1\n"
		}
		return o
	})
	c1, c2 := nodes[0].Client(), nodes[1].Client()

	// Every node's _nodes doc carries its zone on the node that places.
	for name, zone := range zones {
		testnode.Eventually(t, 20*time.Second, 50*time.Millisecond, func() (bool, string) {
			for _, c := range []*testnode.Client{c1, c2} {
				status, _, body := c.Do(t, http.MethodGet, "/_node/_local/_nodes/"+name, nil)
				if status != http.StatusOK || testnode.Object(t, body)["zone"] != zone {
					return false, fmt.Sprintf("_nodes/%s: %d %s", name, status, body)
				}
			}
			return true, ""
		})
	}

	shardsOf := func(c *testnode.Client, db string) map[string][]string {
		var res struct {
			Shards map[string][]string `json:"shards"`
		}
		c.ExpectJSON(t, http.StatusOK, http.MethodGet, "/"+db+"/_shards", nil, &res)
		return res.Shards
	}

	// ?placement= overrides n: one copy in each zone.
	c1.Expect(t, http.StatusCreated, http.MethodPut, "/zoned?q=4&n=3&placement=east:1,west:1", nil)
	ranges := shardsOf(c1, "zoned")
	if len(ranges) != 4 {
		t.Fatalf("%d ranges, want 4", len(ranges))
	}
	for r, copies := range ranges {
		if len(copies) != 2 || zones[copies[0]] == zones[copies[1]] {
			t.Errorf("range %s on %v: want one east and one west copy", r, copies)
		}
	}
	// The copies really exist and take writes at the reported w.
	c1.Expect(t, http.StatusCreated, http.MethodPut, "/zoned/doc", map[string]any{"a": 1})

	// [cluster] placement on node 2 applies to dbs it creates.
	c2.Expect(t, http.StatusCreated, http.MethodPut, "/westonly?q=2", nil)
	for r, copies := range shardsOf(c2, "westonly") {
		if len(copies) != 1 || copies[0] != "n3@127.0.0.1" {
			t.Errorf("westonly range %s on %v: want n3 alone", r, copies)
		}
	}

	// Errors as CouchDB gives them.
	_, body := c1.Expect(t, http.StatusBadRequest, http.MethodPut, "/badzone?placement=east", nil)
	if got := testnode.Object(t, body)["reason"]; got != "The `placement` value should be in a format `zone:n`." {
		t.Errorf("bad placement reason %q", got)
	}
	_, body = c1.Expect(t, http.StatusInternalServerError, http.MethodPut, "/nozone?placement=north:1", nil)
	if obj := testnode.Object(t, body); obj["error"] != "unknown_error" || obj["reason"] != "no_nodes_in_zone" {
		t.Errorf("empty zone: %s", body)
	}
	c1.Expect(t, http.StatusNotFound, http.MethodGet, "/nozone", nil)
}
