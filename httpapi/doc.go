// Package httpapi is Divan's HTTP front end, the role of CouchDB's chttpd: it
// turns CouchDB HTTP requests into calls on a Backend (implemented by fabric)
// and renders CouchDB's JSON, status codes, headers and error bodies exactly,
// so that existing clients (curl, nano, PouchDB, Fauxton, couchbackup,
// another CouchDB's replicator) cannot tell the difference.
//
// Request flow (ServeHTTP): request id and common headers, drain check,
// HTTP Basic authentication, dispatch on the path segments as chttpd does
// (server endpoints, then database endpoints, then documents), authorization
// per endpoint (chttpd_auth_request), the handler, and one log line.
//
// Paths are split like chttpd's path_parts: the raw (still escaped) path is
// cut at "/", empty segments are dropped and each segment is percent-decoded
// on its own, so a document id may contain "/" (as %2F), "+" (a literal plus)
// or any UTF-8; "_design/x" and "_local/x" may also be written unescaped.
//
// Invariants:
//   - Document bodies are raw compact JSON (couch.Revision.Body) and are
//     spliced into responses byte for byte, never decoded into maps.
//   - Every error leaving a handler is rendered by errors.go's single table
//     (couch.Code to HTTP status); non-*couch.Error errors are 500s.
//   - Hot paths (document GET/PUT, _all_docs rows, _bulk_docs results)
//     build JSON by appending into pooled byte buffers.
//
// httpapi never imports shard or cluster: everything goes through Backend.
package httpapi
