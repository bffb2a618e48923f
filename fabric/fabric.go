package fabric

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/divandb/divan/cluster"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/shard"
)

// Config configures a Fabric.
type Config struct {
	// DefaultQ and DefaultN are `[cluster] q` and `n` (CouchDB: 2 and 3).
	DefaultQ int
	DefaultN int
	// Placement is `[cluster] placement` ("zone:n,…"), applied to new
	// databases created without ?placement=; empty places by n alone.
	Placement string
	// NodeLocal marks a fabric over a node's own unsharded databases: shard
	// maps are not written to other nodes.
	NodeLocal bool
	// Attachments is the [attachments] compression policy and size limit.
	Attachments couch.AttachmentPolicy
	Logger      *slog.Logger
	// RequestTimeout bounds each call to a shard copy that a request starts,
	// including the writes that go on after the request was answered at
	// quorum (CouchDB's [fabric] request_timeout); 0 means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Now returns the current time; shard suffixes use it.
	Now func() time.Time
	// NodeWriteWindow bounds the document bytes of copy writes this node
	// has in flight to any one node (window.go); 0 means
	// DefaultNodeWriteWindow.
	NodeWriteWindow int64
	// WindowStall is how long a full window may see no write to its node
	// succeed before writes stop waiting for room; 0 means 2s.
	WindowStall time.Duration
	// WindowMaxWait bounds a copy write's wait for room; 0 means 10s.
	WindowMaxWait time.Duration
}

// DefaultRequestTimeout is CouchDB's [fabric] request_timeout default.
const DefaultRequestTimeout = 60 * time.Second

// Maps is where fabric finds databases and their shard maps: the cluster
// view (*cluster.Cluster) for clustered databases, or a node's own unsharded
// copies (cluster.NodeLocalMaps) for the node-local API.
type Maps interface {
	Self() string
	Nodes(ctx context.Context) ([]string, error)
	AllowedMembers(ctx context.Context) ([]cluster.Member, error)
	ShardMap(ctx context.Context, db string) (*cluster.ShardMap, error)
	CreateDB(ctx context.Context, m *cluster.ShardMap) error
	DeleteDB(ctx context.Context, db string) error
	DBs(ctx context.Context, q shard.DocsQuery, fn func(name string) error) error
}

var _ Maps = (*cluster.Cluster)(nil)

// Fabric coordinates clustered requests. It is safe for concurrent use.
type Fabric struct {
	cfg    Config
	cl     Maps
	copies Copies
	log    *slog.Logger
	// bg counts the goroutines a request leaves behind (copy writes after
	// quorum, read repairs); each ends by itself, within RequestTimeout or
	// readRepairTimeout.
	bg sync.WaitGroup
	// windows bound the writes in flight to each node (window.go).
	windows *writeWindows
}

// Wait blocks until the work requests left running in the background
// (writes to copies slower than the quorum, read repairs) has finished, or
// ctx ends. Call it before closing storage on shutdown.
func (f *Fabric) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		f.bg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("fabric: background work still running: %w", context.Cause(ctx))
	}
}

// New returns a Fabric over a cluster view and a way to reach shard copies.
func New(cfg Config, cl Maps, copies Copies) *Fabric {
	if cfg.DefaultQ <= 0 {
		cfg.DefaultQ = 2
	}
	if cfg.DefaultN <= 0 {
		cfg.DefaultN = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Attachments.CompressibleTypes == nil {
		cfg.Attachments = couch.DefaultAttachmentPolicy()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.NodeWriteWindow <= 0 {
		cfg.NodeWriteWindow = DefaultNodeWriteWindow
	}
	if cfg.WindowStall <= 0 {
		cfg.WindowStall = defaultWindowStall
	}
	if cfg.WindowMaxWait <= 0 {
		cfg.WindowMaxWait = defaultWindowMaxWait
	}
	return &Fabric{cfg: cfg, cl: cl, copies: copies, log: cfg.Logger.With("component", "fabric"),
		windows: newWriteWindows(cfg.NodeWriteWindow, cfg.WindowStall, cfg.WindowMaxWait)}
}

// detached returns a context for work that may outlive the request of ctx:
// it keeps ctx's values (request id, logging) but not its cancellation, and
// ends after RequestTimeout.
func (f *Fabric) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), f.cfg.RequestTimeout)
}

