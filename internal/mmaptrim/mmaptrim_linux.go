package mmaptrim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

const supported = true

// statm reads the process's resident file-backed and shared memory: the
// third field of /proc/self/statm, in pages. The file stays open and is
// re-read with pread, which regenerates it: a sample is one system call,
// not three (Run samples every 10 ms in every node).
type statm struct {
	f   *os.File
	buf [256]byte
}

func openStatm() (*statm, error) {
	f, err := os.Open("/proc/self/statm")
	if err != nil {
		return nil, err
	}
	return &statm{f: f}, nil
}

func (s *statm) Close() error { return s.f.Close() }

// fileResident returns the resident file-backed and shared memory in bytes.
func (s *statm) fileResident() (int64, error) {
	n, err := s.f.ReadAt(s.buf[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	f := bytes.Fields(s.buf[:n])
	if len(f) < 3 {
		return 0, fmt.Errorf("unexpected /proc/self/statm %q", s.buf[:n])
	}
	pages, err := strconv.ParseInt(string(f[2]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse /proc/self/statm: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
}

// Trim drops the page-table entries of every shared mapping of a file under
// the Trimmer's directory and returns the number of bytes of address space
// advised. Private mappings are left alone: MADV_DONTNEED would discard
// their modified pages.
func (t *Trimmer) Trim() (int64, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var advised int64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		start, end, ok := t.sharedMappingUnderDir(sc.Text())
		if !ok {
			continue
		}
		// The mapping may have been unmapped since /proc/self/maps was
		// read (badger closing a file); madvise then fails with ENOMEM
		// and there is nothing to trim.
		// MADV_RANDOM first: otherwise a read fault maps a whole large
		// page-cache folio (ext4 has them since Linux 6.16) or the
		// fault-around window, and random reads of 1 KB documents bring
		// back tens of megabytes within milliseconds of a trim.
		unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_RANDOM)
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_DONTNEED); errno == 0 {
			advised += int64(end - start)
		}
	}
	return advised, sc.Err()
}

// sharedMappingUnderDir parses one /proc/self/maps line
// ("start-end perms offset dev inode path") and reports the address range
// when it is a shared mapping of a file under the directory.
func (t *Trimmer) sharedMappingUnderDir(line string) (start, end uintptr, ok bool) {
	fields := strings.Fields(line)
	if len(fields) < 6 || len(fields[1]) < 4 || fields[1][3] != 's' {
		return 0, 0, false
	}
	if path := strings.Join(fields[5:], " "); !strings.HasPrefix(path, t.dir) {
		return 0, 0, false
	}
	lo, hi, found := strings.Cut(fields[0], "-")
	if !found {
		return 0, 0, false
	}
	s, err1 := strconv.ParseUint(lo, 16, 64)
	e, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || e <= s {
		return 0, 0, false
	}
	return uintptr(s), uintptr(e), true
}
