// Package cluster is Divan's mem3: node identity, cluster membership and the
// shard maps that say which node holds which copy of which range of each
// database. Shard maps are documents in the node-local `_dbs` database, in
// CouchDB's format (by_node, by_range, changelog, shard_suffix, props).
//
// Ranges split the 32-bit hash space into q inclusive intervals; a document
// belongs to the range containing the CRC-32 (IEEE) of its id, exactly as
// CouchDB's mem3_hash:crc32 routes it.
package cluster
