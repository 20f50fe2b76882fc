"""Builds the topup app; the pool, the Selcom client and the reconciliation loop start in
lifespan, nothing at import time. Tests inject a transport to fake Selcom."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette

from betfuz_common.app import ServiceApp, create_service_app
from betfuz_common.metrics import ServiceMetrics
from betfuz_common.money import as_json_number, as_text
from betfuz_common.settings import secret_list
from betfuz_common.webhooks import WebhookGate
from topup.config import TopupSettings
from topup.errors import ERRORS
from topup.metrics import TopupMetrics
from topup.operations import OPERATIONS
from topup.reconcile import ReconcileConfig, run_forever
from topup.routes import api, providers
from topup.runtime import open_ports


def document_bounds(doc: dict[str, Any], settings: TopupSettings) -> None:
    """The configured amount bounds, which no static model can say, into the document."""
    amount = doc["components"]["schemas"]["TopupRequest"]["properties"]["amount"]
    # Optional (a data plan's amount is its price): the Naira schema is the non-null branch.
    amount = next(b for b in amount["anyOf"] if b.get("type") != "null")
    for branch in amount["anyOf"]:
        if branch.get("type") == "number":
            branch.pop("exclusiveMinimum", None)
            branch["minimum"] = as_json_number(settings.topup_min_amount)
            branch["maximum"] = as_json_number(settings.topup_max_amount)
    low, high = (as_text(settings.topup_min_amount), as_text(settings.topup_max_amount))
    amount["description"] += f"; from {low} to {high}"


def create_app(
    settings: TopupSettings,
    *,
    selcom_transport: httpx.AsyncBaseTransport | None = None,
    vtpass_transport: httpx.AsyncBaseTransport | None = None,
    pool_size: int = 10,
) -> Starlette:
    service_metrics = ServiceMetrics("topup")
    metrics = TopupMetrics(service_metrics.registry)
    reconcile = ReconcileConfig.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_ports(
            settings,
            metrics,
            transport=selcom_transport,
            vtpass_transport=vtpass_transport,
            pool_size=pool_size,
        ) as ports:
            app.state.pool = ports.pool
            app.state.ports = ports
            loop = None
            if reconcile.interval_seconds > 0:
                loop = asyncio.create_task(run_forever(ports, reconcile), name="reconcile")
            try:
                yield
            finally:
                if loop is not None:
                    loop.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await loop

    return create_service_app(
        ServiceApp(
            prefix="/topup",
            api=api,
            providers=providers,
            errors=ERRORS,
            lifespan=lifespan,
            settings=settings,
            webhook_gate=WebhookGate(
                "X-Selcom-Signature", secret_list(settings.selcom_api_secret), "sha256"
            ),
            metrics=service_metrics,
            operations=OPERATIONS,
            amend_document=lambda doc: document_bounds(doc, settings),
            validation_context={
                "amount_bounds": (settings.topup_min_amount, settings.topup_max_amount)
            },
        )
    )
