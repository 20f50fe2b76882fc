# Betfuz payment services. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVICES := topup treasury ledger
# The repository's installable projects: the shared libraries, each service, and the dev tooling
# at the root. The venv installs them editable on top of the hash-locked third-party set.
PROJECTS := libs/common libs/testing $(addprefix services/,$(SERVICES)) .
PIP := $(BIN)/python -m pip --disable-pip-version-check
# (this machine's pip config names extra local indexes that may not exist: drop that noise)
QUIET_PIP := 2>&1 | { grep -v 'is ignored: it is neither' || true; }
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)

# Extra checks that fragments in mk/ add to `make test` (each fragment owns one area).
TEST_CHECKS :=

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements/dev.lock $(addsuffix /pyproject.toml,$(PROJECTS)) | $(BIN)/python
	$(PIP) install --quiet --require-hashes -r requirements/dev.lock $(QUIET_PIP)
	@# Our own projects: editable, no dependency resolution (the lock above has them all), and
	@# built with the locked hatchling instead of one fetched into an isolated build env.
	$(PIP) install --quiet --no-deps --no-build-isolation $(addprefix -e ,$(PROJECTS)) $(QUIET_PIP)
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@# npm 11 holds back install scripts; anvil's only picks a platform binary, which its optional dependency already ships.
	touch $@

.PHONY: install
install: $(VENV)/.installed node_modules/.installed ## Create .venv and node_modules from the locks

.PHONY: lock
lock: ## Re-resolve the Python locks (needs uv; hashes, no URLs, our own projects left out)
	uv pip compile $(UV_COMPILE) requirements/dev.in -o requirements/dev.lock
	uv pip compile $(UV_COMPILE) requirements/build.in -o requirements/build.lock
	$(foreach s,$(SERVICES),printf -- '-e ./libs/common\n-e ./services/$(s)\n' \
	  | uv pip compile $(UV_COMPILE) - -o services/$(s)/requirements.lock;)

UV_COMPILE := -q --generate-hashes --python-version 3.11 \
  $(foreach p,common testing dev $(SERVICES),--no-emit-package betfuz-$(p))

.PHONY: db
db: install ## Make sure PostgreSQL answers (starts the local cluster if it is down)
	@$(BIN)/python -m dev.postgres

.PHONY: run
run: install db ## Run the whole local stack in the foreground (Ctrl-C stops it all)
	$(BIN)/python -m dev.stack

.PHONY: token
token: install ## Print a dev JWT: make token USER=<id> [ROLE=compliance]
	@$(BIN)/python -m dev.token "$(USER)" $(if $(ROLE),--role $(ROLE))

.PHONY: lint
lint: install ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

.PHONY: typecheck
typecheck: install ## mypy --strict
	@# The installed projects by package name, then the test files (mypy takes one kind a run).
	$(BIN)/mypy $(foreach p,betfuz_common betfuz_testing $(SERVICES) dev sandboxes bench,-p $(p))
	$(BIN)/mypy $$(find libs services tests -path '*tests/*' -name '*.py') conftest.py

.PHONY: pytest
pytest: install db ## Unit, integration and end-to-end tests on real PostgreSQL
	$(BIN)/python -m pytest $(PYTEST_ARGS)

.PHONY: bench
bench: install db ## Benchmarks next to their ceilings (≤ 10 min, 127.0.0.1 only) → bench/results, docs/PERFORMANCE.md
	$(BIN)/python -m bench.run $(BENCH_ARGS)

.PHONY: reliability
reliability: install db ## Run the money-safety suite and publish its figures (docs/reliability-figures.json)
	SAFETY_FIGURES_PATH=docs/reliability-figures.json $(BIN)/python -m pytest tests/safety -q

.PHONY: fmt
fmt: install ## Format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

-include mk/*.mk

.PHONY: test
test: lint typecheck $(TEST_CHECKS) pytest ## Everything CI checks: lint, types, tests
