package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/divandb/divan/internal/testnode"
)

// TestRestartKeepsData stops a node gracefully and restarts it on the same
// data directory and port: everything written before is still there.
func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := n.Client()

	uuid := str(t, c.Get(t, "/"), "uuid")
	createDBQuery(t, c, "keep", "?q=3")
	createDB(t, c, "gone")
	c.Expect(t, http.StatusOK, http.MethodDelete, "/gone", nil)

	revs := map[string]string{}
	for i := 0; i < 50; i++ {
		id := fmt.Sprintf("doc-%02d", i)
		revs[id] = putDoc(t, c, "keep", id, map[string]any{"i": i})
	}
	revs["doc-07"] = putDoc(t, c, "keep", "doc-07", map[string]any{"_rev": revs["doc-07"], "i": "updated"})
	delRev := deleteDoc(t, c, "keep", "doc-08", revs["doc-08"])
	delete(revs, "doc-08")
	exact := `{"_id":"exact","_rev":"%s","z":1,"a":{"y":1.0e10,"b":"\u00e9\ud83d\ude00"},"m":[1.50,-0]}`
	_, body := c.Expect(t, http.StatusCreated, http.MethodPut, "/keep/exact", `{"z":1,"a":{"y":1.0e10,"b":"\u00e9\ud83d\ude00"},"m":[1.50,-0]}`)
	exactRev := okRev(t, "PUT /keep/exact", body, "exact")
	revs["exact"] = exactRev
	revs["_design/d"] = putDoc(t, c, "keep", "_design/d", map[string]any{"language": "javascript"})
	putDoc(t, c, "keep", "_local/l", map[string]any{"x": 1})
	putDoc(t, c, "keep", "_local/l", map[string]any{"_rev": "0-1", "x": 2})
	base := putDoc(t, c, "keep", "conf", map[string]any{})
	loser, winner := "2-"+strings.Repeat("1", 32), "2-"+strings.Repeat("e", 32)
	bulkNoNewEdits(t, c, "keep", branchDoc("conf", base, loser, false), branchDoc("conf", base, winner, false))
	revs["conf"] = winner
	c.Expect(t, http.StatusOK, http.MethodPut, "/keep/_revs_limit", `42`)
	sec := `{"admins":{"names":["a"],"roles":[]},"members":{"names":["m"],"roles":[]}}`
	c.Expect(t, http.StatusOK, http.MethodPut, "/keep/_security", sec)
	infoBefore := c.Get(t, "/keep")
	oldPort := n.Port()

	n.Stop()
	if _, err := net.DialTimeout("tcp", n.Addr(), time.Second); err == nil {
		t.Fatalf("port %s still accepts connections after the node stopped", n.Addr())
	}
	n.Restart()
	if n.Port() != oldPort {
		t.Logf("restarted on port %d instead of %d (port was taken)", n.Port(), oldPort)
	}

	check := func(t *testing.T) {
		if got := str(t, c.Get(t, "/"), "uuid"); got != uuid {
			t.Errorf("server uuid changed across restart: %s -> %s", uuid, got)
		}
		var dbs []string
		c.ExpectJSON(t, http.StatusOK, http.MethodGet, "/_all_dbs", nil, &dbs)
		if !equalStrings(userDBs(dbs), []string{"keep"}) {
			t.Errorf("_all_dbs after restart = %q, want [keep] (plus system dbs)", dbs)
		}
		info := c.Get(t, "/keep")
		for _, k := range []string{"doc_count", "doc_del_count", "instance_start_time", "update_seq"} {
			if fmt.Sprint(info[k]) != fmt.Sprint(infoBefore[k]) {
				t.Errorf("db info %s: %v before restart, %v after", k, infoBefore[k], info[k])
			}
		}
		checkDBInfo(t, info, "keep", 3, 1)
		m := c.Get(t, "/keep/_all_docs")
		rs := rows(t, m)
		if len(rs) != len(revs) {
			t.Errorf("_all_docs has %d rows after restart, want %d", len(rs), len(revs))
		}
		for _, r := range rs {
			id := r["id"].(string)
			if got := r["value"].(map[string]any)["rev"]; got != revs[id] {
				t.Errorf("after restart %s is at %v, want %s", id, got, revs[id])
			}
		}
		expectError(t, c, http.StatusNotFound, "not_found", "deleted", http.MethodGet, "/keep/doc-08", nil)
		jsonEq(t, "deleted doc by rev", c.Get(t, "/keep/doc-08?rev="+delRev), `{"_id":"doc-08","_rev":"`+delRev+`","_deleted":true}`)
		_, got := c.Expect(t, http.StatusOK, http.MethodGet, "/keep/exact", nil)
		if g, w := strings.TrimSuffix(string(got), "\n"), fmt.Sprintf(exact, exactRev); g != w {
			t.Errorf("exact JSON after restart:\n got: %s\nwant: %s", g, w)
		}
		jsonEq(t, "_local/l after restart", c.Get(t, "/keep/_local/l"), `{"_id":"_local/l","_rev":"0-2","x":2}`)
		jsonEq(t, "conflicts after restart", c.Get(t, "/keep/conf?conflicts=true")["_conflicts"], `["`+loser+`"]`)
		_, got = c.Expect(t, http.StatusOK, http.MethodGet, "/keep/_revs_limit", nil)
		jsonEq(t, "_revs_limit after restart", got, `42`)
		_, got = c.Expect(t, http.StatusOK, http.MethodGet, "/keep/_security", nil)
		jsonEq(t, "_security after restart", got, sec)
		expectError(t, c, http.StatusNotFound, "not_found", "Database does not exist.", http.MethodGet, "/gone", nil)
		// The node keeps working: updates extend the restored revisions.
		rev := putDoc(t, c, "keep", "doc-07", map[string]any{"_rev": revs["doc-07"], "i": "after restart"})
		revs["doc-07"] = rev
	}
	t.Run("AfterGracefulRestart", check)

	// And once more after kill -9: everything was acknowledged, so nothing
	// may be lost.
	infoBefore = c.Get(t, "/keep") // update_seq moved with the write in check
	n.Kill()
	n.Restart()
	t.Run("AfterKill", check)
}

