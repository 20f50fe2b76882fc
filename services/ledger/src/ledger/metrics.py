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
            "Confirmed entries the chain audit found not matching the chain (hash, amount, block)",
        )
        mismatches.add_metric([], float(self.mismatches))
        yield mismatches
        last = GaugeMetricFamily(
            "ledger_audit_last_run_timestamp_seconds",
            "When the last chain audit finished (unix seconds); absent before the first",
        )
        if self.last_run is not None:
            last.add_metric([], self.last_run)
        yield last


class LedgerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        # Each one is a settled win the regulator's record lacks until a person acts: alert on it.
        self.set_aside = Counter(
            "ledger_entries_set_aside_total",
            "Entries set aside by the worker because they can never be recorded on chain",
            registry=registry,
        )
        self.failed = Counter(
            "ledger_entries_failed_total",
            "Failed recording attempts, one per entry per attempt (retried with backoff)",
            registry=registry,
        )
        self.backlog = Gauge(
            "ledger_backlog_entries",
            "Entries waiting to be recorded on chain (pending, submitted or failed and queued)",
            registry=registry,
        )
        self.audit = AuditFigures()
        registry.register(self.audit)
