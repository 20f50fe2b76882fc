"""The ledger's own metrics, on the app's registry so /metrics shows them beside the HTTP ones."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class LedgerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        # Each one is a settled win the regulator's record lacks until a person acts: alert on it.
        self.set_aside = Counter(
            "ledger_entries_set_aside_total",
            "Entries set aside by the worker because they can never be recorded on chain",
            registry=registry,
        )
