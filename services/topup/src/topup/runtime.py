"""What a running topup process holds: the pool, one HTTP client per provider, the router and
the plan catalogue, the ports. Opened by the app's lifespan and by the one-shot `reconcile`
command alike."""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from httpx_aiohttp import AiohttpTransport

from betfuz_common.db import create_pool
from betfuz_common.idempotency import IdempotencyStore
from betfuz_common.settings import secret_list
from topup.catalogue import Catalogue
from topup.config import TopupSettings
from topup.metrics import TopupMetrics
from topup.operations import OPERATIONS
from topup.ports import TopupPorts
from topup.provider import SelcomProvider
from topup.routing import Router
from topup.vtpass import VtpassProvider


def _http_client(
    base_url: str,
    timeout: float,
    transport: httpx.AsyncBaseTransport | None,
    auth: httpx.Auth | None = None,
) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport or provider_transport(base_url, limits),
        auth=auth,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
        limits=limits,
    )


def provider_transport(base_url: str, limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
    """aiohttp's engine under httpx's API: about half the CPU per provider call of httpcore.

    None (httpx's own transport) when the environment names a proxy for the provider's host: httpx
    honours HTTP(S)_PROXY and NO_PROXY itself, while aiohttp would have to look them up again
    on every request.
    """
    url = httpx.URL(base_url)
    proxies = urllib.request.getproxies()
    if url.scheme in proxies and not urllib.request.proxy_bypass(url.host):
        return None
    return AiohttpTransport(limits=limits)


def selcom_http_client(
    settings: TopupSettings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    return _http_client(settings.selcom_base_url, settings.selcom_timeout_seconds, transport)


def vtpass_http_client(
    settings: TopupSettings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    auth = httpx.BasicAuth(settings.vtpass_username, settings.vtpass_password.get_secret_value())
    return _http_client(settings.vtpass_base_url, settings.vtpass_timeout_seconds, transport, auth)


def selcom_client(settings: TopupSettings, http: httpx.AsyncClient) -> SelcomProvider:
    return SelcomProvider(
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
    vtpass_transport: httpx.AsyncBaseTransport | None = None,
    pool_size: int = 10,
) -> AsyncIterator[TopupPorts]:
    pool = await create_pool(settings.database_url.get_secret_value(), max_size=pool_size)
    try:
        async with (
            selcom_http_client(settings, transport) as selcom_http,
            vtpass_http_client(settings, vtpass_transport) as vtpass_http,
        ):
            selcom = selcom_client(settings, selcom_http)
            vtpass = VtpassProvider(vtpass_http, service_ids=settings.vtpass_ids)
            yield TopupPorts(
                pool=pool,
                providers={selcom.name: selcom, vtpass.name: vtpass},
                router=Router(
                    settings.routes,
                    metrics,
                    threshold=settings.topup_breaker_threshold,
                    cooldown_seconds=settings.topup_breaker_cooldown_seconds,
                ),
                catalogue=Catalogue(settings.topup_plans_ttl_seconds),
                metrics=metrics,
                idempotency=IdempotencyStore("topup"),
                operations=OPERATIONS,
                check_after_seconds=settings.topup_reconcile_after_seconds,
            )
    finally:
        await pool.close()
