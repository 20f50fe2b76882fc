# Ledger service: its tests alone, and one worker tick for ops.

.PHONY: ledger-test
ledger-test: install db ## Ledger tests only (unit, integration on anvil, e2e)
	$(BIN)/python -m pytest services/ledger tests/e2e/ledger $(PYTEST_ARGS)

.PHONY: ledger-tick
ledger-tick: install ## One ledger worker tick on the running stack's chain (or LEDGER_CONTRACT_ADDRESS's)
	@# The contract address, chain and database come from .run/stack.env, which `make run` writes.
	@$(BIN)/python -m dev.stack_env --need LEDGER_CONTRACT_ADDRESS $(BIN)/python -m ledger worker --once

.PHONY: ledger-audit
ledger-audit: install ## Re-read every confirmed ledger entry from the running stack's chain; non-zero on any mismatch
	@# Same environment as ledger-tick: .run/stack.env from `make run`. Each mismatch becomes an
	@# audit_mismatch case (GET /ledger/ops/cases); exit 1 on a mismatch, 3 when it could not finish.
	@$(BIN)/python -m dev.stack_env --need LEDGER_CONTRACT_ADDRESS $(BIN)/python -m ledger audit
