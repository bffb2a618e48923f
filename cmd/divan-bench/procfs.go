package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Process and machine figures from /proc (Linux only; elsewhere they are
// simply not reported).

// readVmHWM returns the peak resident set size of process pid, in bytes.
func readVmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmHWM(string(b))
}

// parseVmHWM extracts VmHWM from the text of /proc/<pid>/status.
func parseVmHWM(status string) (int64, error) { return parseStatusKB(status, "VmHWM") }

// parseStatusKB extracts a "Key:  N kB" figure, in bytes, from the text of
// /proc/<pid>/status.
func parseStatusKB(status, key string) (int64, error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, key+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected %s line %q", key, strings.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", key, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no %s in status", key)
}

// rssSplit is a process's resident set at one moment and what it is made
// of: anonymous memory (heap, stacks), file-backed pages (mapped files,
// e.g. badger's memory-mapped tables and value log) and shared memory.
// These are the kernel's counters also behind /proc/<pid>/smaps_rollup,
// read from /proc/<pid>/status, which is cheap to read.
type rssSplit struct {
	RSS   int64 `json:"rss_bytes"`
	Anon  int64 `json:"anon_bytes"`
	File  int64 `json:"file_bytes"`
	Shmem int64 `json:"shmem_bytes"`
}

// parseRSSSplit extracts VmRSS, RssAnon, RssFile and RssShmem.
func parseRSSSplit(status string) (rssSplit, error) {
	var r rssSplit
	var errs []error
	for _, f := range []struct {
		key string
		dst *int64
	}{{"VmRSS", &r.RSS}, {"RssAnon", &r.Anon}, {"RssFile", &r.File}, {"RssShmem", &r.Shmem}} {
		v, err := parseStatusKB(status, f.key)
		*f.dst = v
		errs = append(errs, err)
	}
	return r, errors.Join(errs...)
}

// rssSampler keeps the largest VmHWM seen for a process, sampled
// periodically, so the peak survives the process dying before the end,
// and the composition of the largest resident set it sampled.
type rssSampler struct {
	pid    int
	peak   atomic.Int64
	frozen atomic.Bool // the process has ended: sample no more

	mu       sync.Mutex
	last     rssSplit // the latest reading
	maxSplit rssSplit // the reading with the largest RSS
}

// sample reads VmHWM and the resident set once and folds them into the
// peak.
func (s *rssSampler) sample() int64 {
	if s.frozen.Load() {
		return s.peak.Load()
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		return s.peak.Load()
	}
	if v, err := parseVmHWM(string(b)); err == nil {
		for {
			old := s.peak.Load()
			if v <= old || s.peak.CompareAndSwap(old, v) {
				break
			}
		}
	}
	if split, err := parseRSSSplit(string(b)); err == nil {
		s.mu.Lock()
		s.last = split
		if split.RSS > s.maxSplit.RSS {
			s.maxSplit = split
		}
		s.mu.Unlock()
	}
	return s.peak.Load()
}

// freeze keeps the figures sampled so far and stops reading the process,
// for a process about to end (whose pid may then be reused).
func (s *rssSampler) freeze() { s.frozen.Store(true) }

// current returns the latest resident set reading (zero if none).
func (s *rssSampler) current() rssSplit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// peakSplit returns the sampled reading with the largest resident set, or
// nil if there was none. VmHWM can be a little higher: it is exact, the
// samples are 200 ms apart.
func (s *rssSampler) peakSplit() *rssSplit {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maxSplit.RSS == 0 {
		return nil
	}
	r := s.maxSplit
	return &r
}

// rssGroup samples several nodes, one sampler each; a nil entry is a node
// whose pid is unknown.
type rssGroup []*rssSampler

// newRSSGroup returns samplers for pids, sampling every interval until ctx
// is done; nil when no pid is known.
func newRSSGroup(ctx context.Context, every time.Duration, pids ...int) rssGroup {
	var g rssGroup
	known := false
	for _, pid := range pids {
		if pid <= 0 {
			g = append(g, nil)
			continue
		}
		s := &rssSampler{pid: pid}
		go s.run(ctx, every)
		g = append(g, s)
		known = true
	}
	if !known {
		return nil
	}
	return g
}

// hwmSum samples every node and returns the sum of their VmHWM (for one
// node, its VmHWM).
func (g rssGroup) hwmSum() int64 {
	var sum int64
	for _, s := range g {
		if s != nil {
			sum += s.sample()
		}
	}
	return sum
}

// currentSum returns the sum of the running nodes' latest resident set
// readings.
func (g rssGroup) currentSum() rssSplit {
	var sum rssSplit
	for _, s := range g {
		if s == nil || s.frozen.Load() {
			continue
		}
		c := s.current()
		sum.RSS += c.RSS
		sum.Anon += c.Anon
		sum.File += c.File
		sum.Shmem += c.Shmem
	}
	return sum
}

