package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

const ctJSON = "Content-Type"

func setupPost(a *API, body string) result {
	return call(a, http.MethodPost, "/_cluster_setup", body, "auth", "", ctJSON, "application/json")
}

func TestClusterSetupState(t *testing.T) {
	two := &fakeCluster{all: []string{"n1@127.0.0.1", "n2@h"}, members: []string{"n1@127.0.0.1", "n2@h"}}
	for _, tc := range []struct {
		dbs   []string
		multi bool
		query string
		want  string
	}{
		{nil, false, "", "cluster_disabled"},
		{[]string{"_users"}, false, "", "cluster_disabled"},
		{[]string{"_users", "_replicator"}, false, "", "single_node_enabled"},
		{nil, true, "", "cluster_enabled"},
		{[]string{"_users", "_replicator"}, true, "", "cluster_finished"},
		{[]string{"_users"}, true, `?ensure_dbs_exist=["_users"]`, "cluster_finished"},
		{nil, false, `?ensure_dbs_exist=[]`, "single_node_enabled"},
	} {
		a := newClusterAPI(t, stubBackend{dbs: tc.dbs}, func(c *Config) {
			if tc.multi {
				c.Cluster = two
			}
		})
		expectBody(t, call(a, http.MethodGet, "/_cluster_setup"+tc.query, "", "auth", ""), 200, `{"state":"`+tc.want+`"}`)
	}
	a := newClusterAPI(t, stubBackend{}, nil)
	expectError(t, call(a, http.MethodGet, "/_cluster_setup?ensure_dbs_exist=[x", "", "auth", ""), 400, "bad_request", "invalid UTF-8 JSON")
	expectError(t, call(a, http.MethodGet, "/_cluster_setup", ""), 401, "unauthorized", "You are not a server admin.")
	expectError(t, call(a, http.MethodPut, "/_cluster_setup", "", "auth", ""), 405, "method_not_allowed", "Only GET,POST allowed")
}

func TestClusterSetupActions(t *testing.T) {
	b := newCreateBackend("_users")
	a := newClusterAPI(t, b, nil)
	expectError(t, call(a, http.MethodPost, "/_cluster_setup", `{"action":"finish_cluster"}`, "auth", ""), 415, "bad_content_type", "Content-Type must be application/json")
	expectError(t, setupPost(a, `[1]`), 400, "bad_request", "Missing JSON body'")
	expectError(t, setupPost(a, `{"action":`), 400, "bad_request", "Missing JSON body'")
	expectError(t, setupPost(a, `{}`), 400, "bad_request", "Invalid Action'")
	expectError(t, setupPost(a, `{"action":"nope"}`), 400, "bad_request", "Invalid Action'")
	expectError(t, setupPost(a, `{"action":7}`), 400, "bad_request", "Invalid Action'")
	for _, act := range []string{"receive_cookie", "remove_node"} {
		expectBody(t, setupPost(a, `{"action":"`+act+`","cookie":"c"}`), 201, `{"ok":true}`)
	}

	// enable_cluster validates as setup:enable_cluster_int does.
	expectError(t, setupPost(a, `{"action":"enable_cluster","bind_address":"127.0.0.1","node_count":3}`), 500, "error", reasonLocalBind)
	expectError(t, setupPost(a, `{"action":"enable_cluster","bind_address":"::1","node_count":3}`), 500, "error", reasonLocalBind)
	expectError(t, setupPost(a, `{"action":"enable_cluster","bind_address":"0.0.0.0"}`), 500, "error", reasonNoNodeCount)
	expectError(t, setupPost(a, `{"action":"enable_cluster","bind_address":"nohost","node_count":3}`), 500, "error", `Setup requires a valid IP bind_address. "nohost" is invalid.`)
	expectBody(t, setupPost(a, `{"action":"enable_cluster","bind_address":"0.0.0.0","username":"admin","password":"pw","port":5984,"node_count":"3"}`), 201, `{"ok":true}`)

	// enable_single_node and finish_cluster create the missing dbs.
	expectBody(t, setupPost(a, `{"action":"enable_single_node","ensure_dbs_exist":["_users","extra"]}`), 201, `{"ok":true}`)
	if got := b.createdDBs(); !slices.Equal(got, []string{"extra"}) {
		t.Fatalf("created %v", got)
	}
	expectBody(t, setupPost(a, `{"action":"enable_single_node","ensure_dbs_exist":["_users","extra"]}`), 201, `{"ok":true}`)
	expectBody(t, setupPost(a, `{"action":"finish_cluster"}`), 201, `{"ok":true}`)
	if got := b.createdDBs(); !slices.Equal(got, []string{"extra", "_replicator"}) {
		t.Fatalf("created %v", got)
	}
	expectError(t, setupPost(a, `{"action":"finish_cluster"}`), 400, "bad_request", "Cluster is already finished")
	expectError(t, setupPost(a, `{"action":"finish_cluster","ensure_dbs_exist":"x"}`), 400, "bad_request", "ensure_dbs_exist must be a JSON array of database names")

	multi := newClusterAPI(t, stubBackend{}, func(c *Config) {
		c.Cluster = &fakeCluster{members: []string{"a", "b"}}
	})
	expectError(t, setupPost(multi, `{"action":"enable_cluster","bind_address":"0.0.0.0","node_count":3}`), 400, "bad_request", "Cluster is already enabled")
	expectError(t, setupPost(a, `{"action":"add_node","host":"127.0.0.1"}`), 400, "bad_request", "Cluster is not enabled.")
}

