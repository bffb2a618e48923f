// Command divan-bench is an HTTP load generator for Divan. It speaks only
// CouchDB's HTTP API, so the same figures can be taken from Apache CouchDB.
//
// It measures, at each concurrency given with -c (default 1 and 32), for
// -duration each (default 5s):
//
//	put      PUT /db/{id} of new ~1 KB documents             (docs/s)
//	bulk     POST /db/_bulk_docs, -bulk-batch docs a request (docs/s)
//	get      GET /db/{id} of random ids from the data set    (docs/s)
//	alldocs  GET /db/_all_docs?include_docs=true, paged with
//	         limit=-alldocs-limit and startkey              (rows/s)
//	changes  GET /db/_changes?since=0, the normal feed of a database
//	         with -changes-docs changes, whole or in pages of
//	         -changes-limit rows following last_seq         (rows/s)
//	continuous  write-to-delivery latency: one continuous feed
//	         (feed=continuous&since=now) on an idle database,
//	         -continuous-writes single-doc PUTs one at a time,
//	         each timed from sending the PUT to reading its
//	         row; runs once, ignoring -duration and -c      (rows/s)
//	bulkget  POST /db/_bulk_get?revs=true, -bulkget-batch random
//	         id+rev pairs of the data set a request         (docs/s)
//	revsdiff POST /db/_revs_diff, -revsdiff-batch ids a request
//	         with one rev each, -revsdiff-missing of them
//	         made up (missing), the rest current (present)  (revs/s)
//
// with p50/p99 request latency, and the node's peak RSS (VmHWM) when its pid
// is known. The data set of get, alldocs, bulkget and revsdiff (-docs
// documents; also that of changes when -changes-docs is the same) is written
// with _bulk_docs first. Non-2xx responses count as errors; the first one of each
// run is printed. The exit status is 1 when any request failed.
//
// Against a running node (databases it creates are deleted afterwards):
//
//	divan-bench -url http://admin:secret@127.0.0.1:5984 [-pid N]
//
// Starting a node itself, on a free loopback port with a temporary data
// directory, which it stops with SIGTERM at the end:
//
//	divan-bench -divan bin/divan -duration 5s -json bench.json
//
// Starting a cluster (-cluster N, with -divan): N nodes named
// bench{i}@127.0.0.1 on free loopback ports, joined through node 1's
// /_cluster_setup (add_node for each other node, then finish_cluster);
// databases are created with ?n=-n&q=-q and writes sent with ?w=-w. Each
// workload (put, bulk, get by default; alldocs too) runs through node 1
// and, round-robin per request, through all nodes (-targets one,all); then
// (-node-down) the last node is stopped and put runs through node 1 again,
// counting 201 and 202 answers. -settle waits for idle nodes before each
// run:
//
//	divan-bench -divan bin/divan -cluster 3 -duration 5s -settle 15s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command-line flags.
type options struct {
	url          string
	pid          int
	divan        string
	divanArgs    string
	duration     time.Duration
	conc         []int
	workloads    []string
	docs         int
	docSize      int
	bulkBatch    int
	allDocsLimit int
	loadConc     int
	timeout      time.Duration
	jsonPath     string
	keep         bool

	changesDocs     int
	changesLimit    int
	contWrites      int
	contGap         time.Duration
	contHeartbeat   time.Duration
	contWait        time.Duration
	bulkGetBatch    int
	revsDiffBatch   int
	revsDiffMissing float64

	// -cluster mode (cluster.go).
	cluster  int      // nodes to start; 0: single-node mode
	shardN   int      // ?n= of the databases created
	shardQ   int      // ?q=
	writeW   int      // ?w= of the writes
	targets  []string // targetOne and/or targetAll
	nodeDown bool     // run the node-down phase

	settle time.Duration // longest wait for idle nodes before each workload; 0: none
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("divan-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "", "base URL of a running node, with credentials: http://user:pass@127.0.0.1:5984")
	fs.IntVar(&o.pid, "pid", 0, "with -url: the node's process id, to report its peak RSS")
	fs.StringVar(&o.divan, "divan", "", "path of a divan binary to start on a free loopback port (instead of -url)")
	fs.StringVar(&o.divanArgs, "divan-args", "", "extra space-separated flags for the node started by -divan")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "how long each workload runs at each concurrency")
	conc := fs.String("c", "1,32", "comma-separated concurrency levels")
	workloads := fs.String("workloads", strings.Join(workloadOrder(), ","),
		"comma-separated workloads to run:\n"+
			"put: PUT /db/{id} new docs (docs/s)\n"+
			"bulk: POST /db/_bulk_docs (docs/s)\n"+
			"get: GET /db/{id} random ids of the data set (docs/s)\n"+
			"alldocs: GET /db/_all_docs?include_docs=true pages (rows/s)\n"+
			"changes: GET /db/_changes?since=0 normal feed, read whole (rows/s)\n"+
			"continuous: PUT-to-row latency on a feed=continuous&since=now feed; runs once, c=1 (rows/s)\n"+
			"bulkget: POST /db/_bulk_get?revs=true of random id+rev pairs (docs/s)\n"+
			"revsdiff: POST /db/_revs_diff, present and missing revs (revs/s)\n")
	fs.IntVar(&o.docs, "docs", 100_000, "documents in the data set read by get, alldocs, bulkget and revsdiff")
	fs.IntVar(&o.docSize, "doc-size", 1024, "approximate size of each document's JSON, bytes")
	fs.IntVar(&o.bulkBatch, "bulk-batch", 1000, "documents per _bulk_docs request")
	fs.IntVar(&o.allDocsLimit, "alldocs-limit", 1000, "rows per _all_docs page")
	fs.IntVar(&o.loadConc, "load-c", 4, "concurrent _bulk_docs requests while loading the data set")
	fs.IntVar(&o.changesDocs, "changes-docs", 100_000, "changes: changes in the database read (the -docs data set when equal)")
	fs.IntVar(&o.changesLimit, "changes-limit", 0, "changes: rows per _changes page, following last_seq; 0: the whole feed in one request")
	fs.IntVar(&o.contWrites, "continuous-writes", 2000, "continuous: timed single-doc writes")
	fs.DurationVar(&o.contGap, "continuous-gap", 5*time.Millisecond, "continuous: pause after each write's row arrives")
	fs.DurationVar(&o.contHeartbeat, "continuous-heartbeat", 10*time.Second, "continuous: the feed's heartbeat parameter")
	fs.DurationVar(&o.contWait, "continuous-wait", 10*time.Second, "continuous: longest wait for one write's row (then an error)")
	fs.IntVar(&o.bulkGetBatch, "bulkget-batch", 100, "bulkget: documents per _bulk_get request")
	fs.IntVar(&o.revsDiffBatch, "revsdiff-batch", 1000, "revsdiff: ids (one rev each) per _revs_diff request, at most -docs")
	fs.Float64Var(&o.revsDiffMissing, "revsdiff-missing", 0.5, "revsdiff: fraction of the revs sent that the database does not have")
	fs.DurationVar(&o.timeout, "timeout", time.Minute, "per-request timeout")
	fs.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.BoolVar(&o.keep, "keep", false, "keep the benchmark databases (and, with -divan, the node's data dir and log)")
	fs.IntVar(&o.cluster, "cluster", 0, "with -divan: start this many nodes (2 to 9) joined into one cluster and run put, bulk, get (default; alldocs allowed) against it")
	fs.IntVar(&o.shardN, "n", 3, "-cluster: copies of each database range (?n= when creating the databases)")
	fs.IntVar(&o.shardQ, "q", 2, "-cluster: ranges of each database (?q= when creating the databases)")
	fs.IntVar(&o.writeW, "w", 2, "-cluster: ?w= of every PUT and _bulk_docs (201 once w copies have the write, 202 with fewer)")
	targets := fs.String("targets", targetOne+","+targetAll, "-cluster: where requests go, comma-separated:\n"+
		targetOne+": every request to node 1\n"+
		targetAll+": requests round-robin over all nodes, per request")
	fs.BoolVar(&o.nodeDown, "node-down", true, "-cluster: finally stop the last node and run put through node 1 at each -c, counting 201s and 202s")
	fs.DurationVar(&o.settle, "settle", 0, "before each run, wait up to this long until the nodes use under 0.1 cores together\n"+
		"(background work left by earlier writes); needs their pids; 0: don't wait")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	workloadsSet := false
	fs.Visit(func(f *flag.Flag) { workloadsSet = workloadsSet || f.Name == "workloads" })
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.conc, err = parseConcurrency(*conc); err != nil {
		return o, err
	}
	if o.cluster > 0 && !workloadsSet {
		*workloads = strings.Join(clusterDefaultWorkloads(), ",")
	}
	if o.workloads, err = parseWorkloads(*workloads); err != nil {
		return o, err
	}
	if o.targets, err = parseTargets(*targets); err != nil {
		return o, err
	}
	if err := o.checkCluster(); err != nil {
		return o, err
	}
	switch {
	case (o.url == "") == (o.divan == ""):
		return o, errors.New("give exactly one of -url and -divan")
	case o.divan != "" && o.pid != 0:
		return o, errors.New("-pid is only for -url; -divan knows its node's pid")
	case o.duration <= 0:
		return o, errors.New("-duration must be positive")
	case o.docs < 1 || o.bulkBatch < 1 || o.allDocsLimit < 1 || o.loadConc < 1:
		return o, errors.New("-docs, -bulk-batch, -alldocs-limit and -load-c must be at least 1")
	case o.docSize < 100 || o.docSize > 512<<10:
		return o, errors.New("-doc-size must be between 100 and 524288")
	case o.changesDocs < 1 || o.contWrites < 1 || o.bulkGetBatch < 1 || o.revsDiffBatch < 1:
		return o, errors.New("-changes-docs, -continuous-writes, -bulkget-batch and -revsdiff-batch must be at least 1")
	case o.changesLimit < 0 || o.contGap < 0 || o.contHeartbeat < time.Millisecond || o.contWait <= 0:
		return o, errors.New("-changes-limit and -continuous-gap must not be negative, -continuous-heartbeat at least 1ms, -continuous-wait positive")
	case o.revsDiffMissing < 0 || o.revsDiffMissing > 1:
		return o, errors.New("-revsdiff-missing must be between 0 and 1")
	case o.settle < 0:
		return o, errors.New("-settle must not be negative")
	}
	return o, nil
}

