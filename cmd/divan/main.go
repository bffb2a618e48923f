// Command divan runs one Divan node: a CouchDB 3.x compatible database
// server. Configuration comes from an ini file (-config), environment
// variables (DIVAN_*) and flags, in increasing precedence.
package main

import (
	"context"
	"fmt"
	"net/http"
	_ "net/http/pprof" // served only on DIVAN_PPROF_ADDR, when set
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/divandb/divan/internal/memlimit"
	"github.com/divandb/divan/internal/node"
)

// defaultMemoryLimit is the Go heap's soft limit unless GOMEMLIMIT is set:
// with large request bodies admitted a few at a time (httpapi) it keeps the
// node's peak RSS under 200 MB in the issue-2 benchmark. Badger's table
// builders live in this heap too (shard.Open); 128 MiB leaves them room
// as a store grows: 112 MiB left the collector running back to back once
// a node held a million documents. Peak RSS in seven back-to-back
// _bulk_docs runs: 177 MiB at 128 MiB, 165 MiB at 112 MiB.
const defaultMemoryLimit = 128 << 20

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "divan:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, log, err := loadConfig(os.Args[1:], os.Stdout)
	if err != nil {
		return err
	}
	if addr := os.Getenv("DIVAN_PPROF_ADDR"); addr != "" {
		// Profiling for operators, on a separate, explicitly chosen
		// address (loopback advised); never on the API port.
		go func() {
			log.Info("pprof listening", "addr", addr)
			if err := http.ListenAndServe(addr, nil); err != nil {
				log.Error("pprof server stopped", "err", err)
			}
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	tuneMemory := os.Getenv("GOMEMLIMIT") == "" // else fixed by the operator
	if tuneMemory {
		// A soft limit keeps the garbage collector from letting the heap
		// double between cycles under write load.
		debug.SetMemoryLimit(defaultMemoryLimit)
	}

	n, err := node.Start(ctx, cfg)
	if err != nil {
		return err
	}
	log.Info("divan started", "node", n.Name(), "version", node.Version, "data_dir", cfg.DataDir)
	if tuneMemory {
		// A cluster member also stores the copies written through its
		// peers and holds their writes in flight: its live heap outgrows
		// the single-node budget, and a fixed limit would make the
		// collector run back to back. Its limit follows its live heap
		// (internal/memlimit); a lone node keeps the fixed budget.
		tuner := memlimit.New(memlimit.Options{Floor: defaultMemoryLimit, Raise: n.HasPeers, Logger: log})
		go tuner.Run(ctx)
	}
	<-ctx.Done()
	stop() // a second signal now kills the process the default way
	log.Info("shutting down")
	if err := n.Stop(context.Background()); err != nil {
		return err
	}
	log.Info("stopped cleanly")
	return nil
}
