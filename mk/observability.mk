# Observability: the Prometheus alert rules and the Grafana dashboard (deploy/observability/README.md).
# promtool comes from Debian's `prometheus` package; the metric names the rules and panels use
# are checked against the services' real registries by tests/deploy/test_observability.py.
OBSERVABILITY := deploy/observability
PROMTOOL ?= promtool

TEST_CHECKS += observability-check

.PHONY: observability-deps
observability-deps: ## Install promtool (Debian package prometheus) if it is missing (needs root)
	@if ! command -v $(PROMTOOL) >/dev/null; then \
	  echo "installing prometheus (Debian package, for promtool)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	fi

.PHONY: observability-check
observability-check: observability-deps ## promtool: the alert rules are valid and their unit tests fire as written
	$(PROMTOOL) check rules $(OBSERVABILITY)/alerts.yaml
	$(PROMTOOL) test rules $(OBSERVABILITY)/alerts.test.yaml
