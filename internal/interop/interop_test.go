// Package interop runs real CouchDB clients from npm (PouchDB, nano) against
// a real divan process. `.ci/run` installs the npm packages; locally run
// `npm ci --prefix internal/interop` once.
package interop

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/divandb/divan/internal/testnode"
)

func TestPouchDBAndNano(t *testing.T) {
	if testing.Short() {
		t.Skip("interop tests start a node and node.js; skipped with -short")
	}
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node.js is not installed; CI installs it")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "pouchdb-core")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("npm packages missing: .ci/run must run `npm ci --prefix internal/interop`")
		}
		t.Skip("npm packages not installed: run `npm ci --prefix internal/interop`")
	}
	// single_node creates _users, which the authentication checks use.
	n := testnode.Start(t, testnode.Options{Config: "[couchdb]\nsingle_node = true\n"})
	cmd := exec.CommandContext(t.Context(), nodeBin, "interop.js")
	u, err := url.Parse(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(n.AdminUser(), n.AdminPassword())
	cmd.Env = append(os.Environ(), "DIVAN_URL="+strings.TrimSuffix(u.String(), "/"))
	out, err := cmd.CombinedOutput()
	t.Logf("interop.js output:\n%s", out)
	if err != nil {
		t.Fatalf("interop.js: %v", err)
	}
}