// run samples every interval until ctx is done.
func (s *rssSampler) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.sample()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat; it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// readCPU returns the user plus system CPU time process pid has used.
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU extracts utime+stime from the text of /proc/<pid>/stat. The
// command name (field 2) is in parentheses and may hold spaces, so fields
// are counted from the last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3, state
	if len(f) < 13 {
		return 0, errors.New("stat: too few fields")
	}
	var ticks int64
	for _, s := range f[11:13] { // fields 14 and 15: utime, stime
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: %w", err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// readBusy returns the CPU time all CPUs of the machine have spent busy
// (user, nice, system, irq, softirq, steal) since boot.
func readBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseBusy(string(b))
}

// parseBusy extracts the busy time from the "cpu" line of /proc/stat.
func parseBusy(stat string) (time.Duration, error) {
	for line := range strings.Lines(stat) {
		f := strings.Fields(line)
		if len(f) < 9 || f[0] != "cpu" {
			continue
		}
		var ticks int64
		for _, k := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
			v, err := strconv.ParseInt(f[k], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat: %w", err)
			}
			ticks += v
		}
		return time.Duration(ticks) * time.Second / clockTicks, nil
	}
	return 0, errors.New("/proc/stat: no cpu line")
}

// cpuMeter measures, over an interval, the CPU time the nodes used and the
// CPU time everything else on the machine but this tool used: the latter
// shows when other work competed with the benchmark for the CPUs.
type cpuMeter struct {
	nodePIDs               []int // none if unknown
	node, self, busy       time.Duration
	nodeOK, selfOK, busyOK bool
}

// startCPUMeter starts measuring the nodes with the given pids (a pid ≤ 0
// is unknown: nothing is measured for the nodes, nor for others).
func startCPUMeter(nodePIDs ...int) *cpuMeter {
	m := &cpuMeter{nodePIDs: nodePIDs}
	m.node, m.nodeOK = m.readNodes()
	m.self, m.selfOK = orFalse(readCPU(os.Getpid()))
	m.busy, m.busyOK = orFalse(readBusy())
	return m
}

// readNodes returns the CPU time the nodes have used, summed; false if any
// pid is unknown or unreadable.
func (m *cpuMeter) readNodes() (time.Duration, bool) {
	if len(m.nodePIDs) == 0 {
		return 0, false
	}
	var sum time.Duration
	for _, pid := range m.nodePIDs {
		if pid <= 0 {
			return 0, false
		}
		d, ok := orFalse(readCPU(pid))
		if !ok {
			return 0, false
		}
		sum += d
	}
	return sum, true
}

// stop returns the nodes' CPU time and other processes' CPU time since
// start; -1 for what it could not measure. Others needs the nodes' pids, as
// the nodes' own time would otherwise count as someone else's.
func (m *cpuMeter) stop() (node, others time.Duration) {
	node, others = -1, -1
	var dNode time.Duration
	if n, ok := m.readNodes(); m.nodeOK && ok {
		dNode = n - m.node
		node = dNode
	}
	s, sOK := orFalse(readCPU(os.Getpid()))
	b, bOK := orFalse(readBusy())
	if m.selfOK && sOK && m.busyOK && bOK && node >= 0 {
		others = max(b-m.busy-(s-m.self)-dNode, 0)
	}
	return node, others
}

func orFalse(d time.Duration, err error) (time.Duration, bool) { return d, err == nil }

// Settling: before a workload, wait until the nodes have finished the
// background work earlier writes left them (internal replication,
// compaction), so it is not billed to the next workload.
const (
	settleWindow = time.Second // CPU is measured over windows this long
	settleCores  = 0.10        // idle: the nodes together below this
)

// waitIdle waits until the nodes' summed CPU use over one settleWindow is
// below settleCores, or maxWait has passed, or ctx ends. It returns how
// long it waited and whether the nodes were idle; false too when their
// CPU cannot be read.
func waitIdle(ctx context.Context, pids []int, maxWait time.Duration) (time.Duration, bool) {
	start := time.Now()
	m := &cpuMeter{nodePIDs: pids}
	prev, ok := m.readNodes()
	if !ok {
		return 0, false
	}
	t := time.NewTicker(settleWindow)
	defer t.Stop()
	for time.Since(start) < maxWait {
		select {
		case <-ctx.Done():
			return time.Since(start), false
		case <-t.C:
		}
		cur, ok := m.readNodes()
		if !ok {
			return time.Since(start), false
		}
		if idle(cur-prev, settleWindow) {
			return time.Since(start), true
		}
		prev = cur
	}
	return time.Since(start), false
}

// idle reports whether cpu used over window is below settleCores.
func idle(cpu, window time.Duration) bool {
	return cpu.Seconds() < settleCores*window.Seconds()
}
