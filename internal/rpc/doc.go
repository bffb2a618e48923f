// Package rpc is Divan's internal RPC between nodes, the role of CouchDB's
// rexi: fabric on one node calling the shard copies held by another. The
// wire protocol is the gRPC ShardService of proto/divan/internal/v1
// (generated Go code in proto/internalv1).
//
// A node serves its store with a Server registered on the *grpc.Server that
// NewGRPCServer builds (request-id, debug logging and panic-recovery
// interceptors, message size limits, keepalive policy). A Client implements
// fabric.Copies for the other nodes: one lazily made connection per node,
// deadlines taken from the caller's context, and RemoteCopy handles that
// behave exactly as the *shard.Shard they stand for, changes reader and
// internal replication methods included. A Router puts the two together:
// fabric.LocalCopies for this node, the Client for the others.
//
// Invariants:
//   - Same results, same errors. *couch.Error (code and reason),
//     shard.ErrNoShard, shard.ErrShardExists and shard.ErrClosed travel as
//     an Error detail of the gRPC status and come back as the same value,
//     with the server's full error text, so errors.Is and errors.As work the
//     same for local and remote copies. A node that cannot be reached is
//     couch's nodedown ("<node> is down"), after at most the connect timeout
//     and never later than the caller's deadline.
//   - Bodies and other raw JSON cross the wire as the bytes the shard
//     stores; rev trees as RevTree.MarshalBinary.
//   - Streams stop when the reader does: a Docs or Changes callback that
//     returns an error cancels the call and the server stops reading.
//   - Changed channels of remote copies are backed by one WatchChanges
//     stream per copy, compared by (update_seq, purge_seq), so a write is
//     never missed across reconnects; a channel may close without a write.
//
// Wiring, in the composition package:
//
//	g := rpc.NewGRPCServer(logger)
//	srv := rpc.NewServer(store, logger)
//	srv.Register(g)
//	go g.Serve(grpcListener)
//
//	client := rpc.NewClient(resolveGRPCAddr, rpc.WithLogger(logger))
//	copies := rpc.NewRouter(nodeName, store, client) // a fabric.Copies
//
//	// shutdown: stop watches, drain, then close the client
//	srv.Close()
//	rpc.GracefulStop(ctx, g)
//	client.Close()
//
// rpc never imports httpapi or cluster; it sits between fabric and shard.
package rpc
