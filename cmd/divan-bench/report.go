package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// result is one workload at one concurrency.
type result struct {
	Workload    string `json:"workload"`
	Concurrency int    `json:"concurrency"`
	Via         string `json:"via,omitempty"`  // cluster: "node1" or "all3" (round-robin per request)
	Down        string `json:"down,omitempty"` // cluster: the node stopped during this run
	// Statuses counts the responses by HTTP status (cluster mode), e.g.
	// writes answered 201 (w copies written) and 202 (fewer).
	Statuses map[string]int64 `json:"statuses,omitempty"`
	// With -settle: how long the run waited for idle nodes, and whether
	// they were still busy when it started anyway.
	SettleWait     float64   `json:"settle_wait_s,omitempty"`
	NotSettled     bool      `json:"not_settled,omitempty"`
	Unit           string    `json:"unit"` // what Rate counts per second
	Rate           float64   `json:"rate"`
	RequestsPerSec float64   `json:"requests_per_s"`
	Requests       int64     `json:"requests"`
	Items          int64     `json:"items"`
	Errors         int64     `json:"errors"` // failed requests; bulk: failed docs
	Seconds        float64   `json:"seconds"`
	P50            float64   `json:"p50_ms"`
	P99            float64   `json:"p99_ms"`
	Mean           float64   `json:"mean_ms"`
	Max            float64   `json:"max_ms"`
	Interrupted    bool      `json:"interrupted,omitempty"` // ended before -duration
	FirstError     string    `json:"first_error,omitempty"`
	NodeVmHWM      int64     `json:"node_vmhwm_bytes,omitempty"` // peak RSS so far
	NodeRSS        *rssSplit `json:"node_rss,omitempty"`         // resident set at the end of the run
	// CPU: the node's, in cores (CPU seconds per second) and microseconds
	// per item, and that of other processes on the machine, in cores; -1
	// when unknown. Other work above ~0.1 cores makes the rates unreliable.
	NodeCores      float64 `json:"node_cpu_cores"`
	NodeCPUPerItem float64 `json:"node_cpu_us_per_item"`
	OtherCores     float64 `json:"other_cpu_cores"`
}

// setCPU fills in the CPU figures from a cpuMeter's readings.
func (r *result) setCPU(node, others time.Duration) {
	r.NodeCores, r.NodeCPUPerItem, r.OtherCores = -1, -1, -1
	if r.Seconds <= 0 {
		return
	}
	if node >= 0 {
		r.NodeCores = node.Seconds() / r.Seconds
		if r.Items > 0 {
			r.NodeCPUPerItem = float64(node.Microseconds()) / float64(r.Items)
		}
	}
	if others >= 0 {
		r.OtherCores = others.Seconds() / r.Seconds
	}
}

// addStatuses folds per-status counts into r.Statuses.
func (r *result) addStatuses(counts map[int]int64) {
	for status, n := range counts {
		if r.Statuses == nil {
			r.Statuses = map[string]int64{}
		}
		r.Statuses[strconv.Itoa(status)] += n
	}
}

// statusSummary renders Statuses as "201:1234 202:5", in status order.
func (r *result) statusSummary() string {
	if len(r.Statuses) == 0 {
		return "-"
	}
	keys := slices.Sorted(maps.Keys(r.Statuses))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ":" + strconv.FormatInt(r.Statuses[k], 10)
	}
	return strings.Join(parts, " ")
}

// clusterAttrs are the log attributes of a cluster run's labels and
// status counts; none for a single-node run.
func (r *result) clusterAttrs() []any {
	var a []any
	if r.Via != "" {
		a = append(a, "via", r.Via)
	}
	if r.Down != "" {
		a = append(a, "down", r.Down)
	}
	if len(r.Statuses) > 0 {
		a = append(a, "statuses", r.statusSummary())
	}
	return a
}

// label is the workload's name in the table, with the node that was
// down during the run and whether it was cut short.
func (r *result) label() string {
	name := r.Workload
	if r.Down != "" {
		name += " (" + r.Down + " down)"
	}
	if r.NotSettled {
		name += " (nodes busy)"
	}
	if r.Interrupted {
		name += " (cut short)"
	}
	return name
}

