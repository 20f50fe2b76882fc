"""Topup's own metrics, on the app's registry so /metrics shows them beside the HTTP ones."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class TopupMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.purchases = Counter(
            "topup_purchases_total", "Topups created, by status after the provider call",
            ["status"], registry=registry,
        )  # fmt: skip
        self.settlements = Counter(
            "topup_settlements_total", "Status changes applied, by source and new status",
            ["source", "status"], registry=registry,
        )  # fmt: skip
        self.refunds = Counter(
            "topup_refunds_total", "Wallet refunds of failed topups", ["source"], registry=registry
        )
        self.webhooks = Counter(
            "topup_webhooks_total", "Verified Selcom webhooks, by outcome", ["outcome"],
            registry=registry,
        )  # fmt: skip
        self.reconcile_runs = Counter(
            "topup_reconcile_runs_total", "Reconciliation ticks, by result", ["result"],
            registry=registry,
        )  # fmt: skip
        self.sla_breaches = Counter(
            "topup_sla_breaches_total", "Topups flagged for review at the 5-minute SLA",
            registry=registry,
        )  # fmt: skip
        self.provider_requests = Counter(
            "topup_provider_requests", "Calls to a provider, by what the answer meant",
            ["provider", "outcome"], registry=registry,
        )  # fmt: skip
        self.circuit_open = Gauge(
            "topup_provider_circuit_open", "1 while a provider is skipped (its cool-down)",
            ["provider"], registry=registry,
        )  # fmt: skip
        self.pending_over_sla = Gauge(
            "topup_pending_over_sla", "Topups still pending past the SLA at the last tick",
            registry=registry,
        )  # fmt: skip
