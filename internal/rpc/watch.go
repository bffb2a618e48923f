package rpc

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	pb "github.com/divandb/divan/proto/internalv1"
	"github.com/divandb/divan/shard"
)

// seqs identify a state of a copy: every committed write changes one of
// them (a purge that removes a document entirely changes only purge).
type seqs struct{ update, purge uint64 }

// watcher backs the Changed channels of one remote copy with a WatchChanges
// stream. The stream runs while someone may be waiting on the channel (and
// for the idle period after), is re-established after failures, and closes
// the channel whenever the copy's seqs move away from the baseline: the
// seqs last seen, or the seqs of the handles that asked since.
type watcher struct {
	c          *Client
	node, name string

	mu      sync.Mutex
	ch      chan struct{}
	waiting bool // ch was handed out
	running bool // a run goroutine owns the stream
	synced  bool // the stream is up and base is current
	known   bool // base is set
	base    seqs
	lastUse time.Time
}

func (c *Client) watcher(node, name string) *watcher {
	k := copyKey{node, name}
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.watches[k]
	if !ok {
		w = &watcher{c: c, node: node, name: name, ch: make(chan struct{})}
		c.watches[k] = w
	}
	return w
}

var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// changed hands out the current channel; base is the caller's view of the
// copy's seqs (from its handle).
func (w *watcher) changed(base seqs) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.synced {
		// Not watching now: start from the oldest state a waiter knows, so
		// a write made since shows up as a difference once the stream is up.
		if w.known {
			base = seqs{min(w.base.update, base.update), min(w.base.purge, base.purge)}
		}
		w.base, w.known = base, true
	}
	w.lastUse = time.Now()
	w.waiting = true
	if !w.running {
		w.c.mu.Lock()
		closed := w.c.closed
		if !closed {
			w.c.wg.Add(1)
		}
		w.c.mu.Unlock()
		if closed {
			return closedChan
		}
		w.running = true
		go w.run()
	}
	return w.ch
}

// fireLocked closes the handed-out channel and starts a new one.
func (w *watcher) fireLocked() {
	close(w.ch)
	w.ch = make(chan struct{})
	w.waiting = false
}

// errIdle ends a watch nobody has used for the idle period.
var errIdle = errors.New("rpc: watch idle")

func (w *watcher) run() {
	defer w.c.wg.Done()
	delay := 50 * time.Millisecond
	for {
		err := w.watch()
		w.mu.Lock()
		if w.synced {
			delay = 50 * time.Millisecond // it worked for a while
		}
		w.synced = false
		switch {
		case w.c.ctx.Err() != nil:
			// Client closed: wake the waiters, whose next read fails.
			w.fireLocked()
			w.running = false
			w.mu.Unlock()
			return
		case errors.Is(err, shard.ErrNoShard):
			// The copy is gone: wake the waiters, whose next read fails.
			w.fireLocked()
			w.running, w.known = false, false
			w.mu.Unlock()
			return
		case !w.waiting:
			w.running = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		if errors.Is(err, errIdle) {
			continue // someone started waiting as the watch went idle
		}
		w.c.log.Debug("copy watch failed; retrying", "node", w.node, "shard", w.name, "err", err)
		t := time.NewTimer(delay + rand.N(delay/2))
		select {
		case <-t.C:
		case <-w.c.ctx.Done():
			t.Stop()
		}
		delay = min(2*delay, 3*time.Second)
	}
}

// watch runs one WatchChanges stream until it fails or goes idle.
func (w *watcher) watch() error {
	svc, err := w.c.service(w.node)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(w.c.ctx)
	defer cancel()
	stream, err := svc.WatchChanges(ctx, &pb.WatchChangesRequest{Header: &pb.RequestHeader{Shard: w.name}})
	if err != nil {
		return w.c.wrapErr(ctx, w.node, "WatchChanges", err)
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return errors.New("rpc: watch stream ended")
		}
		if err != nil {
			return w.c.wrapErr(ctx, w.node, "WatchChanges", err)
		}
		now := seqs{msg.GetUpdateSeq(), msg.GetPurgeSeq()}
		w.mu.Lock()
		if !w.known || now != w.base {
			w.fireLocked()
		}
		w.base, w.known, w.synced = now, true, true
		idle := !w.waiting && time.Since(w.lastUse) > w.c.opts.watchIdle
		w.mu.Unlock()
		if idle {
			return errIdle
		}
	}
}
