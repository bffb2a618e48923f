// Package testnode runs the real divan binary for end-to-end tests: it builds
// ./cmd/divan once per test process, starts it on an ephemeral port with a
// temporary data directory and admin credentials, and offers an HTTP client
// with CouchDB-flavoured helpers, graceful stop, kill -9 and restart on the
// same data directory and port.
package testnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Default admin credentials of a test node.
const (
	DefaultAdminUser     = "admin"
	DefaultAdminPassword = "s3cret-pass"
)

// Timeouts used by the helpers.
var (
	StartTimeout = 60 * time.Second // process start until /_up answers 200
	StopTimeout  = 45 * time.Second // SIGTERM until exit (server allows 30s)
)

// Options configure a node. The zero value is usable.
type Options struct {
	AdminUser     string // default DefaultAdminUser
	AdminPassword string // default DefaultAdminPassword
	NodeName      string // -node-name; empty leaves the binary's default
	// BindAddress is passed as -bind-address (HTTP, gossip and gRPC all
	// bind to it); default 127.0.0.1.
	BindAddress string
	// Netns, when set, runs the process inside that named network
	// namespace with `ip netns exec` (which execs the binary in place, so
	// the process and its kill-on-parent-death setting are the same).
	// Needs root and the namespace must exist.
	Netns   string
	DataDir string // default tb.TempDir()
	// Config is the text of an ini file passed with -config.
	Config string
	// Args are extra command-line arguments.
	Args []string
	// Env holds extra KEY=VALUE environment entries. DIVAN_* variables of
	// the test process are not inherited.
	Env []string
}

// Node is one running (or stopped) divan process.
type Node struct {
	tb   testing.TB
	bin  string
	opts Options

	out *output

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the current process has exited
	waitErr error         // exit status of the last process
	addr    string        // host:port of the current/last run
	port    int
	runs    int

	transport *http.Transport
}

// Start builds (once) and starts a divan node, waits until it serves /_up
// and registers cleanup: the process is stopped at the end of the test and
// its output is dumped if the test failed.
func Start(tb testing.TB, opts Options) *Node {
	tb.Helper()
	if opts.AdminUser == "" {
		opts.AdminUser = DefaultAdminUser
	}
	if opts.AdminPassword == "" {
		opts.AdminPassword = DefaultAdminPassword
	}
	if opts.DataDir == "" {
		opts.DataDir = tb.TempDir()
	}
	n := &Node{
		tb:   tb,
		bin:  Binary(tb),
		opts: opts,
		out:  newOutput(),
		transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	if opts.Config != "" {
		path := filepath.Join(tb.TempDir(), "divan.ini")
		if err := os.WriteFile(path, []byte(opts.Config), 0o600); err != nil {
			tb.Fatalf("testnode: write config: %v", err)
		}
		n.opts.Args = append([]string{"-config", path}, n.opts.Args...)
	}
	tb.Cleanup(n.cleanup)
	n.start(0)
	return n
}

func (n *Node) cleanup() {
	if n.Running() {
		if err := n.stop(); err != nil {
			n.tb.Errorf("testnode: stopping node at end of test: %v", err)
		}
	}
	n.transport.CloseIdleConnections()
	if n.tb.Failed() {
		out := n.out.String()
		n.tb.Logf("divan output (%d bytes, data dir %s):\n%s", len(out), n.opts.DataDir, tail(out, 96<<10))
	}
}

// exited reports whether the current process has exited; n.mu must be held.
func (n *Node) exited() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

func (n *Node) args(port int) []string {
	bind := n.opts.BindAddress
	if bind == "" {
		bind = "127.0.0.1"
	}
	a := []string{
		"-data-dir", n.opts.DataDir,
		"-bind-address", bind,
		"-port", strconv.Itoa(port),
		"-admin-user", n.opts.AdminUser,
		"-admin-password", n.opts.AdminPassword,
	}
	if n.opts.NodeName != "" {
		a = append(a, "-node-name", n.opts.NodeName)
	}
	return append(a, n.opts.Args...)
}

func (n *Node) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DIVAN_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, n.opts.Env...)
}

// start launches the binary on port (0: ephemeral) and waits for /_up.
func (n *Node) start(port int) {
	n.tb.Helper()
	if err := n.tryStart(port); err != nil {
		if port != 0 && strings.Contains(n.out.currentRun(), "address already in use") {
			n.out.note(fmt.Sprintf("=== testnode: port %d is taken, restarting on an ephemeral port", port))
			if err2 := n.tryStart(0); err2 == nil {
				return
			} else {
				err = err2
			}
		}
		n.tb.Fatalf("testnode: start divan: %v\n--- output of this run ---\n%s", err, tail(n.out.currentRun(), 32<<10))
	}
}

