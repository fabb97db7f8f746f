# Heitje: `make demo` replays the example year end to end; `make test` runs every check.
# Needs only python3 (3.11+), node and npm; everything else comes from PyPI and npm.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FORGE := tools/forge
ARTIFACT := contracts/out/HeitjeToken.sol/HeitjeToken.json
SOURCES := $(wildcard contracts/src/*.sol)

.PHONY: setup demo test lint slither forge-test pytest bench clean

VENDOR := web/static/vendor
CATALOGUES := $(wildcard web/translations/*/LC_MESSAGES/messages.po)

setup: $(VENV)/.installed node_modules/.installed $(ARTIFACT) $(VENDOR)/.installed $(CATALOGUES:.po=.mo)

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

# The pages' front-end files, from the npm packages above into web/static/vendor (served at
# /static/vendor; nothing is loaded from another host): NL Design System CSS (Utrecht
# components, Voorbeeld design tokens), htmx, swagger-ui and redoc for /docs and /redoc.
$(VENDOR)/.installed: node_modules/.installed
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)
	cp node_modules/@utrecht/component-library-css/dist/index.css $(VENDOR)/utrecht.css
	cp node_modules/@nl-design-system-unstable/voorbeeld-design-tokens/dist/theme.css $(VENDOR)/voorbeeld-theme.css
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx.min.js
	cp node_modules/swagger-ui-dist/swagger-ui.css node_modules/swagger-ui-dist/swagger-ui-bundle.js $(VENDOR)/
	# redoc shows Redocly's logo from its CDN: an empty data: URL instead (the image then
	# fails and redoc drops it; tests/test_web_foundation.py checks no request leaves).
	sed 's#https://cdn.redoc.ly/redoc/logo-mini.svg#data:,#' \
	  node_modules/redoc/bundles/redoc.standalone.js > $(VENDOR)/redoc.standalone.js
	touch $@

# The pages' message catalogues (Dutch, English), compiled by Babel.
web/translations/%/LC_MESSAGES/messages.mo: web/translations/%/LC_MESSAGES/messages.po $(VENV)/.installed
	$(BIN)/pybabel compile --statistics -i $< -o $@ -l $*

# After changing texts in web/: extract them and merge them into both catalogues.
.PHONY: messages
messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F web/babel.cfg --no-location --sort-output -o web/translations/messages.pot web
	$(BIN)/pybabel update -i web/translations/messages.pot -d web/translations --no-fuzzy-matching --ignore-obsolete

# Contracts: compiled offline by solc-js behind tools/solc.
$(ARTIFACT): $(SOURCES) foundry.toml node_modules/.installed
	$(FORGE) build --quiet
	touch $@

# Set-up output goes to stderr so that stdout is the report alone, first run included.
demo:
	@$(MAKE) --no-print-directory setup 1>&2
	@$(BIN)/heitje demo

lint: setup slither
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(FORGE) fmt --check

# Static analysis of the contracts. slither pins web3<8, so it lives in its own venv.
# Fails on any medium or high finding; the few suppressed at their line are explained in
# docs/token.md.
.venv-slither/.installed: requirements-slither.lock
	test -x .venv-slither/bin/python || $(PYTHON) -m venv .venv-slither
	.venv-slither/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-slither.lock
	touch $@

slither: .venv-slither/.installed node_modules/.installed
	PATH="$(CURDIR)/tools:$$PATH" .venv-slither/bin/slither . \
	  --filter-paths node_modules --exclude-dependencies --fail-medium

forge-test: setup
	$(FORGE) test
	$(FORGE) snapshot --match-contract HeitjeTokenGasTest --check

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
