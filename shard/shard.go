package shard

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
)

// Shard is one shard copy. Reads run concurrently on badger snapshots; writes
// are serialised through the shard's updater goroutine. It is safe for
// concurrent use.
type Shard struct {
	store *Store
	db    *badger.DB
	name  string
	keys  keys
	uuid  string

	mu    sync.Mutex // guards stats and revsLimit
	stats stats
	// revsLimit is read by the updater on every batch.
	revsLimit int

	counts     countCache // recent _all_docs offset counts
	compacting atomic.Bool
	// presence lets the updater skip lookups of new ids (presence.go);
	// scanningIDs flags the scan that builds it.
	presence    presenceState
	scanningIDs atomic.Bool
	// staleMarks counts the stale by-seq markers written since the index
	// was last compacted (updater only); past
	// Options.StaleSeqsBeforeCompact the updater starts compactSeqIndex,
	// flagged by compactingSeqs.
	staleMarks     int
	compactingSeqs atomic.Bool
	// bg counts background work (compactions); bgMu guards starting it,
	// which stops once stopping is set.
	bg       sync.WaitGroup
	bgMu     sync.Mutex
	stopping bool

	// Writers hold submitMu's read lock while queueing on reqs, so once
	// close has taken the write lock and set closed, nothing more is
	// queued and the updater can drain reqs and exit (on quit).
	reqs     chan *updateReq
	submitMu sync.RWMutex
	closed   bool
	stop     chan struct{} // closed first: background work ends
	quit     chan struct{} // closed last: the updater drains and exits
	done     chan struct{} // closed by the updater on exit
	closeMu  sync.Once

	// notify is closed and replaced after every committed batch, so readers
	// (changes feeds) can wait for new writes.
	notifyMu sync.Mutex
	notify   chan struct{}
}

// stats are the counters persisted with every batch under meta "stats".
type stats struct {
	UpdateSeq   uint64
	PurgeSeq    uint64
	DocCount    int64
	DocDelCount int64
	// External is the size of the winning revisions' bodies; Active that of
	// every stored body and tree.
	External int64
	Active   int64
	// LocalSeq counts writes of _local documents other than internal
	// replication's own, so replication can tell when they changed.
	LocalSeq uint64
}

func (s stats) encode() []byte {
	b := make([]byte, 0, 48)
	b = binary.AppendUvarint(b, s.UpdateSeq)
	b = binary.AppendUvarint(b, s.PurgeSeq)
	b = binary.AppendVarint(b, s.DocCount)
	b = binary.AppendVarint(b, s.DocDelCount)
	b = binary.AppendVarint(b, s.External)
	b = binary.AppendVarint(b, s.Active)
	return binary.AppendUvarint(b, s.LocalSeq)
}

func decodeStats(b []byte) (stats, error) {
	var s stats
	var n int
	next := func(signed bool) int64 {
		if n < 0 {
			return 0
		}
		var v int64
		var k int
		if signed {
			v, k = binary.Varint(b[n:])
		} else {
			var u uint64
			u, k = binary.Uvarint(b[n:])
			v = int64(u)
		}
		if k <= 0 {
			n = -1
			return 0
		}
		n += k
		return v
	}
	s.UpdateSeq = uint64(next(false))
	s.PurgeSeq = uint64(next(false))
	s.DocCount = next(true)
	s.DocDelCount = next(true)
	s.External = next(true)
	s.Active = next(true)
	if n >= 0 && n < len(b) { // absent from stats written before it existed
		s.LocalSeq = uint64(next(false))
	}
	if n < 0 {
		return stats{}, errors.New("shard: corrupt stats")
	}
	return s, nil
}

const (
	metaStats     = "stats"
	metaUUID      = "uuid"
	metaRevsLimit = "revs_limit"
	metaSecurity  = "security"
	metaSecVer    = "security_version"
	metaProps     = "props"
	metaPurgeLim  = "purged_infos_limit"
)

