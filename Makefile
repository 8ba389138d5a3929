# sluice — userspace L2TP/IPsec dataplane. `make help` lists the targets.
GO      ?= go
BIN     := bin
PKGS    := ./...
FUZZTIME ?= 10s

.PHONY: help deps build cross run test unit race test-root bench bench-smoke fuzz-smoke lint vet fmt check clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

deps: ## install the Debian packages tests and the lab use (root; only what is missing)
	@./scripts/deps.sh

build: ## build sluiced, sluice and sluice-bench into bin/
	$(GO) build -o $(BIN)/ ./cmd/...

cross: ## type-check every package and its tests for linux/arm64 and darwin (Linux-only code sits behind file suffixes)
	GOOS=linux GOARCH=arm64 $(GO) vet $(PKGS)
	GOOS=darwin GOARCH=arm64 $(GO) vet $(PKGS)

run: build ## the namespace lab: sluiced on one end of a veth pair, generator traffic and TCP from the other, counters checked (root)
	$(BIN)/sluice-bench lab --sluiced $(BIN)/sluiced $(LABFLAGS)

test: deps lint cross ## what CI runs: vet, staticcheck, cross-builds, unit + root tests with -race, fuzz and benchmark smoke runs
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	$(MAKE) fuzz-smoke
	$(MAKE) bench-smoke

unit: ## unit tests without -race (fast)
	$(GO) test -count=1 $(PKGS)

race: ## unit tests with the race detector
	$(GO) test -race -count=1 $(PKGS)

test-root: ## only the privileged tests (AF_XDP, namespaces, xl2tpd); run as root
	CI=true $(GO) test -race -count=1 -run 'Root|Lab|Veth|XDP|Xl2tpd|E2E' $(PKGS)

bench: build ## benchmarks with real iteration counts (ratios against same-run baselines)
	$(GO) test -run '^$$' -bench . -benchtime 1s $(PKGS)

bench-smoke: ## every benchmark once, to keep them compiling and running
	$(GO) test -run '^$$' -bench . -benchtime 1x $(PKGS)

fuzz-smoke: ## each fuzz target for FUZZTIME (default 10s; FuzzPipeline 20s)
	./scripts/fuzz-smoke.sh $(FUZZTIME)

vet: ## go vet and gofmt
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet $(PKGS)

lint: vet ## vet, gofmt and staticcheck (installed from the module proxy when missing)
	@command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	staticcheck $(PKGS)

check: lint test ## everything

clean: ## remove build output
	rm -rf $(BIN)
