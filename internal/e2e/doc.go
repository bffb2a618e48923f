// Package e2e holds end-to-end tests that run the real divan binary (built
// by internal/testnode) and check its HTTP API against CouchDB 3.x
// behaviour: status codes, error names and reasons, response shapes, and
// durability across graceful restarts and kill -9.
//
// The tests run in `go test ./...`. The crash test runs a few kill cycles by
// default; set DIVAN_SOAK=1 (or a duration such as DIVAN_SOAK=10m) or pass
// -soak=DURATION to keep killing and restarting the node for longer.
package e2e
