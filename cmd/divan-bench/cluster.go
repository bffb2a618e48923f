package main

// -cluster mode: start several divan nodes, join them into one cluster the
// way CouchDB's /_cluster_setup does, and measure the write and read
// workloads through one node and spread over all of them, then with one
// node down.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Values of -targets.
const (
	targetOne = "one" // every request to node 1
	targetAll = "all" // requests round-robin over all nodes
)

// clusterWorkloads are the workloads -cluster can route to any node; the
// others read or write through node 1 only and are not offered.
func clusterWorkloads() []string { return []string{wlPut, wlBulk, wlGet, wlAllDocs} }

// clusterDefaultWorkloads run when -cluster is given without -workloads.
func clusterDefaultWorkloads() []string { return []string{wlPut, wlBulk, wlGet} }

// membershipTimeout bounds the wait for a joined cluster's /_membership to
// list every node, and for a stopped node to drop out of it.
const membershipTimeout = 60 * time.Second

// parseTargets validates a -targets list, keeping its order and dropping
// repeats.
func parseTargets(s string) ([]string, error) {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f != targetOne && f != targetAll {
			return nil, fmt.Errorf("-targets: unknown target %q (have %s,%s)", f, targetOne, targetAll)
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// checkCluster validates the -cluster options.
func (o *options) checkCluster() error {
	if o.cluster == 0 {
		return nil
	}
	switch {
	case o.cluster < 2 || o.cluster > 9:
		return errors.New("-cluster must be between 2 and 9 nodes")
	case o.divan == "":
		return errors.New("-cluster needs -divan: it starts the nodes itself")
	case o.shardN < 1 || o.shardN > o.cluster:
		return fmt.Errorf("-n must be between 1 and the %d nodes", o.cluster)
	case o.shardQ < 1:
		return errors.New("-q must be at least 1")
	case o.writeW < 1 || o.writeW > o.shardN:
		return fmt.Errorf("-w must be between 1 and -n (%d)", o.shardN)
	}
	for _, w := range o.workloads {
		if !slices.Contains(clusterWorkloads(), w) {
			return fmt.Errorf("-cluster runs only the workloads %s, not %s", strings.Join(clusterWorkloads(), ","), w)
		}
	}
	return nil
}

// via is the label of a target in the report: "node1" or "allN".
func via(target string, nodes int) string {
	if target == targetAll {
		return "all" + strconv.Itoa(nodes)
	}
	return "node1"
}

// route returns the clients requests go to for target: node 1's alone,
// or all of them.
func route(target string, clients []*client) []*client {
	if target == targetAll {
		return clients
	}
	return clients[:1]
}

// cluster is the set of nodes a -cluster run started.
type cluster struct {
	nodes []*node  // node i+1 is nodes[i]
	names []string // their node names, in the same order
}

// nodeName is the name of node i (1-based).
func nodeName(i int) string { return fmt.Sprintf("bench%d@127.0.0.1", i) }

// startCluster starts size nodes of bin, each on free loopback ports (HTTP
// port 0 makes the gossip and internal RPC ports ephemeral too) with its
// own data directory and node name. On failure it stops the nodes it
// started.
func startCluster(ctx context.Context, log *slog.Logger, bin string, size int, extraArgs []string) (*cluster, error) {
	c := &cluster{}
	for i := 1; i <= size; i++ {
		name := nodeName(i)
		n, err := startNode(ctx, log.With("node", name), bin, append([]string{"-node-name", name}, extraArgs...))
		if err != nil {
			c.stop(true)
			return nil, fmt.Errorf("start node %s: %w", name, err)
		}
		c.nodes = append(c.nodes, n)
		c.names = append(c.names, name)
	}
	return c, nil
}

// pids returns the nodes' process ids.
func (c *cluster) pids() []int {
	out := make([]int, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.pid
	}
	return out
}

// stop stops every node (see node.stop).
func (c *cluster) stop(remove bool) {
	for _, n := range c.nodes {
		if err := n.stop(remove); err != nil {
			n.log.Warn("node did not exit cleanly", "err", err, "last_output", n.lastOutput())
		}
	}
}

// connect returns a client per node, once each is up; the first node's
// GET / answer goes into rep.
func (c *cluster) connect(ctx context.Context, log *slog.Logger, maxConc int, timeout time.Duration, rep *report) ([]*client, error) {
	var clients []*client
	for i, n := range c.nodes {
		r := rep
		if i > 0 {
			r = nil
		}
		cl, err := connect(ctx, log, nodeURL(n), maxConc, timeout, r)
		if err != nil {
			closeAll(clients)
			return nil, fmt.Errorf("node %s: %w", c.names[i], err)
		}
		clients = append(clients, cl)
	}
	return clients, nil
}

// closeAll releases the clients' idle connections.
func closeAll(clients []*client) {
	for _, cl := range clients {
		cl.close()
	}
}

// join runs CouchDB's cluster setup sequence through node 1 (first): an
// add_node for every other node, by its HTTP address and admin
// credentials, then finish_cluster.
func (c *cluster) join(ctx context.Context, first *client) error {
	for i, n := range c.nodes[1:] {
		host, portStr, err := net.SplitHostPort(n.addr)
		if err != nil {
			return fmt.Errorf("node address %q: %w", n.addr, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return fmt.Errorf("node address %q: %w", n.addr, err)
		}
		body, err := json.Marshal(map[string]any{
			"action": "add_node", "host": host, "port": port,
			"username": benchUser, "password": benchPassword,
		})
		if err != nil {
			return err
		}
		if err := first.call(ctx, http.MethodPost, "/_cluster_setup", body, nil); err != nil {
			return fmt.Errorf("add node %s: %w", c.names[i+1], err)
		}
	}
	if err := first.call(ctx, http.MethodPost, "/_cluster_setup", []byte(`{"action":"finish_cluster"}`), nil); err != nil {
		return fmt.Errorf("finish cluster: %w", err)
	}
	return nil
}

// membership is the answer of GET /_membership.
type membership struct {
	All     []string `json:"all_nodes"`     // the nodes reachable from this one
	Cluster []string `json:"cluster_nodes"` // the configured members
}

// has reports whether m lists exactly names (in any order) as both
// reachable and members.
func (m membership) has(names []string) bool {
	return sameSet(m.All, names) && sameSet(m.Cluster, names)
}

// sameSet reports whether a and b hold the same strings, ignoring order.
func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// waitMembership polls each client's /_membership until ok accepts it, or
// fails after timeout with the last answer.
func waitMembership(ctx context.Context, clients []*client, timeout time.Duration, ok func(membership) bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for i, cl := range clients {
		var last string
		for {
			var m membership
			err := cl.call(ctx, http.MethodGet, "/_membership", nil, &m)
			if err == nil && ok(m) {
				break
			}
			last = fmt.Sprintf("%+v (err %v)", m, err)
			select {
			case <-ctx.Done():
				return fmt.Errorf("node %d's /_membership not as expected within %s; last: %s", i+1, timeout, last)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// clusterBenchmark is benchmark for -cluster: it starts and joins the
// nodes, runs each workload through each -targets choice at each -c, then
// the node-down phase, and stops the nodes.
func clusterBenchmark(ctx context.Context, log *slog.Logger, o options) (rep *report, err error) {
	start := time.Now()
	cl, err := startCluster(ctx, log, o.divan, o.cluster, strings.Fields(o.divanArgs))
	if err != nil {
		return nil, err
	}
	sctx, cancelSampling := context.WithCancel(ctx)
	defer cancelSampling()
	rss := newRSSGroup(sctx, 200*time.Millisecond, cl.pids()...)
	rep = newReport(o, nodeURL(cl.nodes[0]))
	rep.Cluster = &clusterInfo{Nodes: o.cluster, N: o.shardN, Q: o.shardQ, W: o.writeW}
	for i, n := range cl.nodes {
		rep.Cluster.Members = append(rep.Cluster.Members, nodePeak{Name: cl.names[i], PID: n.pid})
	}
	defer func() {
		rep.Cluster.setPeaks(rss) // the last readings, just before SIGTERM
		cl.stop(!o.keep)
	}()

	clients, err := cl.connect(ctx, log, slices.Max(o.conc), o.timeout, rep)
	if err != nil {
		return rep, err
	}
	defer closeAll(clients)
	if err := cl.join(ctx, clients[0]); err != nil {
		return rep, err
	}
	if err := waitMembership(ctx, clients, membershipTimeout, func(m membership) bool { return m.has(cl.names) }); err != nil {
		return rep, err
	}
	log.Info("cluster joined", "nodes", cl.names, "took", time.Since(start).Round(time.Millisecond))

	runCtx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	watchNodes(runCtx, cancelRun, cl.nodes...)

	cfg := benchConfigOf(o)
	cfg.createQuery = fmt.Sprintf("?n=%d&q=%d", o.shardN, o.shardQ)
	cfg.writeQuery = fmt.Sprintf("?w=%d", o.writeW)
	cfg.countStatus = true
	b, err := newBench(clients[0], log, cfg)
	if err != nil {
		return rep, err
	}
	r := &runner{log: log, b: b, rep: rep, pids: cl.pids(), rss: rss, duration: o.duration, settle: o.settle}
	for _, name := range o.workloads {
		if err := b.prepare(runCtx, name); err != nil {
			return rep, stopped(runCtx, fmt.Errorf("%s: %w", name, err))
		}
		for _, target := range o.targets {
			b.route = route(target, clients)
			for _, c := range o.conc {
				if err := r.runOne(runCtx, name, c, result{Via: via(target, len(clients))}); err != nil {
					return rep, err
				}
			}
		}
	}
	if o.nodeDown {
		return rep, r.nodeDown(runCtx, cl, clients, o)
	}
	return rep, nil
}

// nodeDown stops the last node and runs put through node 1 at each -c,
// with the stopped node's copies unavailable: writes still reach w copies
// (201) when w ≤ n-1, otherwise they answer 202. The put database is
// created first, while every node is up.
func (r *runner) nodeDown(ctx context.Context, cl *cluster, clients []*client, o options) error {
	b := r.b
	if err := b.ensureDB(ctx, b.db(wlPut)); err != nil {
		return stopped(ctx, fmt.Errorf("node down: %w", err))
	}
	last := len(cl.nodes) - 1
	victim, name := cl.nodes[last], cl.names[last]
	r.rss.hwmSum() // the victim's final reading
	if r.rss != nil && r.rss[last] != nil {
		r.rss[last].freeze() // its pid may be reused once it has exited
	}
	stopStart := time.Now()
	if err := victim.stop(!o.keep); err != nil {
		r.log.Warn("node did not exit cleanly", "node", name, "err", err)
	}
	r.pids = cl.pids()[:last]
	left := cl.names[:last]
	err := waitMembership(ctx, clients[:1], membershipTimeout, func(m membership) bool { return sameSet(m.All, left) })
	if err != nil {
		return stopped(ctx, fmt.Errorf("node down: %w", err))
	}
	r.log.Info("node stopped", "node", name, "gone_from_all_nodes_after", time.Since(stopStart).Round(time.Millisecond))

	b.route = clients[:1]
	short, _, _ := strings.Cut(name, "@")
	for _, c := range o.conc {
		if err := r.runOne(ctx, wlPut, c, result{Via: via(targetOne, len(clients)), Down: short}); err != nil {
			return err
		}
	}
	return nil
}