func TestClusterSetupEnableRemote(t *testing.T) {
	var seen seenRequest
	remote := httptest.NewServer(recordingHandler(&seen, 201, `{"ok":true}`))
	defer remote.Close()
	host, port, _ := strings.Cut(strings.TrimPrefix(remote.URL, "http://"), ":")
	a := newClusterAPI(t, stubBackend{}, nil)
	expectBody(t, setupPost(a, `{"action":"enable_cluster","bind_address":"0.0.0.0","username":"admin","password":"pw","port":`+port+
		`,"node_count":3,"remote_node":"`+host+`","remote_current_user":"ru","remote_current_password":"rp"}`), 201, `{"ok":true}`)
	var body map[string]any
	if err := json.Unmarshal([]byte(seen.body), &body); err != nil || seen.method != http.MethodPost || seen.path != "/_cluster_setup" {
		t.Fatalf("remote saw %+v", seen)
	}
	if body["action"] != "enable_cluster" || body["username"] != "admin" || body["password"] != "pw" || body["node_count"] != 3.0 || body["remote_node"] != nil {
		t.Errorf("forwarded %v", body)
	}
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth("ru", "rp")
	if seen.auth != req.Header.Get("Authorization") {
		t.Errorf("remote auth %q", seen.auth)
	}
	// A remote failure still answers 201, as CouchDB does.
	expectBody(t, setupPost(a, `{"action":"enable_cluster","node_count":3,"remote_node":"127.0.0.1","port":1}`), 201, `{"ok":true}`)
}

func TestClusterSetupAddNode(t *testing.T) {
	// The node being added: a real API answering /_node/_local/_divan.
	n2 := newClusterAPI(t, stubBackend{}, func(c *Config) {
		c.NodeName = "n2@127.0.0.1"
		c.Cluster = &fakeCluster{self: NodeInfo{Name: "n2@127.0.0.1", GossipAddr: "127.0.0.1:7001"}}
	})
	srv := httptest.NewServer(n2)
	defer srv.Close()
	host, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")

	fc := &fakeCluster{}
	a := newClusterAPI(t, stubBackend{}, func(c *Config) { c.Cluster = fc })
	expectBody(t, setupPost(a, `{"action":"add_node","host":"`+host+`","port":"`+port+`","username":"admin","password":"pw"}`), 201, `{"ok":true}`)
	if len(fc.joined) != 1 || fc.joined[0] != (NodeInfo{Name: "n2@127.0.0.1", GossipAddr: "127.0.0.1:7001"}) {
		t.Fatalf("joined %+v", fc.joined)
	}
	expectError(t, setupPost(a, `{"action":"add_node","host":"`+host+`","port":`+port+`,"username":"admin","password":"bad"}`), 400, "bad_request", reasonBadAdminCreds)
	expectError(t, setupPost(a, `{"action":"add_node","host":"`+host+`","port":`+port+`}`), 400, "bad_request", reasonBadAdminCreds)
	expectError(t, setupPost(a, `{"action":"add_node","host":"127.0.0.1","port":1,"username":"admin","password":"pw"}`), 400, "bad_request", reasonBadHostPort)
	expectError(t, setupPost(a, `{"action":"add_node","port":5984}`), 400, "bad_request", reasonBadHostPort)

	fc.joinErr = errNoMajority
	expectError(t, setupPost(a, `{"action":"add_node","host":"`+host+`","port":`+port+`,"username":"admin","password":"pw"}`), 500, "error", "no_majority")
}

func TestParseDBList(t *testing.T) {
	for in, want := range map[string]string{`[]`: "", `["a","b"]`: "a,b"} {
		got, err := parseDBList([]byte(in))
		if err != nil || strings.Join(got, ",") != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, in := range []string{`[`, `"a"`, `[1]`, `null`, `{}`} {
		if _, err := parseDBList([]byte(in)); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
}
