# Heitje: `make demo` replays the example year end to end; `make test` runs every check.
# Needs only python3 (3.11+), node and npm; everything else comes from PyPI and npm.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FORGE := node_modules/.bin/forge
ARTIFACT := contracts/out/HeitjeToken.sol/HeitjeToken.json
SOURCES := $(wildcard contracts/src/*.sol)

.PHONY: setup demo test lint forge-test pytest bench clean

setup: $(VENV)/.installed node_modules/.installed $(ARTIFACT)

# Python: a venv with the package (editable) and its dependencies at the locked versions.
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

# npm: forge, anvil, cast, solc-js and OpenZeppelin 5.4.0 at the versions in package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Contracts: compiled offline by solc-js behind tools/solc.
$(ARTIFACT): $(SOURCES) foundry.toml node_modules/.installed
	$(FORGE) build --quiet
	touch $@

demo: setup
	$(BIN)/heitje demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(FORGE) fmt --check

forge-test: setup
	$(FORGE) test

pytest: setup
	$(BIN)/pytest

test: lint forge-test pytest

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf contracts/out contracts/cache .pytest_cache .mypy_cache .ruff_cache

# The permissioned network (docs/network.md): geth v1.13.15 built from the Go module proxy into
# tools/geth/bin; skipped when that binary is already there. Needs Go; not part of `setup`.
.PHONY: network-setup
network-setup:
	sh node/build_geth.sh
