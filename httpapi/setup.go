package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/config"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// clusterSystemDBs is setup:cluster_system_dbs/0.
var clusterSystemDBs = []string{"_users", "_replicator"}

// Timeouts of the requests /_cluster_setup makes to other nodes, and of
// finish_cluster's wait for every member to be reachable (test_util:wait's
// default).
var (
	setupRemoteTimeout = 10 * time.Second
	setupWaitTimeout   = 5 * time.Second
)

// Reasons of the /_cluster_setup errors (setup_httpd.erl, setup.erl).
const (
	reasonAlreadyEnabled  = "Cluster is already enabled"
	reasonAlreadyFinished = "Cluster is already finished"
	reasonNotEnabled      = "Cluster is not enabled."
	reasonBadHostPort     = "Add node failed. Invalid Host and/or Port."
	reasonBadAdminCreds   = "Add node failed. Invalid admin credentials,"
	reasonInvalidAction   = "Invalid Action'"
	reasonMissingBody     = "Missing JSON body'"
	reasonLocalBind       = "Cluster setup requires a remote bind_address (not 127.0.0.1 nor ::1)"
	reasonNoNodeCount     = "Cluster setup requires node_count to be configured"
	reasonWaitTimeout     = "Cluster setup timed out waiting for nodes to connect"
)

// setupError is what setup.erl throws as {error, Reason}: chttpd renders it
// as 500 {"error":"error","reason":Reason}.
func setupError(reason string) error { return couch.Errorf(codeError, "%s", reason) }

// handleClusterSetup serves /_cluster_setup (setup_httpd:handle_setup_req).
// The caller has checked for a server admin.
func (a *API) handleClusterSetup(rq *request) error {
	switch rq.method {
	case http.MethodGet:
		return a.clusterSetupState(rq)
	case http.MethodPost:
		return a.clusterSetupAction(rq)
	}
	return notAllowed("GET,POST")
}

// clusterSetupState answers GET /_cluster_setup. CouchDB decides the state
// from [couchdb] single_node, [cluster] n, [chttpd] bind_address and the
// admins; Divan has none of these toggles (it always listens where it was
// told and always has an admin), so it decides from what is observable, in
// the same spirit:
//
//   - the ensure_dbs_exist dbs exist and there is more than one cluster
//     member: cluster_finished;
//   - the dbs exist (a single member): single_node_enabled;
//   - more than one member (dbs missing): cluster_enabled;
//   - otherwise: cluster_disabled.
func (a *API) clusterSetupState(rq *request) error {
	dbs := clusterSystemDBs
	if v, ok := rq.qs("ensure_dbs_exist"); ok {
		var err error
		if dbs, err = parseDBList([]byte(v)); err != nil {
			return err
		}
	}
	exist, err := a.dbsExist(rq.ctx, dbs)
	if err != nil {
		return err
	}
	multi, err := a.multiNode(rq.ctx)
	if err != nil {
		return err
	}
	var state string
	switch {
	case exist && multi:
		state = "cluster_finished"
	case exist:
		state = "single_node_enabled"
	case multi:
		state = "cluster_enabled"
	default:
		state = "cluster_disabled"
	}
	rq.sendJSON(http.StatusOK, append(rq.buf[:0], `{"state":"`+state+`"}`...))
	return nil
}

// parseDBList parses a JSON array of database names (ensure_dbs_exist).
func parseDBList(v []byte) ([]string, error) {
	if !rawjson.Valid(v) {
		return nil, errInvalidJSON
	}
	var dbs []string
	if err := json.Unmarshal(v, &dbs); err != nil || dbs == nil {
		return nil, badRequest("ensure_dbs_exist must be a JSON array of database names")
	}
	return dbs, nil
}

// dbsExist is setup:has_cluster_system_dbs/1.
func (a *API) dbsExist(ctx context.Context, dbs []string) (bool, error) {
	for _, db := range dbs {
		err := a.checkDB(ctx, db)
		if errors.Is(err, couch.ErrNoDB) {
			return false, nil
		}
		if err != nil {
			var ce *couch.Error
			if errors.As(err, &ce) {
				return false, nil // CouchDB: anything but {ok, Info} is "missing"
			}
			return false, err
		}
	}
	return true, nil
}

