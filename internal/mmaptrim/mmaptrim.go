// Package mmaptrim keeps the file pages that a storage engine memory-maps
// from piling up in the process's resident set.
//
// Badger maps its value log, tables and memtable logs with mmap and writes
// and reads through those mappings. Every page it ever touched stays mapped
// into the process, so its resident set size grows with the data written
// even though those pages are only the kernel's page cache seen through a
// mapping. CouchDB reads with pread: the same bytes live in the page cache
// without counting against it. A Trimmer samples the process's file-backed
// resident pages and, above a budget, advises the kernel (MADV_DONTNEED)
// that the process no longer needs its mappings of files under a directory.
// For shared file mappings that only drops page-table entries: the data
// stays in the page cache, dirty pages are still written back (and msync
// still flushes them), and the next access is a minor fault that maps the
// cached page again. Nothing is lost or re-read from disk unless the kernel
// itself evicts it, as it may for any cached file.
//
// The mappings are also advised MADV_RANDOM, which keeps a fault from
// mapping more than the page it touches. The price is that cold reads
// through them get no readahead, which matters on spinning disks only.
//
// Sampling is a read of /proc/self/statm (microseconds), so it runs often:
// under random reads the resident set regrows within tens of milliseconds.
package mmaptrim

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"
)

// Options configure a Trimmer.
type Options struct {
	// Dir: only mappings of files under this directory are trimmed.
	Dir string
	// Budget is the file-backed resident size, in bytes, above which the
	// mappings are trimmed. It includes the executable's own pages (about
	// 17 MiB for divan). Zero means 32 MiB.
	Budget int64
	// Interval between samples. Zero means 10 ms.
	Interval time.Duration
	Logger   *slog.Logger
}

// Trimmer trims file mappings under a directory; see the package comment.
type Trimmer struct {
	dir      string
	budget   int64
	interval time.Duration
	log      *slog.Logger
}

// New returns a Trimmer; it does nothing until Run.
func New(o Options) (*Trimmer, error) {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	t := &Trimmer{dir: filepath.Clean(dir) + string(filepath.Separator), budget: o.Budget, interval: o.Interval, log: o.Logger}
	if t.budget <= 0 {
		t.budget = 32 << 20
	}
	if t.interval <= 0 {
		t.interval = 10 * time.Millisecond
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	return t, nil
}

// Run samples and trims until ctx ends. On systems where trimming is not
// supported it returns at once.
func (t *Trimmer) Run(ctx context.Context) {
	if !supported {
		return
	}
	st, err := openStatm()
	if err != nil {
		t.log.Warn("mmaptrim: sampling stopped", "err", err)
		return
	}
	defer st.Close()
	tick := time.NewTicker(t.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		resident, err := st.fileResident()
		if err != nil {
			t.log.Warn("mmaptrim: sampling stopped", "err", err)
			return
		}
		if resident <= t.budget {
			continue
		}
		if _, err := t.Trim(); err != nil {
			t.log.Warn("mmaptrim: trimming stopped", "err", err)
			return
		}
	}
}
