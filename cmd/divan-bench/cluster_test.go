package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/divandb/divan/internal/testnode"
)

func TestPickTarget(t *testing.T) {
	// One worker rotates over the nodes.
	var got []int
	for req := range 6 {
		got = append(got, pickTarget(3, 0, req))
	}
	if !slices.Equal(got, []int{0, 1, 2, 0, 1, 2}) {
		t.Errorf("worker 0: %v", got)
	}
	// Workers start at their own offsets: 32 workers' first requests
	// spread evenly, and so does every later round.
	for req := range 3 {
		counts := make([]int, 3)
		for w := range 32 {
			counts[pickTarget(3, w, req)]++
		}
		if slices.Max(counts)-slices.Min(counts) > 1 {
			t.Errorf("round %d: %v", req, counts)
		}
	}
	for _, n := range []int{0, 1} {
		if i := pickTarget(n, 5, 7); i != 0 {
			t.Errorf("pickTarget(%d, …) = %d", n, i)
		}
	}
}

func TestTargetsAndRoutes(t *testing.T) {
	got, err := parseTargets(" all,one,all")
	if err != nil || !slices.Equal(got, []string{targetAll, targetOne}) {
		t.Fatalf("%v, %v", got, err)
	}
	for _, bad := range []string{"", "one,", "two"} {
		if _, err := parseTargets(bad); err == nil {
			t.Errorf("parseTargets(%q) accepted", bad)
		}
	}
	clients := []*client{{base: "a"}, {base: "b"}, {base: "c"}}
	if r := route(targetOne, clients); len(r) != 1 || r[0].base != "a" {
		t.Errorf("one: %v", r)
	}
	if r := route(targetAll, clients); len(r) != 3 {
		t.Errorf("all: %v", r)
	}
	if via(targetOne, 3) != "node1" || via(targetAll, 3) != "all3" {
		t.Errorf("via: %s %s", via(targetOne, 3), via(targetAll, 3))
	}
}

func TestStatusAccounting(t *testing.T) {
	var r result
	if r.statusSummary() != "-" {
		t.Errorf("empty: %q", r.statusSummary())
	}
	r.addStatuses(map[int]int64{202: 1, 201: 3})
	r.addStatuses(nil)
	r.addStatuses(map[int]int64{201: 2})
	if s := r.statusSummary(); s != "201:5 202:1" {
		t.Errorf("summary %q", s)
	}
	r.Workload, r.Down, r.Interrupted = wlPut, "bench3", true
	if l := r.label(); l != "put (bench3 down) (cut short)" {
		t.Errorf("label %q", l)
	}
}

func TestMembershipHas(t *testing.T) {
	names := []string{nodeName(1), nodeName(2), nodeName(3)}
	m := membership{All: []string{nodeName(3), nodeName(1), nodeName(2)}, Cluster: names}
	if !m.has(names) {
		t.Error("same nodes in another order not accepted")
	}
	m.All = names[:2]
	if m.has(names) {
		t.Error("a node missing from all_nodes accepted")
	}
}

