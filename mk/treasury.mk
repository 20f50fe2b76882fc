# Treasury service targets (included by the Makefile).

.PHONY: deposit
deposit: install ## Signed Wema deposit to the running stack: make deposit ACCOUNT=…|USER=… AMOUNT=… [DUPLICATES=n] [NOTIFY=0]
	@$(BIN)/python -m dev.stack_env $(BIN)/python -m dev.deposit \
	  $(if $(command_line_user),--user=$(command_line_user)) \
	  $(if $(ACCOUNT),--account=$(call quote,$(ACCOUNT))) \
	  $(if $(AMOUNT),--amount=$(call quote,$(AMOUNT))) \
	  $(if $(DUPLICATES),--duplicates=$(call quote,$(DUPLICATES))) \
	  $(if $(NOTIFY),--notify=$(call quote,$(NOTIFY)))

.PHONY: recon
recon: install ## The daily statement check against the running stack: make recon [DATE=YYYY-MM-DD] (a Lagos day; default today)
	@$(BIN)/python -m dev.stack_env $(BIN)/python -m treasury reconcile \
	  $(if $(DATE),--date=$(call quote,$(DATE)))

.PHONY: recon-tick
recon-tick: install ## One treasury reconciliation tick against the running stack (deposits made with NOTIFY=0)
	@$(BIN)/python -m dev.stack_env $(BIN)/python -m treasury reconcile --once

.PHONY: treasury-test
treasury-test: install db ## Treasury unit, integration and end-to-end tests
	$(BIN)/python -m pytest services/treasury tests/e2e/treasury $(PYTEST_ARGS)