func userDBs(all []string) []string {
	var out []string
	for _, db := range all {
		if !strings.HasPrefix(db, "_") {
			out = append(out, db)
		}
	}
	return out
}

// TestGracefulShutdown sends SIGTERM while requests are in flight: they
// complete, the listener closes, the process exits 0, and the data is there
// after a restart.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := n.Client()
	createDB(t, c, "grace")

	// A transport that waits for "100 Continue" before sending the body, so
	// that we know when the server is reading a request.
	tr := &http.Transport{ExpectContinueTimeout: 30 * time.Second, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	slow := &http.Client{Transport: tr}

	type result struct {
		name   string
		status int
		body   string
		err    error
	}
	const inflight = 4
	results := make(chan result, inflight)
	writers := make([]*io.PipeWriter, inflight)
	var wg sync.WaitGroup
	for i := 0; i < inflight; i++ {
		pr, pw := io.Pipe()
		writers[i] = pw
		id := fmt.Sprintf("slow-%d", i)
		method, path := http.MethodPut, "/grace/"+id
		if i%2 == 1 {
			method, path = http.MethodPost, "/grace/_bulk_docs"
		}
		req, err := c.NewRequest(context.Background(), method, path, pr, "Expect", "100-continue")
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := slow.Do(req)
			if err != nil {
				results <- result{name: id, err: err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			results <- result{name: id, status: resp.StatusCode, body: string(b), err: err}
		}()
	}
	// The first Write returns once the server asked for the body, i.e. its
	// handler is running.
	firstHalf := func(i int) string {
		if i%2 == 1 {
			return fmt.Sprintf(`{"docs":[{"_id":"slow-%d",`, i)
		}
		return `{"half":`
	}
	secondHalf := func(i int) string {
		if i%2 == 1 {
			return `"v":2}]}`
		}
		return `1}`
	}
	for i, pw := range writers {
		done := make(chan error, 1)
		go func() { _, err := io.WriteString(pw, firstHalf(i)); done <- err }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("request %d: writing the first half of the body: %v", i, err)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("request %d: the server never asked for the body (no 100 Continue)", i)
		}
	}

	n.Signal(syscall.SIGTERM)
	// Shutdown has begun once the listener refuses new connections.
	testnode.Eventually(t, 15*time.Second, 10*time.Millisecond, func() (bool, string) {
		conn, err := net.DialTimeout("tcp", n.Addr(), 200*time.Millisecond)
		if err != nil {
			return true, ""
		}
		conn.Close()
		return false, "the listener still accepts connections after SIGTERM"
	})
	if !n.Running() {
		t.Fatalf("the process exited while requests were still in flight:\n%s", n.Output())
	}
	for i, pw := range writers {
		if _, err := io.WriteString(pw, secondHalf(i)); err != nil {
			t.Errorf("request %d: writing the rest of the body after SIGTERM: %v", i, err)
		}
		pw.Close()
	}
	wg.Wait()
	close(results)
	for r := range results {
		switch {
		case r.err != nil:
			t.Errorf("in-flight request %s failed during graceful shutdown: %v", r.name, r.err)
		case r.status != http.StatusCreated:
			t.Errorf("in-flight request %s: status %d, want 201; body %s", r.name, r.status, r.body)
		}
	}

	err, exited := n.Wait(testnode.StopTimeout)
	if !exited {
		t.Fatalf("process still running %v after SIGTERM", testnode.StopTimeout)
	}
	if err != nil {
		t.Errorf("process exited with %v after SIGTERM, want status 0", err)
	}

	n.Restart()
	for i := 0; i < inflight; i++ {
		doc := c.Get(t, fmt.Sprintf("/grace/slow-%d", i))
		if revPos(t, doc["_rev"].(string)) != 1 {
			t.Errorf("slow-%d after restart: %v", i, doc)
		}
	}
}