func initMeta(txn *badger.Txn, k keys, props []byte, opts Options) error {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return err
	}
	sets := []struct {
		key string
		val []byte
	}{
		{metaStats, stats{}.encode()},
		{metaUUID, []byte(hex.EncodeToString(u[:]))},
		{metaRevsLimit, binary.AppendUvarint(nil, uint64(opts.RevsLimit))},
		{metaSecurity, opts.DefaultSecurity},
		{metaProps, props},
		{metaPurgeLim, binary.AppendUvarint(nil, 1000)},
	}
	for _, s := range sets {
		if err := txn.Set(k.meta(s.key), s.val); err != nil {
			return err
		}
	}
	return nil
}

func openShard(s *Store, name string, handle uint32) (*Shard, error) {
	sh := &Shard{
		store:  s,
		db:     s.db,
		name:   name,
		keys:   newKeys(handle),
		reqs:   make(chan *updateReq, 256),
		stop:   make(chan struct{}),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		notify: make(chan struct{}),
	}
	err := s.db.View(func(txn *badger.Txn) error {
		v, err := getValue(txn, sh.keys.meta(metaStats))
		if err != nil {
			return err
		}
		if sh.stats, err = decodeStats(v); err != nil {
			return err
		}
		v, err = getValue(txn, sh.keys.meta(metaUUID))
		if err != nil {
			return err
		}
		sh.uuid = string(v)
		v, err = getValue(txn, sh.keys.meta(metaRevsLimit))
		if err != nil {
			return err
		}
		limit, _ := binary.Uvarint(v)
		sh.revsLimit = int(limit)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load shard %s metadata: %w", name, err)
	}
	if err := sh.migrateSeqIndex(); err != nil {
		return nil, err
	}
	go sh.runUpdater()
	return sh, nil
}

// close stops the updater after it finishes the requests already queued.
func (sh *Shard) close() {
	sh.closeMu.Do(func() {
		sh.bgMu.Lock()
		sh.stopping = true
		sh.bgMu.Unlock()
		close(sh.stop)
		sh.bg.Wait() // the updater still serves what background work queues
		sh.submitMu.Lock()
		sh.closed = true
		sh.submitMu.Unlock()
		close(sh.quit)
		<-sh.done
	})
}

// handle is the shard copy's number in the store (the key prefix).
func (sh *Shard) handle() uint32 { return binary.BigEndian.Uint32(sh.keys[1:]) }

// Name returns the shard copy's name, e.g. "shards/00000000-7fffffff/db.1700000000".
func (sh *Shard) Name() string { return sh.name }

// UUID returns the shard copy's 32-hex uuid, fixed at creation.
func (sh *Shard) UUID() string { return sh.uuid }

// Info is a shard copy's metadata and counters.
type Info struct {
	Name        string
	UUID        string
	UpdateSeq   uint64
	PurgeSeq    uint64
	DocCount    int64
	DocDelCount int64
	External    int64
	Active      int64
	Props       []byte
	// SecurityVersion is the version of the _security object (see
	// Security); internal replication compares it.
	SecurityVersion uint64
	// LocalSeq changes whenever a _local document (other than internal
	// replication's own) is written.
	LocalSeq uint64
}

// Info returns the shard's current counters.
func (sh *Shard) Info(ctx context.Context) (Info, error) {
	sh.mu.Lock()
	st := sh.stats
	sh.mu.Unlock()
	var props []byte
	var secVersion uint64
	err := sh.db.View(func(txn *badger.Txn) error {
		var err error
		if props, err = getValue(txn, sh.keys.meta(metaProps)); err != nil {
			return err
		}
		_, secVersion, err = sh.readSecurity(txn)
		return err
	})
	if err != nil {
		return Info{}, fmt.Errorf("read info of %s: %w", sh.name, err)
	}
	return Info{
		Name: sh.name, UUID: sh.uuid,
		UpdateSeq: st.UpdateSeq, PurgeSeq: st.PurgeSeq,
		DocCount: st.DocCount, DocDelCount: st.DocDelCount,
		External: st.External, Active: st.Active, Props: props,
		SecurityVersion: secVersion, LocalSeq: st.LocalSeq,
	}, nil
}

// Security returns the raw _security object and its version (0 until it
// is first set). Versions order settings across the copies of a database:
// internal replication carries the greater (version, object) pair to every
// copy, so the last setting wins everywhere, where CouchDB's
// mem3_sync_security votes and may give up when copies disagree.
func (sh *Shard) Security(ctx context.Context) ([]byte, uint64, error) {
	var sec []byte
	var version uint64
	err := sh.db.View(func(txn *badger.Txn) error {
		var err error
		sec, version, err = sh.readSecurity(txn)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read security of %s: %w", sh.name, err)
	}
	return sec, version, nil
}

func (sh *Shard) readSecurity(txn *badger.Txn) ([]byte, uint64, error) {
	sec, err := getValue(txn, sh.keys.meta(metaSecurity))
	if err != nil {
		return nil, 0, err
	}
	v, err := getValue(txn, sh.keys.meta(metaSecVer))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return sec, 0, nil
	}
	if err != nil || len(v) != 8 {
		return nil, 0, fmt.Errorf("bad security version %x: %w", v, err)
	}
	return sec, binary.BigEndian.Uint64(v), nil
}

// SetSecurity stores the raw _security object (validated by the caller) at
// version, unless the copy holds a greater (version, object) pair already;
// it reports whether it stored it. Version 0 means one above the current.
func (sh *Shard) SetSecurity(ctx context.Context, sec []byte, version uint64) (applied bool, err error) {
	err = sh.db.Update(func(txn *badger.Txn) error {
		cur, curVer, err := sh.readSecurity(txn)
		if err != nil {
			return err
		}
		if version == 0 {
			version = curVer + 1
		}
		if version < curVer || version == curVer && bytes.Compare(sec, cur) <= 0 {
			return nil
		}
		applied = true
		if err := txn.Set(sh.keys.meta(metaSecurity), sec); err != nil {
			return err
		}
		return txn.Set(sh.keys.meta(metaSecVer), binary.BigEndian.AppendUint64(nil, version))
	})
	if err != nil {
		return false, fmt.Errorf("write security of %s: %w", sh.name, err)
	}
	return applied, nil
}

// RevsLimit returns _revs_limit.
func (sh *Shard) RevsLimit(ctx context.Context) (int, error) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.revsLimit, nil
}

