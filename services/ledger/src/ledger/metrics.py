"""The ledger's own metrics, on the app's registry so /metrics shows them beside the HTTP ones."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class LedgerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        # Each one is a settled win the regulator's record lacks until a person acts: alert on it.
        self.set_aside = Counter(
            "ledger_entries_set_aside_total",
            "Entries set aside by the worker because they can never be recorded on chain",
            registry=registry,
        )
        self.backlog = Gauge(
            "ledger_backlog_entries", "Entries not yet confirmed on chain at the last tick",
            registry=registry,
        )  # fmt: skip
        self.failed = Counter(
            "ledger_entries_failed_total",
            "Entry recordings that failed (retried with backoff until they succeed)",
            registry=registry,
        )
        self.audit_mismatches = Counter(
            "ledger_audit_mismatches_total",
            "Confirmed entries whose hash, amount or block differs from the chain's",
            registry=registry,
        )
        self.audit_last_run = Gauge(
            "ledger_audit_last_run_timestamp_seconds", "Unix time of the last completed audit",
            registry=registry,
        )  # fmt: skip
