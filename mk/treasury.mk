# Treasury service targets (included by the Makefile).

.PHONY: deposit
deposit: install ## Send a signed deposit webhook from the Wema sandbox: make deposit ACCOUNT=… AMOUNT=… [DUPLICATES=n]
	@test -n "$(ACCOUNT)" -a -n "$(AMOUNT)" || { echo "usage: make deposit ACCOUNT=<10 digits> AMOUNT=<naira> [DUPLICATES=n]"; exit 2; }
	$(BIN)/python -m sandboxes.wema deposit --account "$(ACCOUNT)" --amount "$(AMOUNT)" $(if $(DUPLICATES),--duplicates $(DUPLICATES))

.PHONY: treasury-test
treasury-test: install db ## Treasury unit, integration and end-to-end tests
	$(BIN)/python -m pytest services/treasury tests/e2e/treasury $(PYTEST_ARGS)