// report is everything one invocation measured.
type report struct {
	Started  time.Time  `json:"started"`
	Target   string     `json:"target"` // URL without credentials
	Server   serverInfo `json:"server"`
	Machine  machine    `json:"machine"`
	Settings settings   `json:"settings"`
	Results  []result   `json:"results"`
	// PeakRSS is the node's VmHWM in bytes, when its pid is known.
	PeakRSS int64 `json:"node_peak_rss_bytes,omitempty"`
	// PeakRSSSplit is the largest resident set sampled, by kind of page.
	PeakRSSSplit *rssSplit `json:"node_peak_rss_sample,omitempty"`
	// Cluster mode: the cluster's shape and each node's peak RSS.
	Cluster *clusterInfo `json:"cluster,omitempty"`
	Failure string       `json:"failure,omitempty"` // why the run stopped early
}

// clusterInfo describes the cluster a -cluster run started.
type clusterInfo struct {
	Nodes   int        `json:"nodes"`
	N       int        `json:"n"`
	Q       int        `json:"q"`
	W       int        `json:"w"`
	Members []nodePeak `json:"members"`
	// Sum and max of the members' peak RSS (VmHWM). The sum is of peaks
	// reached at different moments: an upper bound of the total at any
	// one time.
	PeakRSSSum int64 `json:"peak_rss_sum_bytes"`
	PeakRSSMax int64 `json:"peak_rss_max_bytes"`
}

// nodePeak is one cluster member's peak memory.
type nodePeak struct {
	Name         string    `json:"name"`
	PID          int       `json:"pid"`
	PeakRSS      int64     `json:"peak_rss_bytes"`
	PeakRSSSplit *rssSplit `json:"peak_rss_sample,omitempty"`
}

// setPeaks fills in the members' peak RSS from their samplers (in the same
// order) and the sum and max.
func (ci *clusterInfo) setPeaks(rss rssGroup) {
	ci.PeakRSSSum, ci.PeakRSSMax = 0, 0
	for i := range ci.Members {
		if i >= len(rss) || rss[i] == nil {
			continue
		}
		m := &ci.Members[i]
		m.PeakRSS, m.PeakRSSSplit = rss[i].sample(), rss[i].peakSplit()
		ci.PeakRSSSum += m.PeakRSS
		ci.PeakRSSMax = max(ci.PeakRSSMax, m.PeakRSS)
	}
}

type settings struct {
	Duration     string `json:"duration"`
	Concurrency  []int  `json:"concurrency"`
	Docs         int    `json:"docs"`
	DocSize      int    `json:"doc_size"`
	BulkBatch    int    `json:"bulk_batch"`
	AllDocsLimit int    `json:"alldocs_limit"`

	ChangesDocs      int     `json:"changes_docs"`
	ChangesLimit     int     `json:"changes_limit"` // 0: whole feed
	ContinuousWrites int     `json:"continuous_writes"`
	ContinuousGap    string  `json:"continuous_gap"`
	BulkGetBatch     int     `json:"bulkget_batch"`
	RevsDiffBatch    int     `json:"revsdiff_batch"`
	RevsDiffMissing  float64 `json:"revsdiff_missing"`
}

type machine struct {
	CPUs     int    `json:"cpus"`
	MemTotal int64  `json:"mem_total_bytes,omitempty"`
	OS       string `json:"os"`
	Go       string `json:"go"`
}

func thisMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(rest); len(f) == 2 {
					kb, _ := strconv.ParseInt(f[0], 10, 64)
					m.MemTotal = kb * 1024
				}
			}
		}
	}
	return m
}