// SetRevsLimit sets _revs_limit; it applies to subsequent writes.
func (sh *Shard) SetRevsLimit(ctx context.Context, limit int) error {
	if limit < 1 {
		return fmt.Errorf("shard: revs_limit %d must be positive", limit)
	}
	if err := sh.setMeta(metaRevsLimit, binary.AppendUvarint(nil, uint64(limit))); err != nil {
		return err
	}
	sh.mu.Lock()
	sh.revsLimit = limit
	sh.mu.Unlock()
	return nil
}

// PurgedInfosLimit returns _purged_infos_limit.
func (sh *Shard) PurgedInfosLimit(ctx context.Context) (int, error) {
	v, err := sh.getMeta(metaPurgeLim)
	if err != nil {
		return 0, err
	}
	n, _ := binary.Uvarint(v)
	return int(n), nil
}

// SetPurgedInfosLimit sets _purged_infos_limit.
func (sh *Shard) SetPurgedInfosLimit(ctx context.Context, limit int) error {
	return sh.setMeta(metaPurgeLim, binary.AppendUvarint(nil, uint64(limit)))
}

func (sh *Shard) getMeta(name string) ([]byte, error) {
	var out []byte
	err := sh.db.View(func(txn *badger.Txn) error {
		v, err := getValue(txn, sh.keys.meta(name))
		out = v
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s of %s: %w", name, sh.name, err)
	}
	return out, nil
}

func (sh *Shard) setMeta(name string, v []byte) error {
	if err := sh.db.Update(func(txn *badger.Txn) error {
		return txn.Set(sh.keys.meta(name), v)
	}); err != nil {
		return fmt.Errorf("write %s of %s: %w", name, sh.name, err)
	}
	return nil
}

// Changed returns a channel that is closed after the next committed write.
func (sh *Shard) Changed() <-chan struct{} {
	sh.notifyMu.Lock()
	defer sh.notifyMu.Unlock()
	return sh.notify
}

func (sh *Shard) broadcast() {
	sh.notifyMu.Lock()
	close(sh.notify)
	sh.notify = make(chan struct{})
	sh.notifyMu.Unlock()
}

// getValue returns a copy of the value at key.
func getValue(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}