// quorum is CouchDB's n div 2 + 1.
func quorum(n int) int { return n/2 + 1 }

// CreateDB creates a database: its shard copies on their nodes, then its
// shard map.
func (f *Fabric) CreateDB(ctx context.Context, name string, opts CreateDBOptions) error {
	if _, err := f.cl.ShardMap(ctx, name); err == nil {
		return couch.ErrDBExists
	} else if !errors.Is(err, couch.ErrNoDB) {
		return err
	}
	q, n := opts.Q, opts.N
	if q <= 0 {
		q = f.cfg.DefaultQ
	}
	if n <= 0 {
		n = f.cfg.DefaultN
	}
	suffix := "." + strconv.FormatInt(f.cfg.Now().Unix(), 10)
	var m *cluster.ShardMap
	var err error
	if f.cfg.NodeLocal {
		m = cluster.NodeLocalMap(name, f.cl.Self())
	} else if m, err = f.placeShards(ctx, name, suffix, q, n, opts.Placement); err != nil {
		return err
	}
	for _, r := range m.Ranges() {
		for _, c := range m.Copies(r) {
			err := f.copies.Create(ctx, c.Node, c.Name, m.Props)
			if err != nil && !errors.Is(err, shard.ErrShardExists) {
				return fmt.Errorf("create %s on %s: %w", c.Name, c.Node, err)
			}
		}
	}
	if err := f.cl.CreateDB(ctx, m); err != nil {
		return err
	}
	f.broadcastShardMap(ctx, name)
	return nil
}

// placeShards chooses the nodes of a new database's copies: by zone when a
// placement is given (per request, else `[cluster] placement`), otherwise n
// copies of each range round-robin over the allowed nodes from a random
// start (mem3:choose_shards).
func (f *Fabric) placeShards(ctx context.Context, name, suffix string, q, n int, placement string) (*cluster.ShardMap, error) {
	members, err := f.cl.AllowedMembers(ctx)
	if err != nil {
		return nil, err
	}
	if placement == "" {
		placement = f.cfg.Placement
	}
	if placement == "" {
		nodes := make([]string, len(members))
		for i, m := range members {
			nodes[i] = m.Name
		}
		return cluster.Place(name, suffix, q, n, nodes, rand.IntN(len(nodes))), nil
	}
	rules, err := cluster.ParsePlacement(placement)
	if err != nil {
		return nil, couch.Errorf(couch.CodeBadRequest, "The `placement` value should be in a format `zone:n`.")
	}
	m, err := cluster.PlaceZoned(name, suffix, q, rules, members, rand.IntN)
	if errors.Is(err, cluster.ErrNoNodesInZone) {
		// chttpd answers the error mem3 raises as an unknown 500.
		return nil, couch.Errorf(couch.CodeUnknown, "no_nodes_in_zone")
	}
	return m, err
}

// DeleteDB deletes a database's shard map, then its copies.
func (f *Fabric) DeleteDB(ctx context.Context, name string) error {
	m, err := f.cl.ShardMap(ctx, name)
	if err != nil {
		return err
	}
	if err := f.cl.DeleteDB(ctx, name); err != nil {
		return err
	}
	f.broadcastShardMap(ctx, name)
	for _, r := range m.Ranges() {
		for _, c := range m.Copies(r) {
			if err := f.copies.Delete(ctx, c.Node, c.Name); err != nil && !errors.Is(err, shard.ErrNoShard) {
				f.log.WarnContext(ctx, "delete shard copy", "shard", c.Name, "node", c.Node, "err", err)
			}
		}
	}
	return nil
}

// AllDBs lists databases in sorted order.
func (f *Fabric) AllDBs(ctx context.Context) ([]string, error) {
	var names []string
	err := f.cl.DBs(ctx, shard.DocsQuery{Limit: -1, InclusiveEnd: true}, func(name string) error {
		names = append(names, name)
		return nil
	})
	return names, err
}

