"""Treasury's own metrics, on the app's registry so /metrics shows them beside the HTTP ones.
The alert rules (deploy/observability/alerts.yaml) name these exactly: rename one only with its
rules."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class TreasuryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        # Deposits by the path that brought them: beside the reconciliation's credits, a drop of
        # the webhook's share says Wema stopped notifying us.
        self.deposits = Counter(
            "treasury_deposits_total", "Deposits applied, by source and outcome",
            ["source", "outcome"], registry=registry,
        )  # fmt: skip
        self.reconcile_ticks = Counter(
            "treasury_reconcile_ticks_total",
            "Reconciliation ticks this replica ran, by outcome (ok, failed)",
            ["outcome"], registry=registry,
        )  # fmt: skip
        self.reconcile_last_success = Gauge(
            "treasury_reconcile_last_success_timestamp_seconds",
            "Unix time of the last reconciliation tick that read every page of its window",
            registry=registry,
        )  # fmt: skip
        self.reconcile_credited = Counter(
            "treasury_reconcile_credited_total",
            "Deposits credited by reconciliation: notifications that never came",
            registry=registry,
        )  # fmt: skip
        self.reconcile_mismatches = Counter(
            "treasury_reconcile_mismatches_total",
            "Deposits Wema lists with another amount or account than our books hold",
            registry=registry,
        )  # fmt: skip
        for outcome in ("ok", "failed"):  # both series exist from the start, at zero
            self.reconcile_ticks.labels(outcome)
