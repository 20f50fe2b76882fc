"""What a running treasury process holds: the Wema client and the ports. Opened by the app's
lifespan and by the one-shot `reconcile` command alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import asyncpg
import httpx
from prometheus_client import CollectorRegistry

from betfuz_common.db import create_pool
from betfuz_common.idempotency import IdempotencyStore
from betfuz_common.settings import SettingsError, secret_list
from treasury.bvn import BvnCipher
from treasury.config import TreasurySettings
from treasury.metrics import TreasuryMetrics
from treasury.ports import DEFAULT_LEASE, TreasuryPorts, Wema
from treasury.provider import WemaClient


def signing_secrets(settings: TreasurySettings) -> list[bytes]:
    secrets = secret_list(settings.wema_secret_key)
    if not secrets:
        raise SettingsError("WEMA_SECRET_KEY holds no secret")
    return secrets


def wema_http(
    settings: TreasurySettings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=settings.wema_base_url,
        timeout=settings.wema_timeout_seconds,
        transport=transport,
    )


def build_ports(
    settings: TreasurySettings,
    pool: asyncpg.Pool,
    http: httpx.AsyncClient,
    *,
    wema: Wema | None = None,
    lease: timedelta = DEFAULT_LEASE,
    metrics: TreasuryMetrics | None = None,
) -> TreasuryPorts:
    return TreasuryPorts(
        pool=pool,
        wema=wema
        or WemaClient(
            http,
            api_key=settings.wema_api_key.get_secret_value(),
            signing_secret=signing_secrets(settings)[0],
        ),
        cipher=BvnCipher(settings.bvn_encryption_key.get_secret_value()),
        idempotency=IdempotencyStore("treasury"),
        lease=lease,
        metrics=metrics or TreasuryMetrics(CollectorRegistry()),
    )


@asynccontextmanager
async def open_ports(
    settings: TreasurySettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[TreasuryPorts]:
    """For commands outside the server: a small pool of their own."""
    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=4)
    try:
        async with wema_http(settings, transport) as http:
            yield build_ports(settings, pool, http)
    finally:
        await pool.close()