// multiNode reports whether more than one node is recorded in _nodes.
func (a *API) multiNode(ctx context.Context) (bool, error) {
	_, members, err := a.membership(ctx)
	return len(members) > 1, err
}

// setupBody is a POST /_cluster_setup body: its members, raw.
type setupBody map[string]json.RawMessage

// str returns a member that is a JSON string.
func (b setupBody) str(key string) (string, bool) {
	v, ok := b[key]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// has reports whether key is present and not null.
func (b setupBody) has(key string) bool {
	v, ok := b[key]
	return ok && string(bytes.TrimSpace(v)) != "null"
}

// port returns a port given as a number or a string (setup:get_port/1),
// or def.
func (b setupBody) port(def string) string {
	if s, ok := b.str("port"); ok {
		return s
	}
	if v, ok := b["port"]; ok {
		if n, ok := jsonInt(v); ok {
			return strconv.FormatInt(n, 10)
		}
	}
	return def
}

// dbs returns ensure_dbs_exist or the default list.
func (b setupBody) dbs() ([]string, error) {
	if !b.has("ensure_dbs_exist") {
		return clusterSystemDBs, nil
	}
	return parseDBList(b["ensure_dbs_exist"])
}

// clusterSetupAction serves POST /_cluster_setup.
func (a *API) clusterSetupAction(rq *request) error {
	if err := rq.requireJSONCType(); err != nil {
		return err
	}
	data, err := rq.body()
	if err != nil {
		return err
	}
	var body setupBody
	if !rawjson.Valid(data) || firstByte(data) != '{' || json.Unmarshal(data, &body) != nil {
		return badRequest(reasonMissingBody)
	}
	action, ok := body.str("action")
	if !ok {
		action = "missing"
	}
	switch action {
	case "enable_cluster":
		err = a.enableCluster(rq, body)
	case "finish_cluster":
		err = a.finishCluster(rq, body)
	case "enable_single_node":
		err = a.enableSingleNode(rq, body)
	case "add_node":
		err = a.addNode(rq, body)
	case "receive_cookie", "remove_node":
		// Divan nodes need no Erlang cookie; remove_node only logs in
		// CouchDB too.
	default:
		err = badRequest(reasonInvalidAction)
	}
	if err != nil {
		return err
	}
	rq.sendOK(http.StatusCreated)
	return nil
}

// enableCluster is setup:enable_cluster/1. Divan cannot rebind or change
// [cluster] n at run time, so a local enable_cluster only validates.
func (a *API) enableCluster(rq *request, body setupBody) error {
	if body.has("remote_node") {
		a.enableClusterRemote(rq, body)
		return nil
	}
	multi, err := a.multiNode(rq.ctx)
	if err != nil {
		return err
	}
	if multi {
		return badRequest(reasonAlreadyEnabled)
	}
	// require_admins cannot fail: the request comes from a server admin.
	if body.has("bind_address") {
		addr, ok := body.str("bind_address")
		switch {
		case ok && (addr == "127.0.0.1" || addr == "::1"):
			return setupError(reasonLocalBind)
		case !ok || net.ParseIP(addr) == nil:
			return setupError("Setup requires a valid IP bind_address. " + strconv.Quote(addr) + " is invalid.")
		}
	}
	if !body.has("node_count") {
		return setupError(reasonNoNodeCount)
	}
	return nil
}

// enableClusterRemote is setup:enable_cluster_http/1: POST the action to
// http://<remote_node>:<port>/_cluster_setup, authenticated as
// remote_current_user. Like CouchDB it answers 201 whatever the remote
// node says; failures are logged.
func (a *API) enableClusterRemote(rq *request, body setupBody) {
	fwd := map[string]json.RawMessage{"action": json.RawMessage(`"enable_cluster"`)}
	for _, k := range []string{"username", "password", "password_hash", "bind_address", "port", "node_count"} {
		if v, ok := body[k]; ok {
			fwd[k] = v
		}
	}
	payload, _ := json.Marshal(fwd)
	host, _ := body.str("remote_node")
	url := "http://" + net.JoinHostPort(host, body.port("5984")) + "/_cluster_setup"
	ctx, cancel := context.WithTimeout(rq.ctx, setupRemoteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		a.log.WarnContext(rq.ctx, "enable_cluster on remote node", "url", url, "err", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	if user, ok := body.str("remote_current_user"); ok {
		pass, _ := body.str("remote_current_password")
		req.SetBasicAuth(user, pass)
	}
	resp, err := (&http.Client{Transport: nodeTransport}).Do(req)
	if err != nil {
		a.log.WarnContext(rq.ctx, "enable_cluster on remote node", "url", url, "err", err)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		a.log.WarnContext(rq.ctx, "enable_cluster on remote node", "url", url, "status", resp.StatusCode)
	}
}

// finishCluster is setup:finish_cluster/1: wait for every member to be
// reachable, then create the ensure_dbs_exist dbs unless they all exist.
func (a *API) finishCluster(rq *request, body setupBody) error {
	dbs, err := body.dbs()
	if err != nil {
		return err
	}
	if err := a.waitConnected(rq.ctx); err != nil {
		return err
	}
	a.syncClusterConfig(rq)
	return a.ensureDBs(rq.ctx, dbs, true)
}

// syncClusterConfig is setup's sync_admins and sync_auth_secret: every
// member gets this node's [admins] hashes and [chttpd_auth] secret (made
// now if there is none), so the same admins log in everywhere and a
// session cookie — keyed by the secret and the user's salt — from one node
// is valid on all of them. It goes through each member's _config API with
// the caller's credentials; failures are logged, as in CouchDB.
func (a *API) syncClusterConfig(rq *request) {
	st := a.conf().ConfigStore
	if st == nil || a.conf().Cluster == nil {
		return
	}
	secret, ok := st.Get("chttpd_auth", "secret")
	if !ok || secret == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			a.log.WarnContext(rq.ctx, "make [chttpd_auth] secret", "err", err)
			return
		}
		secret = hex.EncodeToString(b[:])
		if _, err := st.Set(rq.ctx, "chttpd_auth", "secret", secret, true); err != nil {
			a.log.WarnContext(rq.ctx, "store [chttpd_auth] secret", "err", err)
			return
		}
	}
	settings := []config.Setting{{Section: "chttpd_auth", Key: "secret", Value: secret}}
	for name, hash := range st.Section("admins") {
		settings = append(settings, config.Setting{Section: "admins", Key: name, Value: hash})
	}
	_, members, err := a.membership(rq.ctx)
	if err != nil {
		a.log.WarnContext(rq.ctx, "sync cluster config", "err", err)
		return
	}
	for _, node := range members {
		if node == a.conf().NodeName {
			continue
		}
		addr, _, alive := a.conf().Cluster.NodeHTTPAddr(node)
		if !alive || addr == "" {
			a.log.WarnContext(rq.ctx, "sync cluster config: node unreachable", "node", node)
			continue
		}
		for _, set := range settings {
			body, _ := json.Marshal(set.Value)
			if err := a.putRemoteConfig(rq, addr, set.Section, set.Key, body); err != nil {
				// The error names the section and key, never the value.
				a.log.WarnContext(rq.ctx, "sync cluster config", "node", node, "err", err)
			}
		}
	}
}

// putRemoteConfig sets one key of another node's configuration through its
// node-local _config API, authenticated as the current request is.
func (a *API) putRemoteConfig(rq *request, addr, section, key string, value []byte) error {
	ctx, cancel := context.WithTimeout(rq.ctx, setupRemoteTimeout)
	defer cancel()
	url := "http://" + addr + "/_node/_local/_config/" + section + "/" + couchURLEncode(key)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader(value))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if h := rq.r.Header.Get("Authorization"); h != "" {
		req.Header.Set("Authorization", h)
	}
	resp, err := (&http.Client{Transport: nodeTransport}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT %s: HTTP %d", url, resp.StatusCode)
	}
	return nil
}

