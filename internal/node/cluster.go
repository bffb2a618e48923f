package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
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
		Meta: cluster.Meta{Name: n.name, RPCAddr: rpcAddr, Zone: n.cfg.Zone,
			HTTPAddr: net.JoinHostPort(host, strconv.Itoa(n.ln.Addr().(*net.TCPAddr).Port))},
		BindAddr:      n.cfg.BindAddress,
		Port:          derivedPort(n.cfg.GossipPort, n.cfg.Port, 2000),
		AdvertiseAddr: host,
		// Loopback clusters (tests, `make cluster`) use fast timings.
		Local:  strings.HasPrefix(host, "127.") || host == "::1",
		Logger: log,
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
	if err := n.recordSelf(ctx); err != nil {
		log.Warn("record own gossip address in _nodes", "err", err)
	}
	go n.reconnect(bgCtx)
	log.Info("cluster services listening", "rpc", rpcAddr, "gossip_port", members.Port())
	return nil
}

// reconnect keeps this node in touch with the cluster: it joins the
// configured seeds and every `_nodes` member gossip does not see alive, at
// the address the member last gossiped from, retrying with backoff. A node
// restarted on new ports (or whose peers were) finds the others this way,
// as CouchDB nodes reconnect to the members they know.
func (n *Node) reconnect(ctx context.Context) {
	wait := 200 * time.Millisecond
	seeds := n.cfg.Seeds
	for {
		var addrs []string
		addrs = append(addrs, seeds...)
		if ms, err := n.cluster.Members(ctx); err == nil {
			for _, m := range ms {
				if _, alive := n.members.Lookup(m.Name); !alive && m.Name != n.name {
					if addr := memberGossipAddr(m); addr != "" {
						addrs = append(addrs, addr)
					}
				}
			}
		}
		if len(addrs) > 0 {
			if _, err := n.members.Join(addrs); err != nil {
				n.log.Debug("cluster members not reachable yet", "addrs", addrs, "err", err)
			} else {
				wait = 200 * time.Millisecond
				seeds = nil // seeds are for finding the cluster once
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// defaultGossipPort is where a node on the default HTTP port 5984 gossips.
const defaultGossipPort = 5984 + 2000

// memberGossipAddr is where to reach a member: the address it recorded,
// or, for a member added by hand (`PUT /_node/_local/_nodes/name@host`), its
// host on the default gossip port, as CouchDB reaches name@host.
func memberGossipAddr(m cluster.Member) string {
	if m.GossipAddr != "" {
		return m.GossipAddr
	}
	if _, host, ok := strings.Cut(m.Name, "@"); ok && host != "" {
		return net.JoinHostPort(host, strconv.Itoa(defaultGossipPort))
	}
	return ""
}

// recordSelf stores this node's current gossip address in its `_nodes`
// document, so members can find it again after it moved ports, and its
// configured zone (COUCHDB_ZONE's role), which wins over a zone recorded by
// whoever added the node.
func (n *Node) recordSelf(ctx context.Context) error {
	addr := net.JoinHostPort(n.advertiseHost(), strconv.Itoa(n.members.Port()))
	ms, err := n.cluster.Members(ctx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.Name == n.name {
			if m.GossipAddr == addr && (n.cfg.Zone == "" || m.Zone == n.cfg.Zone) {
				return nil
			}
			m.GossipAddr = addr
			if n.cfg.Zone != "" {
				m.Zone = n.cfg.Zone
			}
			return n.cluster.PutMember(ctx, m)
		}
	}
	return n.cluster.PutMember(ctx, cluster.Member{Name: n.name, Zone: n.cfg.Zone, GossipAddr: addr})
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

// HasPeers reports whether gossip sees other nodes alive: this node then
// stores copies written through them as well as its own.
func (n *Node) HasPeers() bool { return n.members != nil && n.members.NumAlive() > 1 }

// GossipPort returns the gossip port actually bound.
func (n *Node) GossipPort() int { return n.members.Port() }
