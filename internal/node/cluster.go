package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/divandb/divan/cluster"
	"github.com/divandb/divan/internal/rpc"
)

// derivedPort returns explicit when set, else base+offset (0 stays 0).
func derivedPort(explicit, base, offset int) int {
	if explicit != 0 || base == 0 {
		return explicit
	}
	return base + offset
}

// advertiseHost is the host other nodes should dial.
func (n *Node) advertiseHost() string {
	if n.cfg.AdvertiseAddress != "" {
		return n.cfg.AdvertiseAddress
	}
	switch n.cfg.BindAddress {
	case "", "0.0.0.0", "::":
		return "127.0.0.1"
	}
	return n.cfg.BindAddress
}

// startCluster starts the internal gRPC server, gossip membership and the
// internal replication scheduler. A node alone is a cluster of one; the
// same machinery runs.
func (n *Node) startCluster(ctx context.Context) error {
	log := n.log
	n.rpcLn = n.cfg.RPCListener
	if n.rpcLn == nil {
		addr := net.JoinHostPort(n.cfg.BindAddress, strconv.Itoa(derivedPort(n.cfg.RPCPort, n.cfg.Port, 3000)))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen for internal rpc on %s: %w", addr, err)
		}
		n.rpcLn = ln
	}
	n.grpc = rpc.NewGRPCServer(log.With("component", "rpc"))
	n.rpcServer = rpc.NewServer(n.store, log.With("component", "rpc"))
	n.rpcServer.Register(n.grpc)

	host := n.advertiseHost()
	rpcAddr := net.JoinHostPort(host, strconv.Itoa(n.rpcLn.Addr().(*net.TCPAddr).Port))
	members, err := cluster.StartMembership(cluster.MembershipConfig{
		Meta:          cluster.Meta{Name: n.name, RPCAddr: rpcAddr, Zone: n.cfg.Zone},
		BindAddr:      n.cfg.BindAddress,
		Port:          derivedPort(n.cfg.GossipPort, n.cfg.Port, 2000),
		AdvertiseAddr: host,
		Local:         n.cfg.Port == 0, // tests: fast loopback timings
		Logger:        log,
	})
	if err != nil {
		n.rpcLn.Close()
		return err
	}
	n.members = members
	n.rpcClient = rpc.NewClient(func(node string) (string, error) {
		meta, ok := members.Lookup(node)
		if !ok {
			return "", fmt.Errorf("node %s is not reachable", node)
		}
		return meta.RPCAddr, nil
	}, rpc.WithLogger(log.With("component", "rpc")))

	n.syncer = cluster.NewSyncer(n.cluster, cluster.SyncerConfig{
		Local: func(name string) (cluster.SyncCopy, error) { return n.store.Get(name) },
		Dial: func(ctx context.Context, node, name string) (cluster.SyncCopy, error) {
			return n.rpcClient.Dial(ctx, node, name)
		},
		LocalShards: func() ([]string, error) { return n.store.List("shards/") },
		Alive: func() []string {
			var out []string
			for _, m := range members.Alive() {
				out = append(out, m.Name)
			}
			return out
		},
		Logger: log,
	})
	hook := func(name string) {
		if name == cluster.DBsDB {
			n.cluster.Invalidate()
		}
		n.syncer.Changed(name)
	}
	n.onCommit.Store(&hook)

	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.stopBg = cancel
	n.bgDone = make(chan struct{})
	go func() {
		if err := n.grpc.Serve(n.rpcLn); err != nil {
			log.Error("internal rpc server stopped", "err", err)
		}
	}()
	go func() {
		defer close(n.bgDone)
		go n.watchMembership(bgCtx)
		_ = n.syncer.Run(bgCtx)
	}()
	if len(n.cfg.Seeds) > 0 {
		go n.joinSeeds(bgCtx)
	}
	log.Info("cluster services listening", "rpc", rpcAddr, "gossip_port", members.Port())
	return nil
}

// joinSeeds contacts the seed nodes until one answers: seeds may start
// after this node.
func (n *Node) joinSeeds(ctx context.Context) {
	wait := 200 * time.Millisecond
	for {
		_, err := n.members.Join(n.cfg.Seeds)
		if err == nil {
			return
		}
		n.log.Debug("seeds not reachable yet", "seeds", n.cfg.Seeds, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// watchMembership sweeps all copies whenever gossip sees a node come or go,
// so a returning node catches up without waiting for the periodic sweep.
func (n *Node) watchMembership(ctx context.Context) {
	for {
		ch := n.members.Changed()
		select {
		case <-ctx.Done():
			return
		case <-ch:
			n.cluster.Invalidate()
			n.syncer.SweepNow()
		}
	}
}

// stopCluster stops, in reverse order of start, the scheduler, gossip
// (announcing the departure) and the internal rpc server and client.
func (n *Node) stopCluster(ctx context.Context) error {
	if n.bgDone == nil {
		return nil
	}
	var errs []error
	n.onCommit.Store(nil)
	n.stopBg()
	<-n.bgDone
	n.bgDone = nil
	if err := n.members.Leave(ctx); err != nil {
		errs = append(errs, fmt.Errorf("leave gossip: %w", err))
	}
	n.rpcServer.Close()
	rpc.GracefulStop(ctx, n.grpc)
	if err := n.rpcClient.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Cluster returns the node's cluster view.
func (n *Node) Cluster() *cluster.Cluster { return n.cluster }

// Membership returns the node's gossip membership.
func (n *Node) Membership() *cluster.Membership { return n.members }

// GossipPort returns the gossip port actually bound.
func (n *Node) GossipPort() int { return n.members.Port() }
