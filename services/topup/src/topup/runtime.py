"""What a running topup process holds: the pool, one Selcom HTTP client, the ports. Opened by
the app's lifespan and by the one-shot `reconcile` command alike."""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from httpx_aiohttp import AiohttpTransport

from betfuz_common.db import create_pool
from betfuz_common.idempotency import IdempotencyStore
from betfuz_common.settings import secret_list
from topup.config import TopupSettings
from topup.metrics import TopupMetrics
from topup.ports import TopupPorts
from topup.provider import SelcomClient


def selcom_http_client(
    settings: TopupSettings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    timeout = settings.selcom_timeout_seconds
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
    return httpx.AsyncClient(
        base_url=settings.selcom_base_url,
        transport=transport or selcom_transport(settings.selcom_base_url, limits),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
        limits=limits,
    )


def selcom_transport(base_url: str, limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
    """aiohttp's engine under httpx's API: about half the CPU per Selcom call of httpcore.

    None (httpx's own transport) when the environment names a proxy for Selcom's host: httpx
    honours HTTP(S)_PROXY and NO_PROXY itself, while aiohttp would have to look them up again
    on every request.
    """
    url = httpx.URL(base_url)
    proxies = urllib.request.getproxies()
    if url.scheme in proxies and not urllib.request.proxy_bypass(url.host):
        return None
    return AiohttpTransport(limits=limits)


def selcom_client(settings: TopupSettings, http: httpx.AsyncClient) -> SelcomClient:
    return SelcomClient(
        http,
        api_key=settings.selcom_api_key.get_secret_value(),
        secret=secret_list(settings.selcom_api_secret)[0],
        vendor=settings.selcom_vendor,
        pin=settings.selcom_pin.get_secret_value(),
        utility_codes=settings.utility_codes,
    )


@asynccontextmanager
async def open_ports(
    settings: TopupSettings,
    metrics: TopupMetrics,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    pool_size: int = 10,
) -> AsyncIterator[TopupPorts]:
    pool = await create_pool(settings.database_url.get_secret_value(), max_size=pool_size)
    try:
        async with selcom_http_client(settings, transport) as http:
            yield TopupPorts(
                pool=pool,
                provider=selcom_client(settings, http),
                metrics=metrics,
                idempotency=IdempotencyStore("topup"),
                check_after_seconds=settings.topup_reconcile_after_seconds,
            )
    finally:
        await pool.close()
