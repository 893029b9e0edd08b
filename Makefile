# Boomerang: `make run` starts the whole system on this machine,
# `make test` runs everything that checks it. Nothing else to install.

CARGO  ?= cargo
VENV   ?= .venv
# Where cargo puts what it builds (CARGO_TARGET_DIR when set).
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
# The system's Python, found before the virtualenv goes on PATH below.
PYTHON ?= $(shell command -v python3)

.PHONY: check token smoke load run run-aws test test-aws test-web test-browser bench-smoke lint template-check docs-check build bootstraps bench soak fuzz deploy clean help

# The project's tools (sam, cfn-lint, cargo-lambda, zig) come first on PATH.
PYTHON := $(PYTHON)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0

help:
	@echo "make run    build and start the local stack (boomerang-local)"
	@echo "make check  formatting, lints and unit tests: under a minute on a warm build"
	@echo "make test   formatting, lints, template checks, unit + end-to-end tests on both backends,"
	@echo "            the browser client under node and the demo page in Chromium"
	@echo "make run-aws  the local stack on the AWS adapters, against moto"
	@echo "make bench    release bootstraps: size, cold start, warm invocations"
	@echo "make soak     1,000 tabs over 200 users reconnecting under load for 5 minutes"
	@echo "make fuzz     each fuzz target under libFuzzer for FUZZ_SECONDS (nightly)"
	@echo "make deploy   sam build + sam deploy of ENV (default dev) in samconfig.toml (needs AWS credentials)"
	@echo "make token    a token for FOR=<user> of a deployed stack"
	@echo "make smoke    a deployed stack checked end to end, from its outputs"
	@echo "make load     a short load run against a deployed stack (LOAD_ARGS)"

## Build and start the local stack on the embedded backend.
# The whole workspace's binaries, as `make test` builds them: `cargo run -p`
# would unify features for one package and rebuild about forty crates.
run:
	$(CARGO) build --workspace --bins --locked
	exec $(TARGET_DIR)/debug/boomerang-local

## The quick tier, under a minute on a warm build: formatting, lints, and
## the unit tests of the core, the handlers, the adapters and the local
## stack (no moto, no browser, no end-to-end suite).
check:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(RUN_TESTS) --lib -p boomerang-core -p boomerang-handlers -p boomerang-aws -p boomerang-local

## Everything that passes on a fresh machine of this kind.
# cargo-nextest runs each test in its own process and prints one summary;
# plain `cargo test` where it is missing.
# The end-to-end suite runs twice: on the embedded backend, then on the AWS
# adapters against moto and the local Management API.
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)
ifeq ($(NEXTEST),yes)
RUN_TESTS = $(CARGO) nextest run --locked --no-fail-fast
else
RUN_TESTS = $(CARGO) test --locked --no-fail-fast
endif

# The Lambda bootstrap test and the browser tests run the workspace's
# binaries: build them first.
test: lint template-check docs-check $(VENV)/.installed node_modules/.installed
	$(CARGO) build --workspace --bins --locked
	$(RUN_TESTS) --workspace
	$(MAKE) --no-print-directory test-web test-browser bench-smoke
	$(MAKE) --no-print-directory test-aws

# Debian's Chromium, which the browser tests drive (defined before the
# rules that name it: prerequisites expand as they are read).
CHROMIUM ?= /usr/bin/chromium

