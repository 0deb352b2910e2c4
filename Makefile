# Every target bootstraps its own virtualenv from the lock file.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit e2e crds lock bench clean services services-down controlplane ferretdb \
	console console-ui ui-test ui-e2e ui-screenshots

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	# Bytecode compiled once, as pip does on install: with PYTHONDONTWRITEBYTECODE set, every
	# process would otherwise compile what it imports again (weir validate: 0.05 s of weir alone).
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python --require-hashes requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m compileall -q weir
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/weir run examples/hello/flow.yaml --input '{"name": "Ada"}' --store sqlite:///.weir/demo.db
	$(BIN)/weir executions list --store sqlite:///.weir/demo.db --limit 3

lint: $(STAMP)
	$(BIN)/ruff check weir tests bench
	$(BIN)/ruff format --check weir tests bench
	$(BIN)/hadolint Dockerfile.runner Dockerfile.operator Dockerfile.console
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# Two worker processes (pytest-xdist), each test file whole on one of them: the suite takes about
# 9 minutes instead of 17 on a 2-core machine. PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 2
unit: $(STAMP) controlplane ferretdb
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test: lint typecheck unit ui-test ui-e2e

# The web console (console-ui/, docs/console.md): Node.js >= 20.19 and npm, packages from the lock.
UI := console-ui
UI_STAMP := $(UI)/node_modules/.installed

$(UI_STAMP): $(UI)/package-lock.json $(UI)/package.json
	@command -v npm >/dev/null || { echo "the web console needs Node.js >= 20.19 and npm" >&2; exit 1; }
	cd $(UI) && npm ci --no-audit --no-fund
	touch $(UI_STAMP)

# Type-check the app and run its component tests (Vitest, jsdom).
ui-test: $(UI_STAMP)
	cd $(UI) && npx tsc --noEmit && npx vitest run

# Build the app into console-ui/dist, which `weir console` serves at / (weir/console/ui.py).
console-ui: $(UI_STAMP)
	cd $(UI) && npm run build

# End-to-end tests of the built app against a real `weir console` in headless Chromium (Debian's
# chromium package driven by playwright-core; console-ui/e2e/, docs/console.md). Writes the
# screenshots in build/screenshots/console; `make ui-screenshots` writes those the docs show.
# No Chromium is a failure, never a skip.
CHROMIUM ?= /usr/bin/chromium
SCREENSHOTS ?= build/screenshots/console
ui-e2e: console-ui $(STAMP)
	@test -x "$(CHROMIUM)" || { echo "ui-e2e needs Chromium at $(CHROMIUM): apt-get install chromium (Debian's package; CI: .ci/services/install.sh), or CHROMIUM=/path/to/chromium" >&2; exit 1; }
	cd $(UI) && CHROMIUM="$(CHROMIUM)" SCREENSHOTS="$(abspath $(SCREENSHOTS))" node --test --test-concurrency=1 e2e/console.test.mjs

# The end-to-end run, writing its screenshots where docs/console.md shows them.
ui-screenshots:
	$(MAKE) ui-e2e SCREENSHOTS=docs/screenshots/console

# The web console on the demo store: http://127.0.0.1:8090/
console: console-ui demo
	$(BIN)/weir console --store sqlite:///.weir/demo.db examples/

# etcd, kube-apiserver and kube-controller-manager for tests/kube, built from Go modules into
# build/controlplane (Go >= 1.25; cold about 9 minutes, then nothing: tools/controlplane/README.md).
controlplane:
	tools/controlplane/build.sh

# FerretDB (the MongoDB wire protocol over SQLite) for the mongodb node's tests, built from Go
# modules into build/ferretdb (Go >= 1.24; cold about 2 minutes: tools/ferretdb/README.md).
ferretdb:
	tools/ferretdb/build.sh

# PostgreSQL, MariaDB and RabbitMQ for the integration tests (README, Development).
services:
	bash .ci/services/up

services-down:
	bash .ci/services/down

# The kind-based end-to-end suite: needs Docker, kind, kubectl and helm (docs/install.md).
e2e: $(STAMP)
	WEIR_E2E=1 $(BIN)/pytest -q tests/e2e $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/engine.py

# Regenerate the CRDs from the models, for the repository and for the Helm chart.
crds: $(STAMP)
	$(BIN)/weir crds --output crds
	cp crds/*.yaml charts/weir/crds/

# Re-resolve every dependency after a change to pyproject.toml.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --all-extras --generate-hashes --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra sql --extra code --extra files --extra mail --extra oracle --extra mongodb --extra redis --extra runner --generate-hashes --python-version 3.11 -o requirements/runner.lock
	$(BIN)/uv pip compile pyproject.toml --extra operator --generate-hashes --python-version 3.11 -o requirements/operator.lock

clean:
	rm -rf $(VENV) .weir .pytest_cache .mypy_cache .ruff_cache console-ui/node_modules console-ui/dist