// enableSingleNode is setup:enable_single_node/1: create the dbs (it never
// reports "already finished").
func (a *API) enableSingleNode(rq *request, body setupBody) error {
	dbs, err := body.dbs()
	if err != nil {
		return err
	}
	return a.ensureDBs(rq.ctx, dbs, false)
}

// ensureDBs is setup:finish_cluster_int/2: when all dbs exist, an error if
// failIfDone; otherwise create each (one that exists or has a bad name is
// skipped, as fabric:create_db's result is ignored).
func (a *API) ensureDBs(ctx context.Context, dbs []string, failIfDone bool) error {
	exist, err := a.dbsExist(ctx, dbs)
	if err != nil {
		return err
	}
	if exist {
		if failIfDone {
			return badRequest(reasonAlreadyFinished)
		}
		return nil
	}
	for _, db := range dbs {
		if validateDBName(db) != nil {
			continue
		}
		err := a.b.CreateDB(ctx, db, fabric.CreateDBOptions{})
		var ce *couch.Error
		if err != nil && !errors.Is(err, couch.ErrDBExists) && !(errors.As(err, &ce) && ce.Code == couch.CodeFileExists) {
			return err
		}
		if err == nil {
			if err := a.afterCreateDB(ctx, db); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitConnected is setup:wait_connected/0: every cluster member reachable.
func (a *API) waitConnected(ctx context.Context) error {
	if a.conf().Cluster == nil {
		return nil
	}
	deadline := time.Now().Add(setupWaitTimeout)
	for {
		all, members, err := a.conf().Cluster.Membership(ctx)
		if err != nil {
			return err
		}
		if allConnected(all, members) {
			return nil
		}
		if time.Now().After(deadline) {
			return couch.Errorf("setup_error", "%s", reasonWaitTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func allConnected(all, members []string) bool {
	up := make(map[string]bool, len(all))
	for _, n := range all {
		up[n] = true
	}
	for _, n := range members {
		if !up[n] {
			return false
		}
	}
	return true
}

// addNode is setup:add_node/1 the Divan way: instead of handing the node
// an Erlang cookie, ask it who it is (GET /_node/_local/_divan with the
// given admin credentials) and join it. The name field is not needed (the
// node reports its own name). CouchDB first requires the cluster to be
// enabled; Divan has no such switch, so only a missing ClusterView gives
// "Cluster is not enabled.".
func (a *API) addNode(rq *request, body setupBody) error {
	if a.conf().Cluster == nil {
		return badRequest(reasonNotEnabled)
	}
	host, ok := body.str("host")
	if !ok || host == "" {
		return badRequest(reasonBadHostPort)
	}
	user, _ := body.str("username")
	pass, _ := body.str("password")
	info, err := fetchNodeInfo(rq.ctx, net.JoinHostPort(host, body.port("5984")), user, pass)
	if err != nil {
		return err
	}
	if err := a.conf().Cluster.Join(rq.ctx, info); err != nil {
		var ce *couch.Error
		if errors.As(err, &ce) {
			return err
		}
		return badRequest("Add node failed. " + err.Error())
	}
	return nil
}

// fetchNodeInfo asks the node at addr for its NodeInfo.
func fetchNodeInfo(ctx context.Context, addr, user, pass string) (NodeInfo, error) {
	var info NodeInfo
	ctx, cancel := context.WithTimeout(ctx, setupRemoteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/_node/_local/_divan", nil)
	if err != nil {
		return info, badRequest(reasonBadHostPort)
	}
	req.Header.Set("Accept", "application/json")
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := (&http.Client{Transport: nodeTransport}).Do(req)
	if err != nil {
		return info, badRequest(reasonBadHostPort)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return info, badRequest(reasonBadAdminCreds)
	default:
		return info, badRequest(reasonBadHostPort)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || json.Unmarshal(data, &info) != nil || info.Name == "" {
		return NodeInfo{}, badRequest(reasonBadHostPort)
	}
	return info, nil
}
