# privlink — build, test, benchmark.
export GOTOOLCHAIN := local
GO      ?= go
BIN     ?= bin/privlink
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: build test bench bench-compare lint fuzz clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/privlink

# The test suite CI runs (bash .ci/run): vet, then every test with the race detector.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 8m ./...

# Go benchmarks of the hot pieces, then direct vs privlink vs HAProxy vs a bare Go proxy (loadtest/bench/bench.sh).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./...
	bash loadtest/bench/bench.sh

# Only the end-to-end comparison (about 2.5 minutes per round; needs jq, uses haproxy when installed).
bench-compare:
	bash loadtest/bench/bench.sh

# Each fuzz target for FUZZTIME (default 20s): rules, rule scalars, PROXY headers, configuration files, DNS queries, IAM policies, fault bodies.
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzEvaluator$$' -fuzztime $(FUZZTIME) ./acl
	$(GO) test -run '^$$' -fuzz '^FuzzRuleParsing$$' -fuzztime $(FUZZTIME) ./acl
	$(GO) test -run '^$$' -fuzz '^FuzzInspectDecode$$' -fuzztime $(FUZZTIME) ./proxy/inspect
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./config
	$(GO) test -run '^$$' -fuzz '^FuzzAnswer$$' -fuzztime $(FUZZTIME) ./proxy/dns
	$(GO) test -run '^$$' -fuzz '^FuzzServeUDP$$' -fuzztime $(FUZZTIME) ./proxy/dns
	$(GO) test -run '^$$' -fuzz '^FuzzPolicyParse$$' -fuzztime $(FUZZTIME) ./acl/iampolicy
	$(GO) test -run '^$$' -fuzz '^FuzzGlob$$' -fuzztime $(FUZZTIME) ./acl/iampolicy
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeFault$$' -fuzztime $(FUZZTIME) ./proxy

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

clean:
	rm -rf bin
