package shard

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/mmaptrim"
)

// ErrClosed is returned by operations on a closed Store or Shard.
var ErrClosed = errors.New("shard: closed")

// ErrNoShard reports a shard copy that does not exist on this node.
var ErrNoShard = errors.New("shard: no such shard copy")

// ErrShardExists reports a create of a shard copy that already exists.
var ErrShardExists = errors.New("shard: shard copy exists")

// Options configure a Store.
type Options struct {
	// Dir is the badger directory.
	Dir string
	// MaxBatchDocs bounds how many documents one group commit applies.
	MaxBatchDocs int
	// RevsLimit is the default _revs_limit of new shards (CouchDB: 1000).
	RevsLimit int
	// DefaultSecurity is the raw _security object of new shards.
	DefaultSecurity []byte
	// MemTableSize is badger's memtable size in bytes; memory use grows with
	// it. Zero takes a default sized for the 200 MB RSS budget.
	MemTableSize int64
	// MappedBudget is how much of badger's memory-mapped files may stay
	// resident in the process before its mappings are trimmed (see
	// internal/mmaptrim). Zero takes 32 MiB; negative never trims.
	MappedBudget int64
	// StaleSeqsBeforeCompact is how many stale by-seq pairs a shard copy
	// accumulates before it compacts its by-seq index on its own (see
	// seqindex.go): a feed skips each for the cost of a key, and the
	// compaction rewrites only the runs holding them. Zero takes 100,000.
	StaleSeqsBeforeCompact int
	// OnCommit, when set, is called with the shard's name after every
	// committed write batch (internal replication and caches listen). It
	// must not block.
	OnCommit func(shardName string)
	Logger   *slog.Logger
}

