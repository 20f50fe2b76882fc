# Observability: the Prometheus alert rules and the Grafana dashboard (deploy/observability/README.md).
# promtool comes from Debian's `prometheus` package; the metric names the rules and panels use
# are checked against the services' real registries by tests/deploy/test_observability.py.
OBSERVABILITY := deploy/observability
PROMTOOL ?= promtool
# root here; a CI runner's user installs through sudo.
APT_AS_ROOT := $(shell if [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null; then echo sudo; fi)

TEST_CHECKS += observability-check

.PHONY: observability-deps
observability-deps: ## Install promtool (Debian package prometheus) if it is missing (root, or sudo)
	@if ! command -v $(PROMTOOL) >/dev/null; then \
	  echo "installing prometheus (Debian package, for promtool)"; \
	  $(APT_AS_ROOT) apt-get update -qq; \
	  $(APT_AS_ROOT) env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  : "only promtool is wanted: a Prometheus server the package started under systemd is stopped"; \
	  if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then \
	    $(APT_AS_ROOT) systemctl disable --now prometheus; \
	  fi; \
	fi

.PHONY: observability-check
observability-check: observability-deps ## promtool: the alert rules are valid and their unit tests fire as written
	$(PROMTOOL) check rules $(OBSERVABILITY)/alerts.yaml
	$(PROMTOOL) test rules $(OBSERVABILITY)/alerts.test.yaml
