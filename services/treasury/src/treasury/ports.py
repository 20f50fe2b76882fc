"""What the treasury rules need from the world: Wema, the BVN cipher, and the bundle of ports
the service functions take. `provider.WemaClient` is the adapter behind `Wema`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import asyncpg
from prometheus_client import CollectorRegistry

from betfuz_common.idempotency import IdempotencyStore
from treasury.bvn import BvnCipher
from treasury.domain import Deposit
from treasury.metrics import TreasuryMetrics
from treasury.provider import AccountRequest, WemaAccount

# Longer than the Wema timeout, so a claim is never taken over while its call is still running.
DEFAULT_LEASE = timedelta(seconds=60)


class Wema(Protocol):
    async def create_virtual_account(self, request: AccountRequest) -> WemaAccount: ...

    async def list_transactions(self, start: datetime, end: datetime) -> list[Deposit]: ...


@dataclass(frozen=True)
class TreasuryPorts:
    pool: asyncpg.Pool
    wema: Wema
    cipher: BvnCipher
    idempotency: IdempotencyStore
    lease: timedelta = DEFAULT_LEASE
    # On the app's registry in the app; a private one wherever ports are built without an app.
    metrics: TreasuryMetrics = field(default_factory=lambda: TreasuryMetrics(CollectorRegistry()))
