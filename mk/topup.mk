# Topup service targets (included by the root Makefile).

.PHONY: topup-test
topup-test: install db ## Topup: unit, integration and end-to-end tests
	$(BIN)/python -m pytest services/topup tests/e2e/topup $(PYTEST_ARGS)

.PHONY: topup-reconcile
topup-reconcile: install ## Topup: one reconciliation tick (the running stack's database, or DATABASE_URL, SELCOM_*)
	@$(BIN)/python -m dev.stack_env $(BIN)/python -m topup reconcile --once

.PHONY: selcom-sandbox
selcom-sandbox: install ## Run the Selcom sandbox alone on :9101 (SANDBOX_SELCOM_FAST=1 for benchmarks)
	$(BIN)/python -m sandboxes.selcom
