// Package shard stores shard copies: the role of CouchDB's couch application
// (couch_db, couch_db_updater, couch_bt_engine). A node has one Store — one
// badger instance — and every shard copy on the node is a key prefix in it, so
// creating a copy is one catalog entry and deleting one is a prefix drop.
//
// A Shard holds documents with full revision trees, the by-seq index, _local
// documents and per-shard metadata (update_seq, purge_seq, uuid, revs_limit,
// security object). Writes go through one updater goroutine per shard that
// batches concurrent requests into a single badger transaction committed with
// an fsync (group commit): a write is acknowledged only once it is durable.
//
// The byte layout of keys is documented in docs/format/storage.md.
//
// shard knows nothing of clusters or HTTP; fabric calls it, locally or over
// gRPC, and must never find a difference.
package shard