func TestParseFlagsCluster(t *testing.T) {
	o, err := parseFlags([]string{"-divan", "bin/divan", "-cluster", "3"}, io.Discard)
	if err != nil || !slices.Equal(o.workloads, []string{wlPut, wlBulk, wlGet}) || !slices.Equal(o.targets, []string{targetOne, targetAll}) ||
		o.shardN != 3 || o.shardQ != 2 || o.writeW != 2 || !o.nodeDown {
		t.Fatalf("%+v, %v", o, err)
	}
	o, err = parseFlags([]string{"-divan", "bin/divan", "-cluster", "3", "-workloads", "alldocs,put", "-targets", "all", "-w", "3", "-node-down=false"}, io.Discard)
	if err != nil || !slices.Equal(o.workloads, []string{wlPut, wlAllDocs}) || !slices.Equal(o.targets, []string{targetAll}) || o.writeW != 3 || o.nodeDown {
		t.Fatalf("%+v, %v", o, err)
	}
	for _, args := range [][]string{
		{"-url", "http://x", "-cluster", "3"},
		{"-divan", "d", "-cluster", "1"},
		{"-divan", "d", "-cluster", "10"},
		{"-divan", "d", "-cluster", "3", "-n", "4"},
		{"-divan", "d", "-cluster", "3", "-w", "4"},
		{"-divan", "d", "-cluster", "3", "-q", "0"},
		{"-divan", "d", "-cluster", "3", "-workloads", "changes"},
		{"-divan", "d", "-cluster", "3", "-targets", "some"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}

// TestRoutedPutsCountStatuses spreads puts over two servers, one answering
// 201 and one 202 (not an error), and checks both are used and counted.
func TestRoutedPutsCountStatuses(t *testing.T) {
	var hits [2]atomic.Int64
	var clients []*client
	for i, status := range []int{http.StatusCreated, http.StatusAccepted} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPut || r.URL.Query().Get("w") != "2" {
				http.Error(w, "want PUT ?w=2", http.StatusBadRequest)
				return
			}
			hits[i].Add(1)
			w.WriteHeader(status)
			io.WriteString(w, `{"ok":true}`)
		}))
		t.Cleanup(srv.Close)
		cl, err := newClient(srv.URL, 4, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, cl)
	}
	cfg := benchConfigOf(testOptions(""))
	cfg.writeQuery, cfg.countStatus = "?w=2", true
	b, err := newBench(clients[0], slog.New(slog.DiscardHandler), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.route = clients
	r := b.measure(context.Background(), wlPut, 3, b.op(wlPut, 3))
	if r.Errors != 0 || r.Requests == 0 || hits[0].Load() == 0 || hits[1].Load() == 0 {
		t.Fatalf("%+v, hits %d/%d", r, hits[0].Load(), hits[1].Load())
	}
	if r.Statuses["201"] != hits[0].Load() || r.Statuses["202"] != hits[1].Load() || r.Statuses["201"]+r.Statuses["202"] != r.Requests {
		t.Errorf("statuses %v, hits %d/%d, requests %d", r.Statuses, hits[0].Load(), hits[1].Load(), r.Requests)
	}
}

// TestClusterModeAgainstDivan runs -cluster 3 against the real binary: it
// starts and joins three nodes, writes through node 1 and all three, then
// with node 3 down.
func TestClusterModeAgainstDivan(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	o := testOptions("")
	o.divan = testnode.Binary(t)
	o.cluster, o.shardN, o.shardQ, o.writeW = 3, 3, 2, 2
	o.workloads, o.targets, o.nodeDown = []string{wlPut, wlGet}, []string{targetOne, targetAll}, true
	o.conc, o.duration, o.docs = []int{1, 4}, 300*time.Millisecond, 500
	rep, err := benchmark(context.Background(), slog.New(slog.DiscardHandler), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 10 {
		t.Fatalf("%d results, want 10: %+v", len(rep.Results), rep.Results)
	}
	for i, r := range rep.Results {
		want := "201"
		if r.Workload == wlGet {
			want = "200"
		}
		if r.Errors != 0 || r.Requests == 0 || r.Statuses[want] == 0 || r.NodeCores < 0 {
			t.Errorf("result %d: %+v", i, r)
		}
		if (i >= 8) != (r.Down == "bench3") || (r.Down != "" && r.Via != "node1") {
			t.Errorf("result %d: via %q down %q", i, r.Via, r.Down)
		}
	}
	ci := rep.Cluster
	if ci == nil || len(ci.Members) != 3 {
		t.Fatalf("cluster %+v", ci)
	}
	var sum int64
	for _, m := range ci.Members {
		if m.PeakRSS <= 0 || m.PeakRSS > ci.PeakRSSMax {
			t.Errorf("member %+v, max %d", m, ci.PeakRSSMax)
		}
		sum += m.PeakRSS
	}
	if sum != ci.PeakRSSSum {
		t.Errorf("sum %d, members' %d", ci.PeakRSSSum, sum)
	}
	var out strings.Builder
	if err := rep.writeTable(&out); err != nil || !strings.Contains(out.String(), "put (bench3 down)") || !strings.Contains(out.String(), "sum ") {
		t.Errorf("table:\n%s", out.String())
	}
}
