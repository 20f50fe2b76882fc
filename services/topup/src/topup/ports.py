"""What the topup rules need from the world, and nothing more: an airtime provider and the
bundle of ports the service functions take. The Selcom client (`provider.py`) is the adapter
behind `AirtimeProvider`; unit tests put an httpx.MockTransport under it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

import asyncpg

from betfuz_common.idempotency import IdempotencyStore
from betfuz_common.ops.domain import Operations
from topup.metrics import TopupMetrics

# What an answer means for a purchase. Only "success" and "failed" settle it; "pending" is
# every answer we cannot be sure of (timeout, 5xx, an unknown or unreadable answer);
# "not_found" is a status query for a transid the provider has never seen.
Outcome = Literal["success", "failed", "pending", "not_found"]


@dataclass(frozen=True)
class ProviderResult:
    outcome: Outcome
    result_code: str | None
    message: str
    external_reference: str | None = None


@dataclass(frozen=True)
class ProcessOrder:
    transid: str
    carrier: str
    product_type: str
    phone: str  # E.164, +234…
    amount: Decimal


class AirtimeProvider(Protocol):
    async def process(self, order: ProcessOrder) -> ProviderResult: ...

    async def query(self, transid: str) -> ProviderResult: ...


@dataclass(frozen=True)
class TopupPorts:
    pool: asyncpg.Pool
    provider: AirtimeProvider
    metrics: TopupMetrics
    idempotency: IdempotencyStore
    operations: Operations  # where the service's exceptions become cases (topup.operations)
    check_after_seconds: float = 180.0
