package mmaptrim

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapFile creates a file of size bytes under dir and maps it shared and
// writable, as badger maps its files.
func mapFile(t *testing.T, dir string, size int) []byte {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "data.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(int64(size)); err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	return m
}

// residentPages counts the pages of m mapped into this process: the Rss
// of its entry in /proc/self/smaps. (mincore would report the page cache,
// which trimming leaves alone.)
func residentPages(t *testing.T, m []byte) int {
	t.Helper()
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("%x-", uintptr(unsafe.Pointer(&m[0])))
	inEntry := false
	for _, line := range strings.Split(string(smaps), "\n") {
		if strings.Contains(line, " ") && !strings.HasSuffix(strings.Fields(line)[0], ":") {
			inEntry = strings.HasPrefix(line, head)
			continue
		}
		if kb, ok := strings.CutPrefix(line, "Rss:"); ok && inEntry {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n * 1024 / os.Getpagesize()
		}
	}
	t.Fatalf("mapping %s not in /proc/self/smaps", head)
	return 0
}

func TestTrimKeepsDataAndDropsResidency(t *testing.T) {
	dir := t.TempDir()
	const size = 8 << 20
	m := mapFile(t, dir, size)
	for i := range m {
		m[i] = byte(i % 251)
	}
	st, err := openStatm()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	before, err := st.fileResident()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	advised, err := tr.Trim()
	if err != nil {
		t.Fatal(err)
	}
	if advised != size {
		t.Fatalf("advised %d bytes, want %d", advised, size)
	}
	after, err := st.fileResident()
	if err != nil {
		t.Fatal(err)
	}
	if got := residentPages(t, m); got != 0 {
		t.Errorf("%d pages of the mapping resident after Trim, want 0", got)
	}
	if before-after < size/2 {
		t.Errorf("file-backed resident %d -> %d bytes: not trimmed", before, after)
	}
	// The modified pages are still the file's contents, through the
	// mapping and on disk after msync.
	for i := 0; i < size; i += 4093 {
		if m[i] != byte(i%251) {
			t.Fatalf("byte %d = %d after trim, want %d", i, m[i], byte(i%251))
		}
	}
	m[size-1] = 7 // a write after the trim faults the page back in
	if err := unix.Msync(m, unix.MS_SYNC); err != nil {
		t.Fatal(err)
	}
	disk, err := os.ReadFile(filepath.Join(dir, "data.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i % 251)
	}
	want[size-1] = 7
	if !bytes.Equal(disk, want) {
		t.Fatal("file contents differ from what was written through the mapping")
	}
}

func TestTrimLeavesOtherMappings(t *testing.T) {
	mine, other := t.TempDir(), t.TempDir()
	m := mapFile(t, other, 1<<20)
	for i := range m {
		m[i] = 1
	}
	tr, err := New(Options{Dir: mine})
	if err != nil {
		t.Fatal(err)
	}
	if advised, err := tr.Trim(); err != nil || advised != 0 {
		t.Fatalf("Trim = %d, %v; want nothing advised outside the directory", advised, err)
	}
	if got := residentPages(t, m); got != len(m)/os.Getpagesize() {
		t.Errorf("%d pages resident after trimming another directory, want all %d", got, len(m)/os.Getpagesize())
	}
}

func TestRunTrimsAboveBudget(t *testing.T) {
	dir := t.TempDir()
	m := mapFile(t, dir, 4<<20)
	tr, err := New(Options{Dir: dir, Budget: 1, Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for i := range m {
		m[i] = 2
	}
	deadline := time.Now().Add(10 * time.Second)
	for residentPages(t, m) > len(m)/os.Getpagesize()/2 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not trim a mapping above the budget")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSharedMappingUnderDir(t *testing.T) {
	tr := &Trimmer{dir: "/data/"}
	for _, tc := range []struct {
		line string
		ok   bool
	}{
		{"7f0000000000-7f0000001000 rw-s 00000000 08:01 1234 /data/000001.vlog", true},
		{"7f0000000000-7f0000001000 r--s 00000000 08:01 1234 /data/a b.sst", true},
		{"7f0000000000-7f0000001000 r--s 00000000 08:01 1234 /data/x.sst (deleted)", true},
		{"7f0000000000-7f0000001000 rw-p 00000000 08:01 1234 /data/000001.vlog", false},
		{"7f0000000000-7f0000001000 rw-s 00000000 08:01 1234 /database/x", false},
		{"7f0000000000-7f0000001000 rw-s 00000000 00:00 0", false},
		{"7f0000001000-7f0000000000 rw-s 00000000 08:01 1 /data/x", false},
		{"zz-7f0000000000 rw-s 00000000 08:01 1 /data/x", false},
		{"", false},
	} {
		if _, _, ok := tr.sharedMappingUnderDir(tc.line); ok != tc.ok {
			t.Errorf("%q: ok = %v, want %v", tc.line, ok, tc.ok)
		}
	}
}
