# Herald — the targets a newcomer guesses. Every Go module in go.work is covered.
SHELL := /bin/bash
GO    ?= go
MODULES := pkg proto services/registry services/matcher services/dispatcher services/heraldctl services/standalone
PKGS    := $(addprefix ./,$(addsuffix /...,$(MODULES)))
# FerretDB's PostgreSQL backend is not used; leaving it out saves build time.
TAGS    := -tags ferretdb_no_postgresql

.PHONY: run demo test test-faults test-short bench fuzz lint fmt proto build tidy clean chart-check

## run: the whole platform in one process on an embedded broker and store (data in .data/)
run:
	$(GO) run $(TAGS) ./services/standalone/cmd/herald

## demo: a guided tour against a running `make run` (start it first, in another terminal)
demo:
	$(GO) run ./services/heraldctl/cmd/heraldctl demo

## test: vet, then every test (unit and integration) with the race detector
test:
	./scripts/test.sh

## test-faults: services as separate processes, SIGKILLed, registry stopped, malformed input
test-faults:
	./scripts/test.sh -faults

## test-short: unit tests only, no servers
test-short:
	$(GO) test $(TAGS) -short $(PKGS)

## bench: benchmarks of every module
bench:
	./scripts/test.sh -bench

## fuzz: every go test -fuzz target for FUZZTIME each (default 30s); not run by CI
fuzz:
	./scripts/fuzz.sh

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $(MODULES) | grep -v '\.pb\.go$$' || true); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(TAGS) $(PKGS)

fmt:
	gofmt -w $(MODULES)

## chart-check: helm lint/template (default, production, all features), strict k8s validation, deploy/ checks
chart-check:
	./scripts/chart-check.sh

## proto: regenerate the committed gRPC/protobuf code
proto:
	./scripts/proto.sh

## build: static binaries in bin/
build:
	mkdir -p bin
	CGO_ENABLED=0 $(GO) build -o bin/ ./services/registry/cmd/registry ./services/matcher/cmd/matcher ./services/dispatcher/cmd/dispatcher ./services/heraldctl/cmd/heraldctl
	CGO_ENABLED=0 $(GO) build $(TAGS) -o bin/ ./services/standalone/cmd/herald ./services/standalone/cmd/herald-standin

tidy:
	for m in $(MODULES); do (cd $$m && $(GO) mod tidy) || exit 1; done

clean:
	rm -rf bin .data
