# Boomerang: `make run` starts the whole system on this machine,
# `make test` runs everything that checks it. Nothing else to install.

CARGO  ?= cargo
VENV   ?= .venv
PYTHON ?= python3

.PHONY: run test check lint fmt docs-check build clean help

help:
	@echo "make run    build and start the local stack (boomerang-local)"
	@echo "make test   formatting, lints, unit + end-to-end tests, API docs check"

## Build and start the local stack on the embedded backend.
run:
	$(CARGO) run -p boomerang-local --bin boomerang-local

## Everything that passes on a fresh machine of this kind.
# cargo-nextest runs each test in its own process and prints one summary;
# plain `cargo test` where it is missing.
test: lint docs-check
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --locked --no-fail-fast; \
	else \
		$(CARGO) test --workspace --locked --no-fail-fast; \
	fi

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

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

clean:
	$(CARGO) clean
	rm -rf $(VENV)
