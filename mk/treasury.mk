# Treasury service targets (included by the Makefile).

.PHONY: deposit
deposit: install ## Signed Wema deposit to the running stack: make deposit ACCOUNT=…|USER=… AMOUNT=… [DUPLICATES=n]
	@$(BIN)/python -m dev.stack_env $(BIN)/python -m dev.deposit \
	  $(if $(command_line_user),--user=$(command_line_user)) \
	  $(if $(ACCOUNT),--account=$(call quote,$(ACCOUNT))) \
	  $(if $(AMOUNT),--amount=$(call quote,$(AMOUNT))) \
	  $(if $(DUPLICATES),--duplicates=$(call quote,$(DUPLICATES)))

.PHONY: treasury-test
treasury-test: install db ## Treasury unit, integration and end-to-end tests
	$(BIN)/python -m pytest services/treasury tests/e2e/treasury $(PYTEST_ARGS)
