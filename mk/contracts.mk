# BetLedger contract: compile into the committed artifact, and check it is not stale.

LEDGER_ARTIFACT := services/ledger/src/ledger/artifacts/BetLedger.json

.PHONY: contracts
contracts: install ## Compile BetLedger.sol into the committed artifact
	$(BIN)/python -m dev.contract_build

.PHONY: contracts-check
contracts-check: install ## Fail if the committed BetLedger artifact differs from a fresh compile
	$(BIN)/python -m dev.contract_build --check

.PHONY: ledger-gas
ledger-gas: install ## Measure BetLedger gas per bet and throughput on a local anvil
	$(BIN)/python -m bench.ledger_gas

TEST_CHECKS += contracts-check
