"""Builds the topup app; the pool, the Selcom client and the reconciliation loop start in
lifespan, nothing at import time. Tests inject a transport to fake Selcom."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette

from betfuz_common.auth import JwtVerifier
from betfuz_common.metrics import ServiceMetrics
from betfuz_common.web import create_service_app
from topup.config import TopupSettings
from topup.metrics import TopupMetrics
from topup.openapi import build_openapi
from topup.reconcile import ReconcileConfig, run_forever
from topup.routes import build_routes
from topup.runtime import open_service


def create_app(
    settings: TopupSettings,
    *,
    selcom_transport: httpx.AsyncBaseTransport | None = None,
    pool_size: int = 10,
) -> Starlette:
    service_metrics = ServiceMetrics("topup")
    metrics = TopupMetrics(service_metrics.registry)
    reconcile = ReconcileConfig.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_service(
            settings, metrics, transport=selcom_transport, pool_size=pool_size
        ) as service:
            app.state.pool = service.pool
            app.state.topup = service
            loop = None
            if reconcile.interval_seconds > 0:
                loop = asyncio.create_task(run_forever(service, reconcile), name="reconcile")
            try:
                yield
            finally:
                if loop is not None:
                    loop.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await loop

    verifier = JwtVerifier(settings.jwt_secret.get_secret_value(), jwks_url=settings.jwks_url)
    return create_service_app(
        prefix="/topup",
        routes=build_routes(settings, verifier),
        openapi=build_openapi(settings.topup_min_amount, settings.topup_max_amount),
        lifespan=lifespan,
        max_body_bytes=settings.max_body_bytes,
        metrics=service_metrics,
    )