// ringCopies returns one reachable copy per range (the first that opens),
// with its range, in range order.
func (f *Fabric) ringCopies(ctx context.Context, m *cluster.ShardMap, prefer map[cluster.Range]string) ([]rangeCopy, error) {
	ranges := m.Ranges()
	out := make([]rangeCopy, 0, len(ranges))
	for _, r := range ranges {
		var lastErr error
		found := false
		// The copy a caller asks for first (the one a changes seq was read
		// from), then this node's own, then the others in map order.
		copies := m.Copies(r)
		preferred, self := prefer[r], f.cl.Self()
		rank := func(c cluster.Copy) int {
			switch {
			case preferred != "" && c.Node == preferred:
				return 0
			case c.Node == self:
				return 1
			}
			return 2
		}
		slices.SortStableFunc(copies, func(a, b cluster.Copy) int { return cmp.Compare(rank(a), rank(b)) })
		for _, c := range copies {
			cp, err := f.copies.Copy(ctx, c.Node, c.Name)
			if err != nil {
				lastErr = err
				continue
			}
			out = append(out, rangeCopy{Copy: cp, meta: c})
			found = true
			break
		}
		if !found {
			return nil, fmt.Errorf("no copy of %s range %s is reachable: %w", m.DB, r, lastErr)
		}
	}
	return out, nil
}

// oneCopy returns a reachable copy of db, for metadata every copy holds.
func (f *Fabric) oneCopy(ctx context.Context, db string) (Copy, error) {
	m, err := f.cl.ShardMap(ctx, db)
	if err != nil {
		return nil, err
	}
	ring, err := f.ringCopies(ctx, m, nil)
	if err != nil {
		return nil, err
	}
	return ring[0].Copy, nil
}

type rangeCopy struct {
	Copy
	meta cluster.Copy
}

// allCopies returns every reachable copy of range r, in shard map order,
// and the errors of the unreachable ones. The copies are opened in parallel
// (opening a remote copy is an RPC), so the wait is that of the slowest
// node, not the sum.
func (f *Fabric) allCopies(ctx context.Context, m *cluster.ShardMap, r cluster.Range) ([]rangeCopy, []error) {
	metas := m.Copies(r)
	opened := make([]Copy, len(metas))
	errs := make([]error, len(metas))
	_ = parallel(ctx, len(metas), func(ctx context.Context, i int) error {
		opened[i], errs[i] = f.copies.Copy(ctx, metas[i].Node, metas[i].Name)
		return nil
	})
	var out []rangeCopy
	var failed []error
	for i, c := range metas {
		if errs[i] != nil {
			failed = append(failed, errs[i])
			continue
		}
		out = append(out, rangeCopy{Copy: opened[i], meta: c})
	}
	return out, failed
}

