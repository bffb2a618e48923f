// Package fabric is Divan's cluster coordinator, the role of CouchDB's fabric
// application. For every request it finds the shard copies involved through
// the database's shard map (package cluster), calls them through the Copy
// interface — in-process for copies on this node, over gRPC for remote ones,
// with the same semantics — waits for the r/w quorum, and merges results:
// `_all_docs` rows merge-sorted across q ranges, db info summed over one copy
// per range, clustered sequences packed from per-range seqs.
//
// fabric never speaks HTTP; httpapi calls it. A single node is a cluster of
// one and takes exactly the same paths.
package fabric
