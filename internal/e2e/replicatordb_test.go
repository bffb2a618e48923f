package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/divandb/divan/internal/testnode"
)

// TestReplicatorDocOwnership: _replicator documents belong to the user who
// wrote them; other members read them without credentials and may not
// change them; admins see and change everything (couch_replicator_docs).
func TestReplicatorDocOwnership(t *testing.T) {
	t.Parallel()
	n := testnode.Start(t, testnode.Options{Config: "[couchdb]\nsingle_node = true\n"})
	admin := n.Client()
	for _, name := range []string{"bob", "carol"} {
		admin.Expect(t, http.StatusCreated, http.MethodPut, "/_users/org.couchdb.user:"+name,
			map[string]any{"type": "user", "name": name, "roles": []string{}, "password": "pw-" + name})
	}
	admin.Expect(t, http.StatusOK, http.MethodPut, "/_replicator/_security", map[string]any{
		"admins":  map[string]any{"names": []string{}, "roles": []string{"_admin"}},
		"members": map[string]any{"names": []string{"bob", "carol"}, "roles": []string{}}})
	bob, carol := n.ClientAs("bob", "pw-bob"), n.ClientAs("carol", "pw-carol")

	_, body := bob.Expect(t, http.StatusCreated, http.MethodPut, "/_replicator/bobs", map[string]any{
		"source": "https://bob:secret1@remote.example/src",
		"target": map[string]any{"url": "http://remote.example/tgt",
			"headers": map[string]any{"Authorization": "Basic c2VjcmV0Mg=="}},
	})
	rev := testnode.Object(t, body)["rev"].(string)

	own := bob.Get(t, "/_replicator/bobs")
	if own["owner"] != "bob" || !strings.Contains(own["source"].(string), "secret1") {
		t.Errorf("owner's read: %v", own)
	}
	for _, path := range []string{"/_replicator/bobs", "/_replicator/bobs?open_revs=all", "/_replicator/bobs?revs=true&conflicts=true"} {
		_, body := carol.Expect(t, http.StatusOK, http.MethodGet, path, nil)
		if s := string(body); strings.Contains(s, "secret1") || strings.Contains(s, "c2VjcmV0Mg==") || !strings.Contains(s, "remote.example/src") {
			t.Errorf("carol GET %s shows credentials or lost the endpoint: %s", path, s)
		}
	}
	// Listing the database is for server admins (chttpd_auth_request).
	carol.Expect(t, http.StatusUnauthorized, http.MethodGet, "/_replicator/_all_docs", nil)
	carol.Expect(t, http.StatusUnauthorized, http.MethodGet, "/_replicator/_changes", nil)
	_, body = carol.Expect(t, http.StatusForbidden, http.MethodPut, "/_replicator/bobs",
		map[string]any{"_rev": rev, "source": "http://x/a", "target": "http://x/b", "owner": "bob"})
	if !strings.Contains(string(body), "Can't update replication documents from other users.") {
		t.Errorf("carol updating bob's doc: %s", body)
	}
	carol.Expect(t, http.StatusForbidden, http.MethodPut, "/_replicator/claims",
		map[string]any{"source": "http://x/a", "target": "http://x/b", "owner": "bob"})

	full := admin.Get(t, "/_replicator/bobs")
	if !strings.Contains(full["source"].(string), "secret1") || full["target"].(map[string]any)["headers"] == nil {
		t.Errorf("admin read is redacted: %v", full)
	}
	admin.Expect(t, http.StatusCreated, http.MethodPut, "/_replicator/bobs",
		map[string]any{"_rev": rev, "source": "http://x/a", "target": "http://x/b", "owner": "bob"})
}