// DBInfo aggregates info over one copy per range.
func (f *Fabric) DBInfo(ctx context.Context, db string) (*DBInfo, error) {
	m, err := f.cl.ShardMap(ctx, db)
	if err != nil {
		return nil, err
	}
	ring, err := f.ringCopies(ctx, m, nil)
	if err != nil {
		return nil, err
	}
	infos := make([]shard.Info, len(ring))
	if err := parallel(ctx, len(ring), func(ctx context.Context, i int) error {
		var err error
		infos[i], err = ring[i].Info(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	n := m.N()
	out := &DBInfo{
		Name: db, Q: m.Q(), N: n, W: quorum(n), R: quorum(n),
		InstanceStartTime: m.CreationTime(), Props: m.Props,
	}
	if len(out.Props) == 0 {
		out.Props = []byte("{}")
	}
	seqs := make([]RangeSeq, len(ring))
	purges := make([]RangeSeq, len(ring))
	for i, info := range infos {
		out.DocCount += info.DocCount
		out.DocDelCount += info.DocDelCount
		out.SizeExternal += info.External
		out.SizeActive += info.Active
		seqs[i] = RangeSeq{Node: ring[i].meta.Node, Range: ring[i].meta.Range, Seq: info.UpdateSeq, UUID: info.UUID}
		purges[i] = seqs[i]
		purges[i].Seq = info.PurgeSeq
		if cc, ok := ring[i].Copy.(compacter); ok && cc.Compacting() {
			out.CompactRunning = true
		}
	}
	out.SizeFile = out.SizeActive
	out.UpdateSeq = f.packSeq(seqs)
	out.PurgeSeq = f.packSeq(purges)
	return out, nil
}

// Security returns the db's _security object from one copy.
func (f *Fabric) Security(ctx context.Context, db string) ([]byte, error) {
	c, err := f.oneCopy(ctx, db)
	if err != nil {
		return nil, err
	}
	sec, _, err := c.Security(ctx)
	return sec, err
}

// SetSecurity stores the _security object on every copy, versioned above
// every version the reachable copies hold (and the clock) so that internal
// replication carries it to copies that missed it and none reverts it.
func (f *Fabric) SetSecurity(ctx context.Context, db string, sec []byte) error {
	version := uint64(f.cfg.Now().UnixNano())
	err := f.onEveryCopy(ctx, db, func(ctx context.Context, c Copy) error {
		_, v, err := c.Security(ctx)
		version = max(version, v+1) // onEveryCopy calls one copy at a time
		return err
	})
	if err != nil {
		return err
	}
	return f.onEveryCopy(ctx, db, func(ctx context.Context, c Copy) error {
		_, err := c.SetSecurity(ctx, sec, version)
		return err
	})
}

// RevsLimit returns the db's _revs_limit from one copy.
func (f *Fabric) RevsLimit(ctx context.Context, db string) (int, error) {
	c, err := f.oneCopy(ctx, db)
	if err != nil {
		return 0, err
	}
	return c.RevsLimit(ctx)
}

// SetRevsLimit sets _revs_limit on every copy.
func (f *Fabric) SetRevsLimit(ctx context.Context, db string, limit int) error {
	return f.onEveryCopy(ctx, db, func(ctx context.Context, c Copy) error { return c.SetRevsLimit(ctx, limit) })
}

// onEveryCopy runs fn on every reachable copy of every range; it succeeds
// when at least one copy of each range did.
func (f *Fabric) onEveryCopy(ctx context.Context, db string, fn func(context.Context, Copy) error) error {
	m, err := f.cl.ShardMap(ctx, db)
	if err != nil {
		return err
	}
	for _, r := range m.Ranges() {
		copies, errs := f.allCopies(ctx, m, r)
		ok := 0
		for _, c := range copies {
			if err := fn(ctx, c); err != nil {
				errs = append(errs, err)
				continue
			}
			ok++
		}
		if ok == 0 {
			return fmt.Errorf("range %s of %s: %w", r, db, errors.Join(errs...))
		}
	}
	return nil
}

// parallel runs fn(i) for i in [0,n) concurrently and returns the first error.
func parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	if n == 0 {
		return nil
	}
	if n == 1 {
		return fn(ctx, 0)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(ctx, i)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// compacter is offered by copies that compact (the local shard; a remote
// copy compacts on its own node).
type compacter interface {
	StartCompaction()
	Compacting() bool
}

// Compact starts compaction of every reachable copy of db and returns
// without waiting, as CouchDB's POST /{db}/_compact does.
func (f *Fabric) Compact(ctx context.Context, db string) error {
	m, err := f.cl.ShardMap(ctx, db)
	if err != nil {
		return err
	}
	for _, r := range m.Ranges() {
		copies, _ := f.allCopies(ctx, m, r)
		for _, c := range copies {
			if cc, ok := c.Copy.(compacter); ok {
				cc.StartCompaction()
			}
		}
	}
	return nil
}

// purgeLimiter is offered by copies that store _purged_infos_limit.
type purgeLimiter interface {
	PurgedInfosLimit(ctx context.Context) (int, error)
	SetPurgedInfosLimit(ctx context.Context, limit int) error
}

// PurgedInfosLimit returns the db's _purged_infos_limit from one copy.
func (f *Fabric) PurgedInfosLimit(ctx context.Context, db string) (int, error) {
	c, err := f.oneCopy(ctx, db)
	if err != nil {
		return 0, err
	}
	if pl, ok := c.(purgeLimiter); ok {
		return pl.PurgedInfosLimit(ctx)
	}
	return 1000, nil
}

// SetPurgedInfosLimit sets _purged_infos_limit on every copy.
func (f *Fabric) SetPurgedInfosLimit(ctx context.Context, db string, limit int) error {
	return f.onEveryCopy(ctx, db, func(ctx context.Context, c Copy) error {
		if pl, ok := c.(purgeLimiter); ok {
			return pl.SetPurgedInfosLimit(ctx, limit)
		}
		return nil
	})
}
