"""Builds the treasury app; the pool and the Wema client open in lifespan, nothing at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from starlette.applications import Starlette

from betfuz_common.auth import JwtVerifier
from betfuz_common.idempotency import IdempotencyStore
from betfuz_common.settings import SettingsError, secret_list
from betfuz_common.web import create_service_app, pool_lifespan
from treasury.bvn import BvnCipher
from treasury.config import TreasurySettings
from treasury.openapi import OPENAPI
from treasury.provider import WemaClient
from treasury.routes import Edge, treasury_routes
from treasury.service import DEFAULT_LEASE, Treasury, Wema


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
            client = wema or WemaClient(
                http,
                api_key=settings.wema_api_key.get_secret_value(),
                signing_secret=secrets[0],
            )
            app.state.edge = Edge(
                treasury=Treasury(
                    pool=app.state.pool,
                    wema=client,
                    cipher=BvnCipher(settings.bvn_encryption_key.get_secret_value()),
                    lease=lease,
                ),
                verifier=JwtVerifier(
                    settings.jwt_secret.get_secret_value(), jwks_url=settings.jwks_url
                ),
                webhook_secrets=secrets,
                idempotency=IdempotencyStore("treasury"),
            )
            yield

    return create_service_app(
        prefix="/treasury",
        routes=treasury_routes(),
        openapi=OPENAPI,
        lifespan=lifespan,
        max_body_bytes=settings.max_body_bytes,
    )
