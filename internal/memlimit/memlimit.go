// Package memlimit keeps the Go runtime's soft memory limit between a floor
// and a ceiling, moving it with the live heap.
//
// A fixed soft limit (debug.SetMemoryLimit) keeps the heap from doubling
// between collections under write load, which is what holds a node's peak
// RSS near its budget. But when the live heap itself grows close to the
// limit, each cycle can only allocate the little room left before the next
// one starts, and the collector runs back to back. A cluster member is that
// case: it also stores the copies written through its peers, holds their
// writes in flight and builds tables for all of them. Three nodes on one
// 2-core machine under _bulk_docs at 32 clients had 70-105 MB live against
// a fixed 128 MiB limit and ran 10-14 collections a second each.
//
// A Tuner samples the live heap and sets the limit to what the live heap
// needs with Headroom to spare, never below Floor (a node whose live heap
// is small behaves exactly as with a fixed limit) and never above Ceiling.
// It raises the limit at once and lowers it only after Hold, because the
// live heap swings as memtables fill and flush. Once the limit is above
// twice the live heap, GOGC paces the collector as usual.
package memlimit

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Options configure a Tuner.
type Options struct {
	// Floor is the lowest limit, in bytes: the fixed limit a node would
	// otherwise run with.
	Floor int64
	// Ceiling is the highest limit, in bytes. Zero means four times Floor.
	Ceiling int64
	// Headroom is the fraction of the live heap a cycle may allocate
	// before the next one. Zero means 0.5.
	Headroom float64
	// Raise, when set, reports whether the limit may rise above Floor
	// now; while it returns false the limit stays at Floor.
	Raise func() bool
	// Hold is how long a raised limit is kept before it may fall: the
	// live heap swings as memtables fill and flush, and a limit that
	// followed it down would be too low when it climbs again between two
	// samples. Zero means 10 s.
	Hold time.Duration
	// Interval between samples. Zero means 100 ms.
	Interval time.Duration
	Logger   *slog.Logger
}

// Tuner moves the soft memory limit; see the package comment.
type Tuner struct {
	opts    Options
	samples []metrics.Sample
	limit   int64     // the limit last set
	raised  time.Time // when the limit last rose (or was confirmed)
	// setLimit is debug.SetMemoryLimit; tests replace it.
	setLimit func(int64) int64
}

// Names of the runtime metrics a Tuner reads, in the order of samples.
var sampleNames = [...]string{
	"/gc/heap/live:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/released:bytes",
}

// New returns a Tuner; it changes nothing until Run.
func New(o Options) *Tuner {
	if o.Ceiling <= 0 {
		o.Ceiling = 4 * o.Floor
	}
	o.Ceiling = max(o.Ceiling, o.Floor)
	if o.Headroom <= 0 {
		o.Headroom = 0.5
	}
	if o.Hold <= 0 {
		o.Hold = 10 * time.Second
	}
	if o.Interval <= 0 {
		o.Interval = 100 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Tuner{opts: o, samples: make([]metrics.Sample, len(sampleNames)), setLimit: debug.SetMemoryLimit}
	for i, name := range sampleNames {
		t.samples[i].Name = name
	}
	return t
}

// Run tunes the limit now and then every Interval until ctx ends.
func (t *Tuner) Run(ctx context.Context) {
	t.tune(time.Now())
	tick := time.NewTicker(t.opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			t.tune(now)
		}
	}
}

// tune sets the limit from a fresh sample and returns it.
func (t *Tuner) tune(now time.Time) int64 {
	metrics.Read(t.samples)
	var v [len(sampleNames)]int64
	for i, s := range t.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = int64(s.Value.Uint64())
		}
	}
	live, total, objects, unused, free, released := v[0], v[1], v[2], v[3], v[4], v[5]
	// What the runtime holds besides the heap (stacks, metadata, buffers)
	// counts against the limit as well.
	nonHeap := max(total-objects-unused-free-released, 0)
	want := t.opts.Floor
	if t.opts.Raise == nil || t.opts.Raise() {
		want = limitFor(live, nonHeap, t.opts)
	}
	return t.apply(want, now)
}

// apply moves the limit towards want: up at once, down only once the limit
// has not been wanted for Hold.
func (t *Tuner) apply(want int64, now time.Time) int64 {
	switch {
	case want >= t.limit:
		t.raised = now
		// Small moves are not worth a call: each wakes the pacer.
		if want-t.limit > t.limit/64 {
			t.set(want)
		}
	case now.Sub(t.raised) >= t.opts.Hold:
		t.raised = now
		if t.limit-want > t.limit/64 {
			t.set(want)
		}
	}
	return t.limit
}

// limitFor is the limit for a live heap and the memory beside it.
func limitFor(live, nonHeap int64, o Options) int64 {
	want := nonHeap + live + int64(float64(live)*o.Headroom)
	return min(max(want, o.Floor), o.Ceiling)
}

func (t *Tuner) set(limit int64) {
	t.setLimit(limit)
	if t.limit != 0 && limit != t.limit {
		t.opts.Logger.Debug("memory limit moved", "from_mib", t.limit>>20, "to_mib", limit>>20)
	}
	t.limit = limit
}
