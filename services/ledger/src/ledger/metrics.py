"""The ledger's own metrics, on the app's registry so /metrics shows them beside the HTTP ones.

Alert rules name these exactly: `ledger_backlog_entries`, `ledger_entries_failed_total`,
`ledger_entries_set_aside_total`, `ledger_audit_mismatches_total`,
`ledger_audit_last_run_timestamp_seconds`.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class AuditFigures(Collector):
    """What the audit runs recorded (`ledger.audit_runs`), as the app last read them.

    The audit is a process of its own (`python -m ledger audit`), so its figures are read from
    the database rather than counted here: a counter of that process would die with it.
    """

    def __init__(self) -> None:
        self.mismatches = 0  # found over every run so far: only ever grows
        self.last_run: float | None = None  # unix seconds; None before the first run

    def collect(self) -> Iterator[Metric]:
        mismatches = CounterMetricFamily(
            "ledger_audit_mismatches",
            "Confirmed entries whose hash, amount or block differs from the chain's, summed over "
            "every audit run",
        )
        mismatches.add_metric([], float(self.mismatches))
        yield mismatches
        last = GaugeMetricFamily(
            "ledger_audit_last_run_timestamp_seconds",
            "Unix time of the last completed audit (0 before the first)",
        )
        last.add_metric([], self.last_run or 0.0)
        yield last


class LedgerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        # Each one is a settled win the regulator's record lacks until a person acts: alert on it.
        self.set_aside = Counter(
            "ledger_entries_set_aside_total",
            "Entries set aside by the worker because they can never be recorded on chain",
            registry=registry,
        )
        self.backlog = Gauge(
            "ledger_backlog_entries",
            "Entries waiting to be recorded on chain (read from the database, alike on every "
            "replica)",
            registry=registry,
        )
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
        # ledger_audit_mismatches_total, ledger_audit_last_run_timestamp_seconds: from the
        # database, see AuditFigures.
        self.audit = AuditFigures()
        registry.register(self.audit)

    def spent(self, gas_used: int, gas_price_wei: int) -> None:
        """A final transaction's cost (a reverted one cost gas too)."""
        self.gas_used.inc(gas_used)
        if gas_price_wei:
            self.gas_price.set(gas_price_wei)
