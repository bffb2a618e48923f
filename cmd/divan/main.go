// Command divan runs one Divan node: a CouchDB 3.x compatible database
// server. Configuration comes from an ini file (-config), environment
// variables (DIVAN_*) and flags, in increasing precedence.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/divandb/divan/internal/node"
)

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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	n, err := node.Start(ctx, cfg)
	if err != nil {
		return err
	}
	log.Info("divan started", "node", n.Name(), "version", node.Version, "data_dir", cfg.DataDir)
	<-ctx.Done()
	stop() // a second signal now kills the process the default way
	log.Info("shutting down")
	if err := n.Stop(context.Background()); err != nil {
		return err
	}
	log.Info("stopped cleanly")
	return nil
}