func (n *Node) tryStart(port int) error {
	n.mu.Lock()
	n.runs++
	run := n.runs
	n.mu.Unlock()

	where := ""
	if n.opts.Netns != "" {
		where = " (in network namespace " + n.opts.Netns + ")"
	}
	listen := n.out.startRun(fmt.Sprintf("=== testnode: run %d%s: %s %s\n", run, where, n.bin, strings.Join(n.args(port), " ")))
	cmd := exec.Command(n.bin, n.args(port)...)
	if n.opts.Netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", n.opts.Netns, n.bin}, n.args(port)...)...)
	}
	cmd.Env = n.env()
	cmd.Stdout = n.out.writer("stdout")
	cmd.Stderr = n.out.writer("stderr")
	// If the test process dies (e.g. a -timeout panic), take the node down
	// with it instead of leaving it listening.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec %s: %w", n.bin, err)
	}
	done := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		n.out.flush()
		n.out.note(fmt.Sprintf("=== testnode: run %d exited: %v", run, exitString(err)))
		n.mu.Lock()
		n.waitErr = err
		n.mu.Unlock()
		close(done)
	}()

	deadline := time.NewTimer(StartTimeout)
	defer deadline.Stop()
	var addr string
	select {
	case addr = <-listen:
	case <-done:
		return fmt.Errorf("process exited before listening: %s", exitString(n.lastErr()))
	case <-deadline.C:
		n.killProcess()
		return fmt.Errorf("no %q line with addr= on stderr within %v", `msg="http listening"`, StartTimeout)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		n.killProcess()
		return fmt.Errorf("bad listening address %q: %w", addr, err)
	}
	p, err := strconv.Atoi(portStr)
	if err != nil {
		n.killProcess()
		return fmt.Errorf("bad listening port in %q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	n.mu.Lock()
	n.addr = net.JoinHostPort(host, portStr)
	n.port = p
	n.mu.Unlock()

	// Wait for /_up to answer 200.
	c := n.AnonClient()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := c.Request(ctx, http.MethodGet, "/_up", nil)
		cancel()
		if err == nil && resp.Status == http.StatusOK {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("process exited while waiting for /_up: %s", exitString(n.lastErr()))
		case <-deadline.C:
			n.killProcess()
			if err != nil {
				return fmt.Errorf("/_up not ready within %v: %v", StartTimeout, err)
			}
			return fmt.Errorf("/_up not ready within %v: last status %d body %s", StartTimeout, resp.Status, resp.Body)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (n *Node) lastErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.waitErr
}

func exitString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func (n *Node) killProcess() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// URL returns the node's base URL, e.g. http://127.0.0.1:40123 (no trailing
// slash).
func (n *Node) URL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return "http://" + n.addr
}

// Addr returns host:port of the node's HTTP listener.
func (n *Node) Addr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.addr
}

// Port returns the node's HTTP port.
func (n *Node) Port() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.port
}

// DataDir returns the node's data directory.
func (n *Node) DataDir() string { return n.opts.DataDir }

// AdminUser and AdminPassword return the node's admin credentials.
func (n *Node) AdminUser() string     { return n.opts.AdminUser }
func (n *Node) AdminPassword() string { return n.opts.AdminPassword }

// Output returns everything the node processes wrote so far.
func (n *Node) Output() string { return n.out.String() }

// Client returns a client authenticating as the server admin.
func (n *Node) Client() *Client {
	return n.newClient(n.opts.AdminUser, n.opts.AdminPassword, true)
}

// AnonClient returns a client that sends no credentials.
func (n *Node) AnonClient() *Client { return n.newClient("", "", false) }

// ClientAs returns a client using Basic auth with the given credentials.
func (n *Node) ClientAs(user, password string) *Client {
	return n.newClient(user, password, true)
}

func (n *Node) newClient(user, pass string, auth bool) *Client {
	return &Client{
		node: n,
		user: user, pass: pass, auth: auth,
		HTTP: &http.Client{Transport: n.transport},
	}
}

// Running reports whether the current process is alive.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil && !n.exited()
}

// Signal sends sig to the running process without waiting.
func (n *Node) Signal(sig os.Signal) {
	n.tb.Helper()
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		n.tb.Fatalf("testnode: Signal(%v): node not started", sig)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		n.tb.Fatalf("testnode: Signal(%v): %v", sig, err)
	}
}

// Wait waits up to timeout for the process to exit and returns its exit
// error (nil for status 0).
func (n *Node) Wait(timeout time.Duration) (exitErr error, exited bool) {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done == nil {
		return nil, true
	}
	select {
	case <-done:
		return n.lastErr(), true
	case <-time.After(timeout):
		return nil, false
	}
}

// Stop sends SIGTERM and waits for the process to exit. A process that does
// not exit within StopTimeout is killed and the test fails; so does a
// non-zero exit status.
func (n *Node) Stop() {
	n.tb.Helper()
	if err := n.stop(); err != nil {
		n.tb.Fatalf("testnode: Stop: %v", err)
	}
}

func (n *Node) stop() error {
	n.mu.Lock()
	cmd := n.cmd
	gone := cmd == nil || n.exited()
	n.mu.Unlock()
	if gone {
		return nil
	}
	n.out.note("=== testnode: sending SIGTERM")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	err, exited := n.Wait(StopTimeout)
	n.transport.CloseIdleConnections()
	if !exited {
		n.killProcess()
		return fmt.Errorf("process did not exit within %v of SIGTERM (killed)", StopTimeout)
	}
	if err != nil {
		return fmt.Errorf("process exited after SIGTERM with %v, want status 0", err)
	}
	return nil
}

// Kill sends SIGKILL (kill -9) and waits for the process to be gone.
func (n *Node) Kill() {
	n.tb.Helper()
	n.out.note("=== testnode: sending SIGKILL")
	n.killProcess()
	n.transport.CloseIdleConnections()
}

// Restart stops the node if it is running (SIGTERM) and starts it again on
// the same data directory, re-binding the port of the previous run when it
// is still free.
func (n *Node) Restart() {
	n.tb.Helper()
	if n.Running() {
		n.Stop()
	}
	n.transport.CloseIdleConnections()
	n.start(n.Port())
}
