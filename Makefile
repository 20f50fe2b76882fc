# Betfuz payment services. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVICES := topup treasury ledger
export PYTHONPATH := $(CURDIR)/libs/common/src:$(CURDIR)/libs/testing/src:$(CURDIR)/services/topup/src:$(CURDIR)/services/treasury/src:$(CURDIR)/services/ledger/src:$(CURDIR)
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)

# Extra checks that fragments in mk/ add to `make test` (each fragment owns one area).
TEST_CHECKS :=

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements/dev.lock | $(BIN)/python
	@# (this machine's pip config names extra local indexes that may not exist: drop that noise)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes \
	  -r requirements/dev.lock 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@# npm 11 holds back install scripts; anvil's only picks a platform binary, which its optional dependency already ships.
	touch $@

.PHONY: install
install: $(VENV)/.installed node_modules/.installed ## Create .venv and node_modules from the locks

.PHONY: lock
lock: ## Re-resolve the Python locks (needs uv; hashes, no URLs)
	uv pip compile -q --generate-hashes --python-version 3.11 libs/common/pyproject.toml \
	  $(foreach s,$(SERVICES),services/$(s)/pyproject.toml) requirements/dev.in -o requirements/dev.lock
	$(foreach s,$(SERVICES),uv pip compile -q --generate-hashes --python-version 3.11 \
	  libs/common/pyproject.toml services/$(s)/pyproject.toml -o services/$(s)/requirements.lock;)

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
	$(BIN)/mypy libs services dev sandboxes $$(find tests bench -name "*.py" 2>/dev/null)

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
