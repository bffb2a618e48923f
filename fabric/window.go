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
// CouchDB bounds this with rexi's per-node buffers.
//
// Divan keeps a window per destination node: the document bytes of copy
// writes this coordinator has sent there and not yet had answered. A copy
// write waits for room in its node's window, so the coordinator slows to the
// pace of its slowest live node instead of queueing without bound. The wait
// is only backpressure, never a reason to drop a write: a copy write goes
// out anyway once it has waited maxWait, at once when its node has answered
// nothing for stall (hung, partitioned: nothing to pace against, and its
// failure detection will take it out), and when the request ends.

// DefaultNodeWriteWindow is the document bytes one coordinator keeps in
// flight to one node: a couple of full group commits per shard copy.
const DefaultNodeWriteWindow = 8 << 20

const (
	// defaultWindowStall is how long a full window may go without a write
	// to its node succeeding before writes stop waiting for it.
	defaultWindowStall = 2 * time.Second
	// defaultWindowMaxWait bounds any one copy write's wait for room.
	defaultWindowMaxWait = 10 * time.Second
)

// writeWindows holds the window of every destination node.
type writeWindows struct {
	limit   int64
	stall   time.Duration
	maxWait time.Duration

	mu    sync.Mutex
	nodes map[string]*window
}

func newWriteWindows(limit int64, stall, maxWait time.Duration) *writeWindows {
	return &writeWindows{limit: limit, stall: stall, maxWait: maxWait, nodes: map[string]*window{}}
}

// acquire waits for room for n bytes in node's window and takes them; see
// window.acquire. The caller must release the same n to the returned
// window once the write has answered.
func (ws *writeWindows) acquire(ctx context.Context, node string, n int64) *window {
	ws.mu.Lock()
	w, ok := ws.nodes[node]
	if !ok {
		w = &window{changed: make(chan struct{})}
		ws.nodes[node] = w
	}
	ws.mu.Unlock()
	w.acquire(ctx, n, ws.limit, ws.stall, ws.maxWait)
	return w
}

// window is one node's share of writes in flight.
type window struct {
	mu       sync.Mutex
	inflight int64
	// progress is when a write to the node last succeeded, or when the
	// window last went from empty to in use.
	progress time.Time
	// changed is closed, and replaced, whenever room is freed.
	changed chan struct{}
}

// acquire takes n bytes of the window, first waiting while they do not fit.
// A write larger than half the window waits only for half of it to be free,
// so that a stream of smaller writes cannot starve it. It stops waiting,
// and takes the bytes over the limit, once the node has had no write
// succeed for stall, once it has waited maxWait, or when ctx ends.
func (w *window) acquire(ctx context.Context, n, limit int64, stall, maxWait time.Duration) {
	need := min(n, limit/2)
	deadline := time.Now().Add(maxWait)
	for {
		w.mu.Lock()
		now := time.Now()
		if w.inflight == 0 || w.inflight+need <= limit || now.Sub(w.progress) >= stall || !now.Before(deadline) || ctx.Err() != nil {
			if w.inflight == 0 {
				w.progress = now
			}
			w.inflight += n
			w.mu.Unlock()
			return
		}
		wait := min(stall-now.Sub(w.progress), deadline.Sub(now))
		changed := w.changed
		w.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-changed:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
}

// release returns n bytes once the node has answered a write; ok reports
// whether the write succeeded, which alone counts as the node making
// progress (a write that timed out against a hung node does not).
func (w *window) release(n int64, ok bool) {
	w.mu.Lock()
	w.inflight -= n
	if ok {
		w.progress = time.Now()
	}
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}