func parseConcurrency(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 10_000 {
			return nil, fmt.Errorf("-c: %q is not a concurrency between 1 and 10000", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseWorkloads validates the selection and returns it in running order.
func parseWorkloads(s string) ([]string, error) {
	var want []string
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(workloadOrder(), f) {
			return nil, fmt.Errorf("-workloads: unknown workload %q (have %s)", f, strings.Join(workloadOrder(), ","))
		}
		want = append(want, f)
	}
	var out []string
	for _, w := range workloadOrder() {
		if slices.Contains(want, w) {
			out = append(out, w)
		}
	}
	return out, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "divan-bench:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	rep, err := benchmark(ctx, log, opts)
	if rep != nil {
		if werr := rep.writeTable(stdout); werr != nil {
			log.Error("write table", "err", werr)
		}
		if opts.jsonPath != "" {
			if werr := rep.writeJSON(opts.jsonPath); werr != nil {
				log.Error("write JSON", "err", werr)
				return 1
			}
		}
	}
	if err != nil {
		log.Error("benchmark failed", "err", err)
		return 1
	}
	for _, r := range rep.Results {
		if r.Errors > 0 {
			return 1
		}
	}
	return 0
}

// benchmark sets up the target (starting a node for -divan, or a cluster
// for -cluster), runs the selected workloads and returns what it measured,
// including a partial report when it fails part way.
func benchmark(ctx context.Context, log *slog.Logger, o options) (rep *report, err error) {
	if o.cluster > 0 {
		return clusterBenchmark(ctx, log, o)
	}
	target, pid := o.url, o.pid
	var n *node
	if o.divan != "" {
		n, err = startNode(ctx, log, o.divan, strings.Fields(o.divanArgs))
		if err != nil {
			return nil, err
		}
		target = nodeURL(n)
		pid = n.pid
	}

	sctx, cancelSampling := context.WithCancel(ctx)
	defer cancelSampling()
	rss := newRSSGroup(sctx, 200*time.Millisecond, pid)
	rep = newReport(o, target)
	if n != nil {
		defer func() {
			rep.PeakRSS = rss.hwmSum() // the last reading, just before SIGTERM
			rep.PeakRSSSplit = rss[0].peakSplit()
			if serr := n.stop(!o.keep); serr != nil {
				log.Warn("node did not exit cleanly", "err", serr, "last_output", n.lastOutput())
			}
		}()
	} else if rss != nil {
		defer func() { rep.PeakRSS, rep.PeakRSSSplit = rss.hwmSum(), rss[0].peakSplit() }()
	}

	cl, err := connect(ctx, log, target, slices.Max(o.conc), o.timeout, rep)
	if err != nil {
		return rep, err
	}
	defer cl.close()

	// A node that dies under load ends the run at once rather than
	// producing pages of connection-refused errors.
	runCtx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	if n != nil {
		watchNodes(runCtx, cancelRun, n)
	}

	b, err := newBench(cl, log, benchConfigOf(o))
	if err != nil {
		return rep, err
	}
	if n == nil { // a node we started goes away with its data directory
		defer cleanupDBs(ctx, b)
	}

	r := &runner{log: log, b: b, rep: rep, pids: []int{pid}, rss: rss, duration: o.duration, contWrites: o.contWrites, settle: o.settle}
	for _, name := range o.workloads {
		if err := b.prepare(runCtx, name); err != nil {
			return rep, stopped(runCtx, fmt.Errorf("%s: %w", name, err))
		}
		concs := o.conc
		if name == wlContinuous { // one feed, one writer
			concs = []int{1}
		}
		for _, c := range concs {
			if err := r.runOne(runCtx, name, c, result{}); err != nil {
				return rep, err
			}
		}
	}
	return rep, nil
}

// nodeURL is the base URL, with the admin credentials, of a node this
// tool started.
func nodeURL(n *node) string {
	return "http://" + benchUser + ":" + benchPassword + "@" + n.addr
}

// newReport starts the report of a run against target.
func newReport(o options, target string) *report {
	return &report{Started: time.Now().UTC(), Target: redact(target), Machine: thisMachine(), Settings: settings{
		Duration: o.duration.String(), Concurrency: o.conc, Docs: o.docs, DocSize: o.docSize,
		BulkBatch: o.bulkBatch, AllDocsLimit: o.allDocsLimit,
		ChangesDocs: o.changesDocs, ChangesLimit: o.changesLimit, ContinuousWrites: o.contWrites,
		ContinuousGap: o.contGap.String(), BulkGetBatch: o.bulkGetBatch, RevsDiffBatch: o.revsDiffBatch,
		RevsDiffMissing: o.revsDiffMissing,
	}}
}

// benchConfigOf is the part of the options the workloads need.
func benchConfigOf(o options) benchConfig {
	return benchConfig{
		duration: o.duration, docs: o.docs, bulkBatch: o.bulkBatch, docSize: o.docSize,
		allDocsLimit: o.allDocsLimit, loadConc: o.loadConc, keep: o.keep,
		changesDocs: o.changesDocs, changesLimit: o.changesLimit,
		contWrites: o.contWrites, contGap: o.contGap, contHeartbeat: o.contHeartbeat, contWait: o.contWait,
		bulkGetBatch: o.bulkGetBatch, revsDiffBatch: o.revsDiffBatch, revsDiffMissing: o.revsDiffMissing,
	}
}

// connect makes a client for target, waits until it is up and records
// its GET / answer in rep when rep is not nil.
func connect(ctx context.Context, log *slog.Logger, target string, maxConc int, timeout time.Duration, rep *report) (*client, error) {
	cl, err := newClient(target, maxConc, timeout)
	if err != nil {
		return nil, err
	}
	if err := cl.waitUp(ctx, 30*time.Second); err != nil {
		cl.close()
		return nil, err
	}
	var info serverInfo
	if err := cl.call(ctx, "GET", "/", nil, &info); err != nil {
		cl.close()
		return nil, err
	}
	if rep != nil {
		rep.Server = info
	}
	log.Info("target up", "url", redact(target), "vendor", info.Vendor.Name, "version", info.Version)
	return cl, nil
}

// watchNodes cancels ctx with the node's last output as the cause when
// one of nodes exits other than through its stop method.
func watchNodes(ctx context.Context, cancel context.CancelCauseFunc, nodes ...*node) {
	for _, n := range nodes {
		go func() {
			select {
			case <-n.done:
				if !n.stopping.Load() {
					cancel(fmt.Errorf("node exited during the run (%v); last output:\n%s", n.waitErr, n.lastOutput()))
				}
			case <-ctx.Done():
			}
		}()
	}
}

// cleanupDBs deletes the benchmark's databases, even after ctx ended.
func cleanupDBs(ctx context.Context, b *bench) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	b.cleanup(cctx)
}

// runner measures workloads one run at a time, with the CPU and memory of
// the nodes around each run, and appends the results to rep.
type runner struct {
	log        *slog.Logger
	b          *bench
	rep        *report
	pids       []int    // the nodes whose CPU counts as "node"; the running ones
	rss        rssGroup // nil when no pid is known
	duration   time.Duration
	contWrites int
	settle     time.Duration // see options.settle
}

// waitSettled waits, with -settle, for the nodes to go idle before a run
// and records the wait in res.
func (r *runner) waitSettled(ctx context.Context, res *result) {
	if r.settle <= 0 || len(r.pids) == 0 || slices.Contains(r.pids, 0) {
		return
	}
	waited, ok := waitIdle(ctx, r.pids, r.settle)
	res.SettleWait, res.NotSettled = round2(waited.Seconds()), !ok
	if ok {
		r.log.Info("nodes idle", "before", res.Workload, "c", res.Concurrency, "waited", waited.Round(time.Millisecond))
		return
	}
	r.log.Warn("nodes still busy; running anyway", "before", res.Workload, "c", res.Concurrency, "waited", waited.Round(time.Millisecond))
}

// runOne runs workload name at concurrency c, labels the result with
// label's Via and Down, and appends it to the report. It returns an error
// (also recorded as the report's failure) when ctx ended during the run.
func (r *runner) runOne(ctx context.Context, name string, c int, label result) error {
	settle := result{Workload: name, Concurrency: c}
	r.waitSettled(ctx, &settle)
	var res result
	cpu := startCPUMeter(r.pids...)
	if name == wlContinuous {
		r.log.Info("running", "workload", name, "writes", r.contWrites)
		res = r.b.continuous(ctx)
	} else {
		r.log.Info("running", runAttrs(name, c, &label, "for", r.duration)...)
		res = r.b.measure(ctx, name, c, r.b.op(name, c))
	}
	res.Via, res.Down = label.Via, label.Down
	res.SettleWait, res.NotSettled = settle.SettleWait, settle.NotSettled
	res.setCPU(cpu.stop())
	if r.rss != nil {
		res.NodeVmHWM = r.rss.hwmSum()
		if cur := r.rss.currentSum(); cur.RSS > 0 {
			res.NodeRSS = &cur
		}
	}
	r.rep.Results = append(r.rep.Results, res)
	r.log.Info("done", runAttrs(name, c, &res, "rate", int(res.Rate), "unit", res.Unit,
		"p50_ms", res.P50, "p99_ms", res.P99, "errors", res.Errors,
		"node_cores", round2(res.NodeCores), "other_cores", round2(res.OtherCores))...)
	if res.FirstError != "" {
		r.log.Warn("first error", runAttrs(name, c, &res, "err", res.FirstError)...)
	}
	if ctx.Err() != nil {
		err := stopped(ctx, ctx.Err())
		r.rep.Failure = err.Error()
		return err
	}
	return nil
}

// runAttrs are the log attributes of a run: workload, concurrency, the
// cluster labels of res, then more.
func runAttrs(name string, c int, res *result, more ...any) []any {
	a := append([]any{"workload", name, "c", c}, res.clusterAttrs()...)
	return append(a, more...)
}

// stopped prefers the reason the run was cancelled over the error it caused.
func stopped(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	return err
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// redact drops the password from a URL for reports.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}
