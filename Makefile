# Thin wrapper over cargo and the scripts; no logic of its own.
CARGO ?= cargo

.PHONY: build release test test-all demo bench lint fmt setup schema

build:
	$(CARGO) build --workspace

release:
	$(CARGO) build --workspace --release

# Unit and socket-level tests; LXD tests skip themselves without WORKSHOP_TEST_LXD=1.
test:
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace

# Everything, against a real LXD that the scripts install and start (run as root).
test-all:
	bash scripts/test-all.sh

# Set up LXD, start workshopd, launch the example workshop and run a command in it (root).
demo:
	bash scripts/demo.sh

bench:
	bash scripts/bench.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

setup:
	bash scripts/setup-lxd.sh

schema:
	UPDATE_SCHEMA=1 $(CARGO) test -p workshop-api schema