// writeTable prints the human-readable summary.
func (r *report) writeTable(w io.Writer) error {
	server := r.Server.Vendor.Name
	if server == "" {
		server = r.Server.CouchDB
	}
	fmt.Fprintf(w, "\ntarget %s (%s %s), %d CPUs, %s RAM; %s per run, %d-doc data set, ~%d-byte docs, bulk batch %d\n",
		r.Target, server, r.Server.Version, r.Machine.CPUs, mib(r.Machine.MemTotal),
		r.Settings.Duration, r.Settings.Docs, r.Settings.DocSize, r.Settings.BulkBatch)
	if ci := r.Cluster; ci != nil {
		fmt.Fprintf(w, "cluster of %d nodes, databases n=%d q=%d, writes w=%d; via node1: every request to node 1, "+
			"via all%d: requests round-robin over the nodes; node cores, node µs/item and VmHWM are the nodes' sums\n",
			ci.Nodes, ci.N, ci.Q, ci.W, ci.Nodes)
	}
	fmt.Fprintln(w)
	cluster := r.Cluster != nil
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "workload\tconc\trate\tunit\tp50 ms\tp99 ms\tmax ms\terrors\tnode cores\tnode µs/item\tother cores\tVmHWM\t"
	if cluster {
		head = "workload\tvia\tconc\trate\tunit\tp50 ms\tp99 ms\tmax ms\terrors\tstatuses\tnode cores\tnode µs/item\tother cores\tVmHWM\t"
	}
	fmt.Fprintln(tw, head)
	for _, res := range r.Results {
		hwm := "-"
		if res.NodeVmHWM > 0 {
			hwm = mib(res.NodeVmHWM)
		}
		cpu := fmt.Sprintf("%s\t%s\t%s\t%s\t", orDash(res.NodeCores, "%.2f"), orDash(res.NodeCPUPerItem, "%.0f"), orDash(res.OtherCores, "%.2f"), hwm)
		if cluster {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n",
				res.label(), res.Via, res.Concurrency, res.Rate, res.Unit,
				fmtMs(res.P50), fmtMs(res.P99), fmtMs(res.Max), res.Errors, res.statusSummary(), cpu)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%d\t%s\n",
			res.label(), res.Concurrency, res.Rate, res.Unit,
			fmtMs(res.P50), fmtMs(res.P99), fmtMs(res.Max), res.Errors, cpu)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, res := range r.Results {
		if res.FirstError != "" {
			fmt.Fprintf(w, "first error in %s%s c=%d: %s\n", res.label(), viaSuffix(res.Via), res.Concurrency, res.FirstError)
		}
	}
	if ci := r.Cluster; ci != nil && ci.PeakRSSSum > 0 {
		fmt.Fprintln(w, "\nnodes' peak RSS (VmHWM):")
		for _, m := range ci.Members {
			fmt.Fprintf(w, "  %s (pid %d): %s", m.Name, m.PID, mib(m.PeakRSS))
			if p := m.PeakRSSSplit; p != nil {
				fmt.Fprintf(w, "; largest sampled RSS %s: anon %s, file-backed %s", mib(p.RSS), mibZero(p.Anon), mibZero(p.File))
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "  sum %s, max %s\n", mib(ci.PeakRSSSum), mib(ci.PeakRSSMax))
	}
	if r.PeakRSS > 0 {
		fmt.Fprintf(w, "\nnode peak RSS (VmHWM): %s\n", mib(r.PeakRSS))
		if p := r.PeakRSSSplit; p != nil {
			fmt.Fprintf(w, "largest sampled RSS %s: anon %s, file-backed %s, shmem %s\n",
				mib(p.RSS), mibZero(p.Anon), mibZero(p.File), mibZero(p.Shmem))
		}
	}
	if r.Failure != "" {
		fmt.Fprintf(w, "\nrun stopped early: %s\n", r.Failure)
	}
	return nil
}

// writeJSON writes the report to path.
func (r *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// viaSuffix is " via X" for error messages, empty for single-node runs.
func viaSuffix(via string) string {
	if via == "" {
		return ""
	}
	return " via " + via
}

func orDash(v float64, format string) string {
	if v < 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func mib(b int64) string {
	if b <= 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// mibZero is mib for figures that may well be 0.
func mibZero(b int64) string {
	if b == 0 {
		return "0"
	}
	return mib(b)
}

// fmtMs keeps three significant digits for small latencies.
func fmtMs(v float64) string {
	switch {
	case v < 1:
		return strconv.FormatFloat(v, 'f', 3, 64)
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}
