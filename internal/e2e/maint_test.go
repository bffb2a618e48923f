package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/divandb/divan/internal/testnode"
)

// TestDatabaseMaintenance covers /{db}/_revs_limit, _security, _compact,
// _ensure_full_commit and _purge.
func TestDatabaseMaintenance(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := n.Client()
	createDB(t, c, "maint")

	t.Run("RevsLimit", func(t *testing.T) {
		_, body := c.Expect(t, http.StatusOK, http.MethodGet, "/maint/_revs_limit", nil)
		jsonEq(t, "GET /maint/_revs_limit", body, `1000`)
		_, body = c.Expect(t, http.StatusOK, http.MethodPut, "/maint/_revs_limit", `10`)
		jsonEq(t, "PUT /maint/_revs_limit", body, `{"ok":true}`)
		_, body = c.Expect(t, http.StatusOK, http.MethodGet, "/maint/_revs_limit", nil)
		jsonEq(t, "GET /maint/_revs_limit after PUT", body, `10`)

		// Interactive updates stem each path to the newest revs_limit revs.
		rev := putDoc(t, c, "maint", "stemmed", map[string]any{"i": 0})
		for i := 1; i < 15; i++ {
			rev = putDoc(t, c, "maint", "stemmed", map[string]any{"_rev": rev, "i": i})
		}
		doc := c.Get(t, "/maint/stemmed?revs=true")
		revs := obj(t, doc, "_revisions")
		if got := num(t, revs, "start"); got != 15 {
			t.Errorf("_revisions.start = %d, want 15", got)
		}
		if ids := arr(t, revs, "ids"); len(ids) != 10 {
			t.Errorf("_revisions.ids has %d entries after 15 edits with _revs_limit 10, want 10", len(ids))
		}
		expectError(t, c, http.StatusMethodNotAllowed, "method_not_allowed", "Only PUT,GET allowed", http.MethodPost, "/maint/_revs_limit", `5`)
	})

	t.Run("Security", func(t *testing.T) {
		// CouchDB 3.x creates databases admin-only ([couchdb] default_security = admin_only).
		_, body := c.Expect(t, http.StatusOK, http.MethodGet, "/maint/_security", nil)
		jsonEq(t, "GET /maint/_security of a new db", body, `{"members":{"roles":["_admin"]},"admins":{"roles":["_admin"]}}`)

		sec := `{"admins":{"names":["boss"],"roles":["ops"]},"members":{"names":["alice","bob"],"roles":["staff"]},"extra":{"kept":true}}`
		_, body = c.Expect(t, http.StatusOK, http.MethodPut, "/maint/_security", sec)
		jsonEq(t, "PUT /maint/_security", body, `{"ok":true}`)
		_, body = c.Expect(t, http.StatusOK, http.MethodGet, "/maint/_security", nil)
		jsonEq(t, "GET /maint/_security after PUT", body, sec)

		open := `{"admins":{"names":[],"roles":[]},"members":{"names":[],"roles":[]}}`
		c.Expect(t, http.StatusOK, http.MethodPut, "/maint/_security", open)
		_, body = c.Expect(t, http.StatusOK, http.MethodGet, "/maint/_security", nil)
		jsonEq(t, "GET /maint/_security after second PUT", body, open)
		expectError(t, c, http.StatusMethodNotAllowed, "method_not_allowed", "Only PUT,GET allowed", http.MethodDelete, "/maint/_security", nil)
	})

	t.Run("Compact", func(t *testing.T) {
		rev := putDoc(t, c, "maint", "compacted", map[string]any{"v": 1})
		putDoc(t, c, "maint", "compacted", map[string]any{"_rev": rev, "v": 2})
		before := num(t, c.Get(t, "/maint"), "doc_count")

		_, body := c.Expect(t, http.StatusAccepted, http.MethodPost, "/maint/_compact", nil, "Content-Type", "application/json")
		jsonEq(t, "POST /maint/_compact", body, `{"ok":true}`)
		expectError(t, c, http.StatusUnsupportedMediaType, "bad_content_type", "Content-Type must be application/json", http.MethodPost, "/maint/_compact", nil)
		expectError(t, c, http.StatusMethodNotAllowed, "method_not_allowed", "Only POST allowed", http.MethodGet, "/maint/_compact", nil)

		testnode.Eventually(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
			info := c.Get(t, "/maint")
			return info["compact_running"] == false, "compact_running is still true"
		})
		if got := num(t, c.Get(t, "/maint"), "doc_count"); got != before {
			t.Errorf("doc_count %d after compaction, want %d", got, before)
		}
		if doc := c.Get(t, "/maint/compacted"); doc["v"] == nil || !strings.HasPrefix(fmt.Sprint(doc["_rev"]), "2-") {
			t.Errorf("GET /maint/compacted after compaction = %v, want v:2 at 2-...", doc)
		}
	})

	t.Run("EnsureFullCommit", func(t *testing.T) {
		ist := str(t, c.Get(t, "/maint"), "instance_start_time")
		var m map[string]any
		c.ExpectJSON(t, http.StatusCreated, http.MethodPost, "/maint/_ensure_full_commit", nil, &m, "Content-Type", "application/json")
		jsonEq(t, "POST /maint/_ensure_full_commit", m, `{"ok":true,"instance_start_time":"`+ist+`"}`)
		expectError(t, c, http.StatusMethodNotAllowed, "method_not_allowed", "Only POST allowed", http.MethodGet, "/maint/_ensure_full_commit", nil)
		expectError(t, c, http.StatusNotFound, "not_found", "Database does not exist.", http.MethodPost, "/nodb/_ensure_full_commit", nil, "Content-Type", "application/json")
	})

	t.Run("Purge", func(t *testing.T) {
		createDB(t, c, "purge")
		rev1 := putDoc(t, c, "purge", "p", map[string]any{"v": 1})
		rev2 := putDoc(t, c, "purge", "p", map[string]any{"_rev": rev1, "v": 2})
		putDoc(t, c, "purge", "keep", map[string]any{"v": 1})
		before := c.Get(t, "/purge")

		var res map[string]any
		c.ExpectJSON(t, http.StatusCreated, http.MethodPost, "/purge/_purge", map[string]any{"p": []string{rev2}}, &res)
		jsonEq(t, "POST /purge/_purge", res, `{"purge_seq":null,"purged":{"p":["`+rev2+`"]}}`)

		// Purged documents are gone without a tombstone.
		expectError(t, c, http.StatusNotFound, "not_found", "missing", http.MethodGet, "/purge/p", nil)
		expectError(t, c, http.StatusNotFound, "not_found", "missing", http.MethodGet, "/purge/p?rev="+rev2, nil)
		after := c.Get(t, "/purge")
		if got, want := num(t, after, "doc_count"), num(t, before, "doc_count")-1; got != want {
			t.Errorf("doc_count %d after purge, want %d", got, want)
		}
		if got, want := num(t, after, "doc_del_count"), num(t, before, "doc_del_count"); got != want {
			t.Errorf("doc_del_count %d after purge, want %d (purge leaves no tombstone)", got, want)
		}
		if b, a := seqPrefix(t, before["purge_seq"]), seqPrefix(t, after["purge_seq"]); a <= b {
			t.Errorf("purge_seq did not advance: %v -> %v", before["purge_seq"], after["purge_seq"])
		}
		all := c.Get(t, "/purge/_all_docs")
		if ids := rowIDs(rows(t, all)); !equalStrings(ids, []string{"keep"}) {
			t.Errorf("_all_docs after purge lists %q, want [keep]", ids)
		}
		// The id can be used afresh.
		if rev := putDoc(t, c, "purge", "p", map[string]any{"v": 3}); revPos(t, rev) != 1 {
			t.Errorf("recreating a purged doc gave rev %s, want 1-...", rev)
		}

		// Purging one conflicting leaf leaves the other.
		base := putDoc(t, c, "purge", "conf", map[string]any{"v": 0})
		b, cc := "2-"+strings.Repeat("b", 32), "2-"+strings.Repeat("c", 32)
		bulkNoNewEdits(t, c, "purge", branchDoc("conf", base, b, false), branchDoc("conf", base, cc, false))
		c.ExpectJSON(t, http.StatusCreated, http.MethodPost, "/purge/_purge", map[string]any{"conf": []string{cc}}, &res)
		jsonEq(t, "POST /purge/_purge of a conflict leaf", res, `{"purge_seq":null,"purged":{"conf":["`+cc+`"]}}`)
		doc := c.Get(t, "/purge/conf?conflicts=true")
		if doc["_rev"] != b {
			t.Errorf("after purging %s the winner is %v, want %s", cc, doc["_rev"], b)
		}
		if _, ok := doc["_conflicts"]; ok {
			t.Errorf("after purging %s, _conflicts = %v, want none", cc, doc["_conflicts"])
		}

		expectError(t, c, http.StatusUnsupportedMediaType, "bad_content_type", "Content-Type must be application/json", http.MethodPost, "/purge/_purge", `{}`, "Content-Type", "text/plain")
		expectError(t, c, http.StatusMethodNotAllowed, "method_not_allowed", "Only POST allowed", http.MethodGet, "/purge/_purge", nil)
	})
}
