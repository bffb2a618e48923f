package cluster

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// SyncerConfig configures the internal replication scheduler.
type SyncerConfig struct {
	// Local opens a shard copy on this node.
	Local func(name string) (SyncCopy, error)
	// Dial opens a shard copy on another node.
	Dial func(ctx context.Context, node, name string) (SyncCopy, error)
	// LocalShards lists this node's shard copies ("shards/..." names).
	LocalShards func() ([]string, error)
	// Alive lists the nodes that can be reached now.
	Alive func() []string
	// Delay is how long after a write a copy is pushed ([mem3] sync_delay;
	// Divan defaults to 500 ms, CouchDB to 5 s).
	Delay time.Duration
	// Sweep is the period of the full anti-entropy pass.
	Sweep  time.Duration
	Logger *slog.Logger
}

// Syncer keeps the copies of every range converged (mem3_sync): it pushes a
// local copy to its peer copies shortly after it changes, all local copies on
// a periodic sweep and whenever membership changes. Node-local `_dbs` and
// `_nodes` are pushed to every live node the same way.
type Syncer struct {
	cfg SyncerConfig
	cl  *Cluster
	log *slog.Logger

	mu    sync.Mutex
	dirty map[string]time.Time // shard name -> when it may be pushed
	kick  chan struct{}
}

// NewSyncer returns a Syncer; Run starts it.
func NewSyncer(cl *Cluster, cfg SyncerConfig) *Syncer {
	if cfg.Delay <= 0 {
		cfg.Delay = 500 * time.Millisecond
	}
	if cfg.Sweep <= 0 {
		cfg.Sweep = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Syncer{cfg: cfg, cl: cl, log: cfg.Logger.With("component", "syncer"),
		dirty: map[string]time.Time{}, kick: make(chan struct{}, 1)}
}

// Changed marks a local copy as written; it is pushed after Delay.
func (s *Syncer) Changed(name string) {
	s.mu.Lock()
	if _, ok := s.dirty[name]; !ok {
		s.dirty[name] = time.Now().Add(s.cfg.Delay)
	}
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// SweepNow schedules a push of every local copy (membership changed).
func (s *Syncer) SweepNow() {
	names, err := s.cfg.LocalShards()
	if err != nil {
		s.log.Warn("list local shards", "err", err)
		return
	}
	now := time.Now()
	s.mu.Lock()
	for _, n := range append(names, DBsDB, NodesDB) {
		s.dirty[n] = now
	}
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run pushes dirty copies until ctx ends.
func (s *Syncer) Run(ctx context.Context) error {
	sweep := time.NewTicker(s.cfg.Sweep)
	defer sweep.Stop()
	timer := time.NewTimer(s.cfg.Delay)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sweep.C:
			s.SweepNow()
		case <-s.kick:
		case <-timer.C:
		}
		next := s.pushDue(ctx)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// pushDue pushes every copy whose time has come and returns how long to
// wait for the next one.
func (s *Syncer) pushDue(ctx context.Context) time.Duration {
	now := time.Now()
	var due []string
	wait := s.cfg.Sweep
	s.mu.Lock()
	for name, at := range s.dirty {
		if !at.After(now) {
			due = append(due, name)
			delete(s.dirty, name)
		} else {
			wait = min(wait, at.Sub(now))
		}
	}
	s.mu.Unlock()
	// Copies are pushed a few at a time, so that a long push of one copy
	// does not hold back the others' (the lag that makes a push read its
	// changes back from disk rather than from the doc info cache).
	var g errgroup.Group
	g.SetLimit(pushParallelism)
	var failed atomic.Bool
	for _, name := range due {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := s.pushCopy(ctx, name); err != nil {
				s.log.Debug("internal replication incomplete; will retry", "shard", name, "err", err)
				s.mu.Lock()
				if _, ok := s.dirty[name]; !ok {
					s.dirty[name] = time.Now().Add(retryDelay)
				}
				s.mu.Unlock()
				failed.Store(true)
			}
			return nil
		})
	}
	g.Wait()
	if failed.Load() {
		wait = min(wait, retryDelay)
	}
	return max(wait, 10*time.Millisecond)
}

// pushCopy pushes one local copy to every live peer copy.
func (s *Syncer) pushCopy(ctx context.Context, name string) error {
	src, err := s.cfg.Local(name)
	if err != nil {
		return err
	}
	self := s.cl.Self()
	alive := map[string]bool{}
	for _, n := range s.cfg.Alive() {
		alive[n] = true
	}
	var peers []string
	if name == DBsDB || name == NodesDB {
		// Node-local system dbs go to live cluster members only (mem3_sync):
		// a node gossip can see is not a member until `_nodes` says so.
		members, err := s.cl.Members(ctx)
		if err != nil {
			return err
		}
		for _, m := range members {
			if m.Name != self && alive[m.Name] {
				peers = append(peers, m.Name)
			}
		}
	} else {
		db, rng, ok := ParseShardName(name)
		if !ok {
			return nil
		}
		m, err := s.cl.ShardMap(ctx, db)
		if err != nil {
			return err // db deleted: nothing to keep in step
		}
		for _, n := range m.ByRange[rng] {
			if n != self && alive[n] {
				peers = append(peers, n)
			}
		}
	}
	// Peers are pushed at once: one after the other, the last peer's
	// copy fell behind by the time the others took.
	errs := make([]error, len(peers))
	var held atomic.Bool
	var wg sync.WaitGroup
	for i, peer := range peers {
		wg.Go(func() {
			tgt, err := s.cfg.Dial(ctx, peer, name)
			if err == nil {
				var pending int64
				pending, err = push(ctx, src, self, tgt, peer, writeInFlight)
				if err == nil && pending > 0 {
					held.Store(true)
				}
			}
			errs[i] = err
		})
	}
	wg.Wait()
	err = errors.Join(errs...)
	if err == nil && held.Load() {
		// Writes still on their way to a peer, or newer than the push:
		// look again soon, written to or not. (A failed push is retried
		// after retryDelay instead.)
		s.Changed(name)
	}
	return err
}

const (
	// pushParallelism bounds how many local copies are pushed at once.
	pushParallelism = 4
	// writeInFlight is how long a push leaves alone a write its target
	// does not hold yet. Fabric sends a write to every copy at once, and
	// under load the last copy commits it up to a second or two after the
	// first; a push that compared it sooner would send it again.
	writeInFlight = 2 * time.Second
	// retryDelay is how long a copy whose push failed waits to be retried.
	retryDelay = 5 * time.Second
)

var suffixRE = regexp.MustCompile(`\.[0-9]{10,}$`)

// ParseShardName splits "shards/<range>/<db><suffix>" into the database
// name and range (mem3:dbname).
func ParseShardName(name string) (db string, r Range, ok bool) {
	rest, found := strings.CutPrefix(name, "shards/")
	if !found {
		return "", Range{}, false
	}
	rs, dbs, found := strings.Cut(rest, "/")
	if !found {
		return "", Range{}, false
	}
	r, err := ParseRange(rs)
	if err != nil {
		return "", Range{}, false
	}
	if loc := suffixRE.FindStringIndex(dbs); loc != nil {
		dbs = dbs[:loc[0]]
	} else if i := strings.LastIndexByte(dbs, '.'); i > 0 {
		dbs = dbs[:i]
	}
	return dbs, r, true
}
