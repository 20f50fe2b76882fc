# Ledger service: its tests alone, and one worker tick for ops.

.PHONY: ledger-test
ledger-test: install db ## Ledger tests only (unit, integration on anvil, e2e)
	$(BIN)/python -m pytest services/ledger tests/e2e/ledger $(PYTEST_ARGS)

.PHONY: ledger-tick
ledger-tick: install ## Run one ledger worker tick (needs LEDGER_CONTRACT_ADDRESS and the chain)
	$(BIN)/python -m ledger worker --once
