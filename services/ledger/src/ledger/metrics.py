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
        self.confirmed = Counter(
            "ledger_entries_confirmed_total", "Entries confirmed on chain (their block final)",
            registry=registry,
        )  # fmt: skip
        # Gas is what recording costs: per confirmed entry it says whether batching still works.
        self.gas_used = Counter(
            "ledger_gas_used_total", "Gas used by the recording transactions that became final",
            registry=registry,
        )  # fmt: skip
        self.gas_price = Gauge(
            "ledger_gas_price_wei", "Effective gas price of the last final recording transaction",
            registry=registry,
        )  # fmt: skip
        self.audit_mismatches = Counter(
            "ledger_audit_mismatches_total",
            "Confirmed entries whose hash, amount or block differs from the chain's",
            registry=registry,
        )
        self.audit_last_run = Gauge(
            "ledger_audit_last_run_timestamp_seconds", "Unix time of the last completed audit",
            registry=registry,
        )  # fmt: skip

    def spent(self, gas_used: int, gas_price_wei: int) -> None:
        """A final transaction's cost (a reverted one cost gas too)."""
        self.gas_used.inc(gas_used)
        if gas_price_wei:
            self.gas_price.set(gas_price_wei)
