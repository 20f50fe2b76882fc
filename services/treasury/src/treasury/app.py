"""Builds the treasury app; the pool, the Wema client and the reconciliation loop start in
lifespan, nothing at import."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from starlette.applications import Starlette

from betfuz_common.app import ServiceApp, create_service_app, pool_lifespan
from betfuz_common.metrics import ServiceMetrics
from betfuz_common.webhooks import WebhookGate
from treasury.config import TreasurySettings
from treasury.errors import ERRORS
from treasury.metrics import TreasuryMetrics
from treasury.operations import OPERATIONS
from treasury.ports import DEFAULT_LEASE, Wema
from treasury.reconcile import ReconcileConfig, run_forever
from treasury.routes import api, providers
from treasury.runtime import build_ports, signing_secrets, wema_http


def create_app(
    settings: TreasurySettings,
    *,
    wema: Wema | None = None,
    wema_transport: httpx.AsyncBaseTransport | None = None,
    lease: timedelta = DEFAULT_LEASE,
) -> Starlette:
    """`wema` replaces the whole client; `wema_transport` keeps the real client on a fake wire."""
    secrets = signing_secrets(settings)
    service_metrics = ServiceMetrics("treasury")
    metrics = TreasuryMetrics(service_metrics.registry)
    reconcile = ReconcileConfig.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with (
            pool_lifespan(app, settings.database_url.get_secret_value()),
            wema_http(settings, wema_transport) as http,
        ):
            ports = build_ports(
                settings, app.state.pool, http, wema=wema, lease=lease, metrics=metrics
            )
            app.state.ports = ports
            loop = None
            if reconcile.interval_seconds > 0:
                loop = asyncio.create_task(run_forever(ports, reconcile, metrics), name="reconcile")
            try:
                yield
            finally:
                if loop is not None:
                    loop.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await loop

    return create_service_app(
        ServiceApp(
            prefix="/treasury",
            api=api,
            providers=providers,
            errors=ERRORS,
            lifespan=lifespan,
            settings=settings,
            webhook_gate=WebhookGate("X-Wema-Signature", secrets, "sha512"),
            metrics=service_metrics,
            operations=OPERATIONS,
        )
    )