func (o *Options) setDefaults() {
	if o.MaxBatchDocs <= 0 {
		o.MaxBatchDocs = 2000
	}
	if o.RevsLimit <= 0 {
		o.RevsLimit = 1000
	}
	if o.StaleSeqsBeforeCompact <= 0 {
		o.StaleSeqsBeforeCompact = 100_000
	}
	if o.DefaultSecurity == nil {
		o.DefaultSecurity = []byte("{}")
	}
	if o.MemTableSize <= 0 {
		// A flush builds the whole memtable into one level-0 table, in
		// a buffer badger's builder pool then keeps (see Open): 16 MiB
		// memtables keep each under 32 MiB. Half as many flushes and
		// level-0 tables as with 8 MiB, which with 16 level-0 tables
		// (Open) is what keeps a growing store's compactions from
		// stalling writers; peak RSS stayed near 160 MiB.
		o.MemTableSize = 16 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Store is a node's storage: one badger instance holding every shard copy on
// the node. It is safe for concurrent use.
type Store struct {
	opts Options
	db   *badger.DB
	log  *slog.Logger

	stopTrim context.CancelFunc // ends the mmaptrim goroutine
	trimDone chan struct{}

	receipts *receiptLog // write receipts of all shards (receipts.go)

	// presenceHook, set by tests only, runs once a presence scan has taken
	// its snapshot.
	presenceHook func(*Shard)

	mu     sync.Mutex
	shards map[string]*Shard // open shard copies by name
	closed bool
}

// Open opens (creating if needed) the store in opts.Dir.
func Open(ctx context.Context, opts Options) (*Store, error) {
	opts.setDefaults()
	bo := badger.DefaultOptions(opts.Dir).
		WithLogger(badgerLogger{opts.Logger}).
		WithSyncWrites(true). // acknowledged writes are fsync'd; the updater batches them
		WithDetectConflicts(false).
		WithMemTableSize(opts.MemTableSize).
		WithNumMemtables(2).
		// Compaction, not the writes themselves, is what slows a store down
		// as it grows: each document leaves small LSM entries that every
		// level rewrites, and ids arrive in random order, so every
		// level-0 table overlaps all of the level below and each
		// compaction from level 0 rewrites that level whole. Up to 16
		// level-0 tables (badger: 5) before compacting them, with 16 MiB
		// memtables (setDefaults), spread that rewrite over four times the
		// data of 8 tables of 8 MiB: a 3-node cluster's fourth 6 s
		// _bulk_docs run fell to 18-21k docs/s with those and held at
		// 28-31k with these, and GET throughput did not change (the
		// updater looks new ids up in its presence filter, not in badger:
		// presence.go). A 64 MiB first level (badger: 10 MiB) halves the
		// rewriting of level 1.
		WithNumLevelZeroTables(16).
		WithNumLevelZeroTablesStall(32).
		WithBaseLevelSize(64 << 20).
		// Small tables on every level: badger builds each table in Go
		// memory, up to a dozen at once while compacting, and its pool
		// keeps eight builders' buffers (twice the table size, or what the
		// table grew to) for reuse. With 8 MiB tables that was 100-190 MB
		// of heap once a store held a few million entries, past the heap
		// limit, and the collector ran back to back: single-node
		// _bulk_docs fell from 62k to 17-34k docs/s over seven 8 s runs.
		// 1 MiB tables on every level keep it to a few tens of MB: 64k
		// falling to 42-50k, and the cluster's later runs 20-50% faster.
		WithBaseTableSize(1 << 20).
		// Tables are uncompressed and memory-mapped, so a block is read in
		// place; badger's docs advise no block cache then, and with mapped
		// blocks its cost accounting (cap of a slice into the mapping)
		// evicted nearly everything anyway: 25% hits under _bulk_docs.
		WithBlockCacheSize(0).
		WithIndexCacheSize(8 << 20).
		WithValueLogFileSize(256 << 20).
		// Bodies above 512 bytes live in the value log (WiscKey style):
		// the LSM holds keys, trees and pointers, so flushes and
		// compactions move little data; measured +50% _bulk_docs and
		// +35% GET throughput against keeping values in the LSM.
		WithValueThreshold(512).
		WithNumCompactors(2).
		// The LSM now holds mostly keys and small trees; compressing its
		// blocks cost CPU for little gain on two cores.
		WithCompression(options.None).
		WithMetricsEnabled(false)
	bo.TableSizeMultiplier = 1 // no With method; see WithBaseTableSize above
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("open badger at %s: %w", opts.Dir, err)
	}
	s := &Store{opts: opts, db: db, log: opts.Logger, shards: map[string]*Shard{}, trimDone: make(chan struct{}),
		receipts: newReceiptLog(receiptLogSize)}
	if err := s.startTrimmer(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// startTrimmer keeps badger's mappings from growing the resident set with
// everything ever written (internal/mmaptrim).
func (s *Store) startTrimmer() error {
	if s.opts.MappedBudget < 0 {
		close(s.trimDone)
		s.stopTrim = func() {}
		return nil
	}
	t, err := mmaptrim.New(mmaptrim.Options{Dir: s.opts.Dir, Budget: s.opts.MappedBudget, Logger: s.log})
	if err != nil {
		return fmt.Errorf("mmap trimmer: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopTrim = cancel
	go func() {
		defer close(s.trimDone)
		t.Run(ctx)
	}()
	return nil
}

// Close stops every shard's updater and closes badger. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	shards := s.shards
	s.shards = nil
	s.mu.Unlock()
	for _, sh := range shards {
		sh.close()
	}
	s.stopTrim()
	<-s.trimDone
	return s.db.Close()
}

// Create creates a shard copy. props is the raw JSON props object ("{}" when
// nil). It returns ErrShardExists when the copy exists.
func (s *Store) Create(ctx context.Context, name string, props []byte) (*Shard, error) {
	if props == nil {
		props = []byte("{}")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var handle uint32
	err := s.db.Update(func(txn *badger.Txn) error {
		if _, err := txn.Get(catalogKey(name)); err == nil {
			return ErrShardExists
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		handle = 1
		if item, err := txn.Get(keyNextHandle); err == nil {
			if err := item.Value(func(v []byte) error {
				handle = binary.BigEndian.Uint32(v)
				return nil
			}); err != nil {
				return err
			}
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		if err := txn.Set(keyNextHandle, binary.BigEndian.AppendUint32(nil, handle+1)); err != nil {
			return err
		}
		if err := txn.Set(catalogKey(name), binary.BigEndian.AppendUint32(nil, handle)); err != nil {
			return err
		}
		return initMeta(txn, newKeys(handle), props, s.opts)
	})
	if err != nil {
		if errors.Is(err, ErrShardExists) {
			return nil, err
		}
		return nil, fmt.Errorf("create shard %s: %w", name, err)
	}
	sh, err := openShard(s, name, handle)
	if err != nil {
		return nil, err
	}
	s.shards[name] = sh
	return sh, nil
}

// Get returns the open shard copy called name, opening it on first use, or
// ErrNoShard.
func (s *Store) Get(name string) (*Shard, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if sh, ok := s.shards[name]; ok {
		return sh, nil
	}
	var handle uint32
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(catalogKey(name))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			handle = binary.BigEndian.Uint32(v)
			return nil
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNoShard
	}
	if err != nil {
		return nil, fmt.Errorf("open shard %s: %w", name, err)
	}
	sh, err := openShard(s, name, handle)
	if err != nil {
		return nil, err
	}
	s.shards[name] = sh
	return sh, nil
}

// Delete removes a shard copy and all its data. ErrNoShard when missing.
func (s *Store) Delete(ctx context.Context, name string) error {
	sh, err := s.Get(name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.shards, name)
	s.mu.Unlock()
	sh.close()
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Delete(catalogKey(name))
	}); err != nil {
		return fmt.Errorf("delete shard %s: %w", name, err)
	}
	// The catalog entry is gone, so the copy is unreachable even if the
	// prefix drop below is interrupted; handles are never reused.
	if err := s.db.DropPrefix(sh.keys.prefix()); err != nil {
		return fmt.Errorf("drop shard %s data: %w", name, err)
	}
	return nil
}

// List returns the names of the shard copies on this node with the given
// prefix, sorted.
func (s *Store) List(prefix string) ([]string, error) {
	var names []string
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: catalogPrefix})
		defer it.Close()
		for it.Seek(catalogKey(prefix)); it.ValidForPrefix(catalogKey(prefix)); it.Next() {
			names = append(names, string(it.Item().Key()[len(catalogPrefix):]))
		}
		return nil
	})
	sort.Strings(names)
	return names, err
}

// badgerLogger adapts badger's logger interface to slog. Badger is chatty at
// info level, so its info lines go to debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Debugf(string, ...any) {}

// errNoDoc is internal: a doc info key is absent.
var errNoDoc = couch.ErrNotFound
