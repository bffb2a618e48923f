package fabric

import (
	"context"
	"sync"
	"time"
)

// A write answers at quorum while its slowest copy is still writing. Under a
// steady load the slowest node then falls behind without limit: every write
// leaves it one more batch of documents queued, held in memory on both
// sides, until the collector and the queue slow that node down further.
// CouchDB bounds this with rexi's per-node buffers, dropping what does not
// fit and leaving it to internal replication.
//
// Divan keeps a window per destination node: the document bytes of copy
// writes this coordinator has sent there and not yet had answered. A copy
// write waits for room in its node's window, so the coordinator slows to the
// pace of its slowest live node instead of queueing without bound. A node
// that answers nothing for stallAfter while its window is full is taken for
// hung (a partition, a stalled disk) and skipped: its copy is left to
// internal replication, as a down node's is, and writes go on at quorum.

// DefaultNodeWriteWindow is the document bytes one coordinator keeps in
// flight to one node: a couple of full group commits per shard copy.
const DefaultNodeWriteWindow = 8 << 20

// defaultWindowStall is how long a full window may go without any write
// to its node answering before that node's copies are skipped.
const defaultWindowStall = 2 * time.Second

// writeWindows holds the window of every destination node.
type writeWindows struct {
	limit int64
	stall time.Duration

	mu    sync.Mutex
	nodes map[string]*window
}

func newWriteWindows(limit int64, stall time.Duration) *writeWindows {
	return &writeWindows{limit: limit, stall: stall, nodes: map[string]*window{}}
}

func (ws *writeWindows) node(name string) *window {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	w, ok := ws.nodes[name]
	if !ok {
		w = &window{changed: make(chan struct{})}
		ws.nodes[name] = w
	}
	return w
}

// window is one node's share of writes in flight.
type window struct {
	mu       sync.Mutex
	inflight int64
	// progress is when a write to the node last answered, or when the
	// window last went from empty to in use.
	progress time.Time
	// changed is closed, and replaced, whenever room is freed.
	changed chan struct{}
}

// acquire takes n bytes of the window for a write, waiting while it is
// full and the node keeps answering. A write larger than the whole window
// goes alone. Having taken nothing, it returns errNodeBusy when the node
// has answered nothing for stall, or ctx's error when ctx ended first.
func (w *window) acquire(ctx context.Context, n, limit int64, stall time.Duration) error {
	for {
		w.mu.Lock()
		if w.inflight == 0 || w.inflight+n <= limit {
			if w.inflight == 0 {
				w.progress = time.Now()
			}
			w.inflight += n
			w.mu.Unlock()
			return nil
		}
		wait := stall - time.Since(w.progress)
		changed := w.changed
		w.mu.Unlock()
		if wait <= 0 {
			return errNodeBusy
		}
		t := time.NewTimer(wait)
		select {
		case <-changed:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		}
		t.Stop()
	}
}

// release returns n bytes once the node has answered a write (or failed to).
func (w *window) release(n int64) {
	w.mu.Lock()
	w.inflight -= n
	w.progress = time.Now()
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}
