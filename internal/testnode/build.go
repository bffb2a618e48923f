package testnode

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// BinaryEnv names the environment variable that points at a prebuilt divan
// binary; when it is set the package does not build one.
const BinaryEnv = "DIVAN_BINARY"

var build struct {
	once sync.Once
	dir  string // temporary directory holding the built binary
	path string
	err  error
}

// Binary returns the path of the divan binary under test, building
// ./cmd/divan of the enclosing module once per test process unless
// DIVAN_BINARY names one.
func Binary(tb testing.TB) string {
	tb.Helper()
	build.once.Do(func() {
		if p := os.Getenv(BinaryEnv); p != "" {
			abs, err := filepath.Abs(p)
			if err != nil {
				build.err = fmt.Errorf("%s=%q: %w", BinaryEnv, p, err)
				return
			}
			if _, err := os.Stat(abs); err != nil {
				build.err = fmt.Errorf("%s=%q: %w", BinaryEnv, p, err)
				return
			}
			build.path = abs
			return
		}
		build.path, build.err = buildBinary()
	})
	if build.err != nil {
		tb.Fatalf("testnode: divan binary: %v", build.err)
	}
	return build.path
}

// Cleanup removes the binary built by Binary, if any. Call it from TestMain
// after m.Run.
func Cleanup() {
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// ModuleRoot returns the directory holding the go.mod of the module the
// current working directory belongs to.
func ModuleRoot() (string, error) {
	out, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: not inside a module")
	}
	return filepath.Dir(gomod), nil
}

func buildBinary() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "divan")); err != nil {
		return "", fmt.Errorf("no ./cmd/divan in module %s: %w", root, err)
	}
	dir, err := os.MkdirTemp("", "divan-testnode-")
	if err != nil {
		return "", err
	}
	build.dir = dir
	bin := filepath.Join(dir, "divan")
	cmd := exec.Command(goTool(), "build", "-o", bin, "./cmd/divan")
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/divan (in %s): %w\n%s", root, err, out.String())
	}
	return bin, nil
}