## The browser client's logic and the React hook, under node's own runner;
## the hand-written .d.ts files and the modules (@ts-check) checked by the
## TypeScript compiler, each module's exports against the .d.ts.
test-web: node_modules/.installed
	node --test web/test/*.test.js
	node_modules/.bin/tsc -p web/tsconfig.json
	node_modules/.bin/tsc -p web/tsconfig.js.json
	node tools/check_package.mjs

## The demo page, the client and the example React app (built by Vite) in
## Debian's Chromium (playwright-core), against the debug boomerang-local.
## Screenshots land in target/browser/.
test-browser: node_modules/.installed examples/react/node_modules/.installed $(CHROMIUM)
	$(CARGO) build --workspace --bins --locked
	cd examples/react && node_modules/.bin/vite build --logLevel warn
	CHROMIUM=$(CHROMIUM) node --test --test-concurrency=1 tests/browser/*.test.js

# npm packages from package-lock.json, exactly; nothing fetched at test time.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The example app's own packages (Vite, React), from its lock file.
examples/react/node_modules/.installed: examples/react/package.json examples/react/package-lock.json
	cd examples/react && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian's Chromium: Playwright's own browser downloads are not used.
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
		|| { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }; \
	else \
		echo "the browser tests need Chromium: run 'sudo apt-get install chromium' (or set CHROMIUM=/path/to/chromium)"; exit 1; \
	fi

# --workspace keeps the features of the first run, so nothing is rebuilt.
test-aws: $(VENV)/.installed
	BOOMERANG_TEST_BACKEND=aws $(RUN_TESTS) --workspace --test e2e

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## template.yaml passes cfn-lint and SAM's own validation (offline), and
## what a real account enforces holds on SAM's transform of it.
template-check: $(VENV)/.installed
	cfn-lint template.yaml
	sam validate --lint --template template.yaml
	$(VENV)/bin/python tools/check_template.py template.yaml
	$(VENV)/bin/python tools/check_transformed.py template.yaml
	$(VENV)/bin/python -m unittest --quiet tools/test_check_transformed.py tools/test_stack.py

## docs/openapi.yaml is a valid OpenAPI document and lists exactly the
## routes the local gateway serves.
docs-check: $(VENV)/.installed
	$(VENV)/bin/python tools/check_openapi.py

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

build:
	$(CARGO) build --workspace --locked

## The local stack on the AWS adapters: moto for DynamoDB and S3, this
## gateway's own Management API for pushes. Tables come from template.yaml.
MOTO_PORT ?= 5055
run-aws: $(VENV)/.installed
	$(CARGO) build --workspace --bins --locked
	@$(VENV)/bin/python tools/moto_server.py 127.0.0.1 $(MOTO_PORT) >/dev/null 2>&1 & \
	moto=$$!; trap "kill $$moto" EXIT INT TERM; \
	AWS_ENDPOINT_URL=http://127.0.0.1:$(MOTO_PORT) AWS_REGION=us-east-1 \
	AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
	BOOMERANG_BACKEND=aws BOOMERANG_CREATE_RESOURCES=true \
	$(TARGET_DIR)/debug/boomerang-local

## The release bootstraps for this machine's architecture, with
## cargo-lambda and zig (target/lambda/<function>/bootstrap).
LAMBDA_ARCH ?= --x86-64
bootstraps: $(VENV)/.installed
	cargo lambda build --release $(LAMBDA_ARCH) --locked \
		-p boomerang-ws-connect -p boomerang-ws-disconnect -p boomerang-ws-default \
		-p boomerang-upload -p boomerang-webhook -p boomerang-api -p boomerang-sweep -p boomerang-submit \
		-p boomerang-third-party-stub

## Side by side with the Socket.IO design (bench/reference), then the
## Lambdas' bootstrap sizes, cold starts and warm invocations
## (docs/benchmarks.md). The table also lands in bench/results/.
BENCH_RUNS ?= 20
BENCH_ARGS ?=
bench: bootstraps bench/reference/node_modules/.installed
	$(CARGO) build --locked --profile local-release -p boomerang-local -p boomerang-bench \
		--bin boomerang-local --bin loadgen
	BOOMERANG_LOCAL_BIN=$(TARGET_DIR)/local-release/boomerang-local \
		$(TARGET_DIR)/local-release/loadgen $(BENCH_ARGS) --out bench/results/latest.json
	$(CARGO) run --locked -p boomerang-bench --bin cold-start -- $(BENCH_RUNS)

## Load held for minutes: 1,000 tabs over 200 users dropping and
## reconnecting under uploads and webhooks (tests/soak; make test runs a
## short one).
SOAK_TABS ?= 1000
SOAK_USERS ?= 200
SOAK_SECONDS ?= 300
soak:
	$(CARGO) build --workspace --bins --locked
	SOAK_TABS=$(SOAK_TABS) SOAK_USERS=$(SOAK_USERS) SOAK_SECONDS=$(SOAK_SECONDS) \
		$(CARGO) test --locked -p boomerang-e2e --test soak -- --nocapture

## Each fuzz target under libFuzzer for FUZZ_SECONDS (nightly toolchain,
## cargo-fuzz installed under the target dir), from the seeds in git
## (fuzz/seeds/<target>) and the working corpus outside it
## (target/fuzz-corpus/<target>), where new finds go; the corpus is then
## minimised. make test replays both. A crash, once fixed, joins the seeds
## as fuzz/seeds/<target>/regression-<what-it-was>. No sanitizer: the code fuzzed is safe Rust, and without one
## a target runs several times faster. The release profile's LTO is off
## here (LTO and coverage instrumentation do not link together), and the
## fuzz builds get their own target dir (cargo-lambda would take their
## binaries for Lambdas, and the two would rebuild each other's).
FUZZ_SECONDS ?= 120
FUZZ_TARGETS := token webhook_signature webhook_body multipart apigw_event
CARGO_FUZZ := $(TARGET_DIR)/tools/bin/cargo-fuzz
FUZZ_CORPUS := $(TARGET_DIR)/fuzz-corpus
FUZZ_ENV := PATH=$(TARGET_DIR)/tools/bin:$$PATH CARGO_PROFILE_RELEASE_LTO=false \
	CARGO_PROFILE_RELEASE_OPT_LEVEL=3 CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
	CARGO_PROFILE_RELEASE_STRIP=none
FUZZ_OPTS := -s none --features libfuzzer --target-dir $(TARGET_DIR)/fuzz
fuzz: $(CARGO_FUZZ)
	$(FUZZ_ENV) cargo +nightly fuzz build $(FUZZ_OPTS)
	@for t in $(FUZZ_TARGETS); do \
		echo "== $$t ($(FUZZ_SECONDS) s)"; \
		mkdir -p $(FUZZ_CORPUS)/$$t; \
		$(FUZZ_ENV) cargo +nightly fuzz run $(FUZZ_OPTS) $$t $(FUZZ_CORPUS)/$$t fuzz/seeds/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 > $(TARGET_DIR)/fuzz-$$t.log 2>&1; \
		rc=$$?; grep -E "^stat::(number_of_executed_units|new_units_added)" $(TARGET_DIR)/fuzz-$$t.log; \
		[ $$rc = 0 ] || { tail -40 $(TARGET_DIR)/fuzz-$$t.log; exit 1; }; \
		$(FUZZ_ENV) cargo +nightly fuzz cmin $(FUZZ_OPTS) $$t $(FUZZ_CORPUS)/$$t >/dev/null 2>&1 || exit 1; \
	done

$(CARGO_FUZZ):
	$(CARGO) install cargo-fuzz --locked --version 0.13.2 --root $(TARGET_DIR)/tools

## A tiny run of the same harness, to prove it works (no timing is judged).
bench-smoke: bench/reference/node_modules/.installed
	$(CARGO) build --workspace --bins --locked
	BOOMERANG_LOCAL_BIN=$(TARGET_DIR)/debug/boomerang-local $(TARGET_DIR)/debug/loadgen \
		--users 4 --tabs 2 --webhooks 40 --inflight 8 --latency-seconds 1 --idle 30 \
		--out $(TARGET_DIR)/bench-smoke.json

bench/reference/node_modules/.installed: bench/reference/package.json bench/reference/package-lock.json
	cd bench/reference && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## Builds the Lambdas for arm64 (cargo-lambda + zig, no Docker) and
## deploys environment ENV of samconfig.toml (committed, no secrets), with
## PARAMS="K=V ..." over its parameters and the ConfigRevision that makes
## a changed parameter, key or build go live (tools/stack.py).
ENV ?= dev
PARAMS ?=
deploy: $(VENV)/.installed
	sam build --beta-features
	$(VENV)/bin/python tools/stack.py deploy --env $(ENV) $(if $(STACK),--stack $(STACK)) $(PARAMS)

## A token for user FOR of a deployed stack, minted with its key (from
## Secrets Manager; never printed): make token FOR=alice [ENV=dev | STACK=name]
token: $(VENV)/.installed
	@$(VENV)/bin/python tools/stack.py token --env $(ENV) $(if $(STACK),--stack $(STACK)) --user $(or $(FOR),$(error FOR=<user> is required))

## A deployed stack end to end (socket, ping, upload, result on the socket,
## GET /jobs/{id}), from its outputs: make smoke [ENV=dev | STACK=name]
## A short load run against a deployed stack (docs/deploy.md): the load
## generator with the stack's URLs and a throwaway user's token.
LOAD_ARGS ?= --tabs 2 --uploads 100 --rate 5
load: $(VENV)/.installed
	$(CARGO) build --release -p boomerang-bench --bin loadgen
	$(VENV)/bin/python tools/stack.py load --env $(ENV) $(if $(STACK),--stack $(STACK)) --load-bin $(TARGET_DIR)/release/loadgen $(LOAD_ARGS)

smoke: $(VENV)/.installed
	$(CARGO) build -p boomerang-e2e --bin boomerang-smoke
	$(VENV)/bin/python tools/stack.py smoke --env $(ENV) $(if $(STACK),--stack $(STACK)) --smoke-bin $(TARGET_DIR)/debug/boomerang-smoke

clean:
	$(CARGO) clean
	rm -rf $(VENV) node_modules bench/reference/node_modules
