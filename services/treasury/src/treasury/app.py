"""Builds the treasury app; the pool and the Wema client open in lifespan, nothing at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from starlette.applications import Starlette

from betfuz_common.app import ServiceApp, create_service_app, pool_lifespan
from betfuz_common.idempotency import IdempotencyStore
from betfuz_common.settings import SettingsError, secret_list
from betfuz_common.webhooks import WebhookGate
from treasury.bvn import BvnCipher
from treasury.config import TreasurySettings
from treasury.errors import ERRORS
from treasury.operations import OPERATIONS
from treasury.ports import DEFAULT_LEASE, TreasuryPorts, Wema
from treasury.provider import WemaClient
from treasury.routes import api, providers


def create_app(
    settings: TreasurySettings,
    *,
    wema: Wema | None = None,
    wema_transport: httpx.AsyncBaseTransport | None = None,
    lease: timedelta = DEFAULT_LEASE,
) -> Starlette:
    """`wema` replaces the whole client; `wema_transport` keeps the real client on a fake wire."""
    secrets = secret_list(settings.wema_secret_key)
    if not secrets:
        raise SettingsError("WEMA_SECRET_KEY holds no secret")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with (
            pool_lifespan(app, settings.database_url.get_secret_value()),
            httpx.AsyncClient(
                base_url=settings.wema_base_url,
                timeout=settings.wema_timeout_seconds,
                transport=wema_transport,
            ) as http,
        ):
            app.state.ports = TreasuryPorts(
                pool=app.state.pool,
                wema=wema
                or WemaClient(
                    http,
                    api_key=settings.wema_api_key.get_secret_value(),
                    signing_secret=secrets[0],
                ),
                cipher=BvnCipher(settings.bvn_encryption_key.get_secret_value()),
                idempotency=IdempotencyStore("treasury"),
                lease=lease,
            )
            yield

    return create_service_app(
        ServiceApp(
            prefix="/treasury",
            api=api,
            providers=providers,
            errors=ERRORS,
            lifespan=lifespan,
            settings=settings,
            webhook_gate=WebhookGate("X-Wema-Signature", secrets, "sha512"),
            operations=OPERATIONS,
        )
    )
