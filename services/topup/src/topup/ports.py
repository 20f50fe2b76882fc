"""What the topup rules need from the world, and nothing more: the airtime providers and the
bundle of ports the service functions take. `provider.py` (Selcom) and `vtpass.py` (VTpass) are
the adapters behind `AirtimeProvider`; `routing.py` says which one gets an order. Unit tests put
an httpx.MockTransport under an adapter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, Protocol

import asyncpg

from betfuz_common.idempotency import IdempotencyStore
from betfuz_common.ops.domain import Operations
from topup.metrics import TopupMetrics

if TYPE_CHECKING:
    from topup.catalogue import Catalogue
    from topup.routing import Router

# What an answer means for a purchase. Only "success" and "failed" settle it; "pending" is
# every answer we cannot be sure of (timeout, 5xx, an unknown or unreadable answer);
# "not_found" is a status query for a transid the provider has never seen; "refused" is a
# provable non-acceptance of an order (the connection was refused before the request went
# out, or an answer the provider documents as "not processed"): the only answer after which
# the order may go to another provider.
Outcome = Literal["success", "failed", "pending", "not_found", "refused"]


@dataclass(frozen=True)
class ProviderResult:
    outcome: Outcome
    result_code: str | None
    message: str
    external_reference: str | None = None


@dataclass(frozen=True)
class ProcessOrder:
    transid: str  # the id this provider knows the order by (its idempotency key)
    carrier: str
    product_type: str
    phone: str  # E.164, +234…
    amount: Decimal
    product_code: str | None = None  # a data plan, for a provider that sells plans


@dataclass(frozen=True)
class Plan:
    """One data plan as a provider sells it."""

    product_code: str
    name: str
    price: Decimal
    validity: str | None = None


class AirtimeProvider(Protocol):
    name: str
    # Whether data is sold by a bare amount (Selcom) or only as plans (VTpass).
    sells_data_by_amount: bool

    def transaction_id(self, reference: str, now: datetime) -> str:
        """The id to send this provider for our reference; stored before the first call."""
        ...

    async def process(self, order: ProcessOrder) -> ProviderResult: ...

    async def query(self, transid: str) -> ProviderResult: ...

    async def plans(self, carrier: str) -> list[Plan] | None:
        """The data plans on sale, or None when the provider does not sell plans."""
        ...


@dataclass(frozen=True)
class TopupPorts:
    pool: asyncpg.Pool
    providers: Mapping[str, AirtimeProvider]
    router: Router
    catalogue: Catalogue
    metrics: TopupMetrics
    idempotency: IdempotencyStore
    operations: Operations  # where the service's exceptions become cases (topup.operations)
    check_after_seconds: float = 180.0

    def provider(self, name: str) -> AirtimeProvider:
        return self.providers[name]
