# Divan — see README.md. Every target installs what it needs itself.
GO        ?= go
BIN       := bin
DIVAN     := $(BIN)/divan
PKGS      := ./...
export GOFLAGS ?= -buildvcs=false

.PHONY: all build run test interop-deps test-short test-race test-e2e fuzz bench soak lint vet fmt verify cluster cluster-stop clean

all: build

build: ## build bin/divan and bin/divan-bench
	$(GO) build -o $(BIN)/ ./cmd/...

run: build ## one node on 127.0.0.1:5984, data in ./data
	DIVAN_DATA_DIR=$${DIVAN_DATA_DIR:-data} ./$(DIVAN) -config deploy/single-node.ini

test: interop-deps ## unit, fuzz-seed, end-to-end, crash and client interop tests (what CI runs)
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 15m $(PKGS)

# PouchDB and nano for internal/interop, when node.js is present.
interop-deps:
	@if command -v npm >/dev/null 2>&1; then \
		test -d internal/interop/node_modules/pouchdb-core || npm ci --prefix internal/interop --no-audit --no-fund; \
	else echo "node.js/npm not found: client interop tests will be skipped (apt-get install nodejs npm)"; fi

test-short:
	$(GO) test -short -count=1 $(PKGS)

test-race:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

test-e2e: build
	$(GO) test -count=1 -v ./internal/e2e/

FUZZTIME ?= 30s
fuzz: ## run every fuzz target (func Fuzz* in any package) for FUZZTIME each
	@for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		for target in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go | sed 's/^func //'); do \
			echo "== $$dir $$target"; \
			$(GO) test -run='^$$' -fuzz="^$$target$$" -fuzztime=$(FUZZTIME) $$dir || exit 1; \
		done; \
	done

bench: build ## load figures for docs/benchmarks.md (starts its own node, then a 3-node cluster)
	$(GO) test -run='^$$' -bench=. -benchmem ./shard/ ./internal/couch/
	./$(BIN)/divan-bench -divan ./$(DIVAN)
	./$(BIN)/divan-bench -divan ./$(DIVAN) -cluster 3 -duration 4s -settle 15s

SOAK ?= 10m
soak: build ## long crash/restart cycles under load
	DIVAN_SOAK=$(SOAK) $(GO) test -count=1 -timeout 0 -run 'Crash' -v ./internal/e2e/

cluster: build ## three local nodes on 127.0.0.1:15984-15986, joined by /_cluster_setup
	deploy/local-cluster.sh start

cluster-stop:
	deploy/local-cluster.sh stop

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

lint: vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)

verify: lint verify-proto
	$(GO) mod tidy -diff
	cd internal/tools && $(GO) mod tidy -diff

# Protobuf: buf and the Go plugins are pinned in internal/tools/go.mod and run
# with `go tool`, so generation needs only the Go module proxy.
BUF := $(GO) tool -modfile=internal/tools/go.mod buf
.PHONY: proto verify-proto

proto: ## lint proto/ and regenerate the committed *.pb.go
	$(BUF) lint proto
	$(BUF) generate --template proto/buf.gen.yaml

verify-proto: ## regenerate into a temp dir; fail if the committed code differs
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(BUF) generate --template proto/buf.gen.yaml -o "$$tmp" || exit 1; \
	want=$$(cd "$$tmp" && find proto -name '*.pb.go' | sort); have=$$(find proto -name '*.pb.go' | sort); \
	[ "$$want" = "$$have" ] || { echo "proto: generated files differ, run make proto" >&2; exit 1; }; \
	for f in $$want; do cmp -s "$$f" "$$tmp/$$f" || { echo "proto: $$f is stale, run make proto" >&2; exit 1; }; done

clean:
	rm -rf $(BIN)
