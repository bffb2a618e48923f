package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Credentials the node started by -divan gets as its server admin.
const (
	benchUser     = "bench"
	benchPassword = "bench"
)

// node is a divan process this tool started and owns.
type node struct {
	cmd     *exec.Cmd
	pid     int
	addr    string // host:port it listens on
	dir     string // temporary directory: data dir and node.log
	logPath string
	log     *slog.Logger

	done     chan struct{} // closed when the process has exited
	waitErr  error         // valid after done is closed
	stopping atomic.Bool   // stop was called: an exit is expected

	tailMu sync.Mutex
	tail   []string // last stderr lines, for crash reports
}

const tailLines = 40

// startNode starts bin on a free loopback port with a temporary data
// directory and returns once it has logged its listening address. Its
// stdout and stderr go to node.log in that directory. The caller must call
// stop.
func startNode(ctx context.Context, log *slog.Logger, bin string, extraArgs []string) (*node, error) {
	dir, err := os.MkdirTemp("", "divan-bench-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	n := &node{dir: dir, logPath: filepath.Join(dir, "node.log"), log: log, done: make(chan struct{})}
	logFile, err := os.Create(n.logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("node log: %w", err)
	}
	args := append([]string{
		"-data-dir", filepath.Join(dir, "data"),
		"-port", "0",
		"-bind-address", "127.0.0.1",
		"-admin-user", benchUser,
		"-admin-password", benchPassword,
	}, extraArgs...)
	// Not CommandContext: the node must get SIGTERM and a chance to stop
	// cleanly even when ctx is cancelled by SIGINT; stop does that.
	n.cmd = exec.Command(bin, args...)
	n.cmd.Stdout = logFile
	stderr, err := n.cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	if err := n.cmd.Start(); err != nil {
		logFile.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	n.pid = n.cmd.Process.Pid
	log.Info("node started", "bin", bin, "pid", n.pid, "dir", dir)

	addrCh := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		n.copyStderr(stderr, logFile, addrCh)
	}()
	go func() {
		<-copied // Wait must not run before the pipe is drained
		n.waitErr = n.cmd.Wait()
		logFile.Close()
		close(n.done)
	}()

	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case n.addr = <-addrCh:
		log.Info("node listening", "addr", n.addr)
		return n, nil
	case <-n.done:
		err = fmt.Errorf("node exited before listening (%v); last output:\n%s", n.waitErr, n.lastOutput())
	case <-timer.C:
		err = fmt.Errorf("node did not log %q within 30s; last output:\n%s", `msg="http listening"`, n.lastOutput())
	case <-ctx.Done():
		err = ctx.Err()
	}
	n.stop(true)
	return nil, err
}

// copyStderr copies the node's stderr to w, remembers the last lines and
// sends the listening address on addrCh once.
func (n *node) copyStderr(r io.Reader, w io.Writer, addrCh chan<- string) {
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	br := bufio.NewReaderSize(r, 64<<10)
	found := false
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			bw.Write(line)
			n.remember(string(bytes.TrimRight(line, "\r\n")))
			if !found {
				if addr, ok := parseListenLine(string(line)); ok {
					found = true
					bw.Flush()
					addrCh <- addr
				}
			}
		}
		if err != nil {
			return
		}
	}
}

func (n *node) remember(line string) {
	n.tailMu.Lock()
	defer n.tailMu.Unlock()
	if len(n.tail) == tailLines {
		copy(n.tail, n.tail[1:])
		n.tail = n.tail[:tailLines-1]
	}
	n.tail = append(n.tail, line)
}

// lastOutput returns the last lines the node wrote to stderr.
func (n *node) lastOutput() string {
	n.tailMu.Lock()
	defer n.tailMu.Unlock()
	return strings.Join(n.tail, "\n")
}

// exited reports whether the process has ended, and how.
func (n *node) exited() (bool, error) {
	select {
	case <-n.done:
		return true, n.waitErr
	default:
		return false, nil
	}
}

// stop sends SIGTERM, waits up to 20s (then SIGKILL) and, if remove is
// set, deletes the temporary directory. It returns the process's exit error,
// if any, other than a plain termination by the signal.
func (n *node) stop(remove bool) error {
	n.stopping.Store(true)
	if ok, _ := n.exited(); !ok {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.done:
		case <-time.After(20 * time.Second):
			n.log.Warn("node ignored SIGTERM for 20s; killing it", "pid", n.pid)
			_ = n.cmd.Process.Kill()
			<-n.done
		}
	}
	err := n.waitErr
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			err = nil
		}
	}
	if remove {
		if rmErr := os.RemoveAll(n.dir); rmErr != nil {
			n.log.Warn("remove temp dir", "dir", n.dir, "err", rmErr)
		}
	} else {
		n.log.Info("kept node data and log", "dir", n.dir)
	}
	return err
}

// parseListenLine extracts the address from the node's startup log line,
// written by slog's text handler (msg="http listening" addr=127.0.0.1:5984)
// or its JSON handler ("msg":"http listening","addr":"127.0.0.1:5984").
func parseListenLine(line string) (string, bool) {
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "{") {
		if !strings.Contains(line, `"msg":"http listening"`) {
			return "", false
		}
		_, rest, ok := strings.Cut(line, `"addr":`)
		if !ok {
			return "", false
		}
		s, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return "", false
		}
		addr, err := strconv.Unquote(s)
		return addr, err == nil && addr != ""
	}
	var msg, addr string
	for rest := line; rest != ""; rest = strings.TrimLeft(rest, " ") {
		key, after, ok := strings.Cut(rest, "=")
		if !ok {
			return "", false
		}
		var val string
		if strings.HasPrefix(after, `"`) {
			q, err := strconv.QuotedPrefix(after)
			if err != nil {
				return "", false
			}
			val, _ = strconv.Unquote(q)
			rest = after[len(q):]
		} else {
			val, rest, _ = strings.Cut(after, " ")
		}
		switch key {
		case "msg":
			msg = val
		case "addr":
			addr = val
		}
	}
	if msg != "http listening" || addr == "" {
		return "", false
	}
	return addr, true
}
