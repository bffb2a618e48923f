package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/divandb/divan/internal/testnode"
)

// The test binary doubles as a fake node for the -divan tests: with
// DIVAN_BENCH_FAKE_NODE set it serves fakeCouch the way cmd/divan would.
func TestMain(m *testing.M) {
	if os.Getenv("DIVAN_BENCH_FAKE_NODE") != "" {
		os.Exit(fakeNodeMain())
	}
	code := m.Run()
	testnode.Cleanup()
	os.Exit(code)
}

// fakeNodeMain checks the flags the benchmark passes, logs the listening
// line and serves until SIGTERM. DIVAN_BENCH_FAKE_CRASH_AFTER=N makes it
// die after N requests.
func fakeNodeMain() int {
	args := strings.Join(os.Args[1:], " ")
	for _, want := range []string{"-port 0", "-bind-address 127.0.0.1", "-admin-user bench", "-admin-password bench", "-data-dir "} {
		if !strings.Contains(args, want) {
			fmt.Fprintf(os.Stderr, "fake node: missing %q in %q\n", want, args)
			return 2
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	log.Info("http listening", "addr", ln.Addr().String(), "node", "fake@127.0.0.1")
	f := &fakeCouch{user: benchUser, pass: benchPassword, dbs: map[string]map[string]json.RawMessage{}}
	crashAfter, _ := strconv.ParseInt(os.Getenv("DIVAN_BENCH_FAKE_CRASH_AFTER"), 10, 64)
	var served atomic.Int64
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if crashAfter > 0 && served.Add(1) > crashAfter {
			fmt.Fprintln(os.Stderr, "panic: fake crash")
			os.Exit(3)
		}
		f.ServeHTTP(w, r)
	}))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	log.Info("stopped cleanly")
	return 0
}

func TestDivanModeStartsAndStopsNode(t *testing.T) {
	t.Setenv("DIVAN_BENCH_FAKE_NODE", "1")
	o := testOptions("")
	o.url, o.divan = "", os.Args[0]
	o.workloads, o.conc = []string{wlPut, wlGet}, []int{2}
	rep, err := benchmark(context.Background(), slog.New(slog.DiscardHandler), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 || rep.PeakRSS <= 0 || rep.Results[0].NodeVmHWM <= 0 || rep.Results[0].NodeCores < 0 || rep.Results[0].OtherCores < 0 || rep.Results[1].Errors != 0 {
		t.Fatalf("%+v", rep)
	}
	if !strings.HasPrefix(rep.Target, "http://bench:xxxxx@127.0.0.1:") {
		t.Errorf("target %s", rep.Target)
	}
}

func TestDivanModeNodeCrash(t *testing.T) {
	t.Setenv("DIVAN_BENCH_FAKE_NODE", "1")
	t.Setenv("DIVAN_BENCH_FAKE_CRASH_AFTER", "50")
	o := testOptions("")
	o.url, o.divan = "", os.Args[0]
	o.workloads, o.conc, o.duration = []string{wlPut}, []int{1}, 5*time.Second
	start := time.Now()
	rep, err := benchmark(context.Background(), slog.New(slog.DiscardHandler), o)
	if err == nil || !strings.Contains(err.Error(), "node exited during the run") || !strings.Contains(err.Error(), "panic: fake crash") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("took %v to notice the crash", time.Since(start))
	}
	if rep == nil || rep.Failure == "" || len(rep.Results) != 1 {
		t.Errorf("report %+v", rep)
	}
}

func TestDivanModeNodeFailsToStart(t *testing.T) {
	// Without DIVAN_BENCH_FAKE_NODE the test binary rejects the node flags
	// and exits at once.
	_, err := startNode(context.Background(), slog.New(slog.DiscardHandler), os.Args[0], nil)
	if err == nil || !strings.Contains(err.Error(), "exited before listening") {
		t.Fatalf("err = %v", err)
	}
}
