"""Builds the treasury app; the pool opens in lifespan, nothing is created at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from betfuz_common.web import create_service_app, pool_lifespan
from treasury.config import TreasurySettings
from treasury.openapi import OPENAPI


def create_app(settings: TreasurySettings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with pool_lifespan(app, settings.database_url.get_secret_value()):
            yield

    return create_service_app(
        prefix="/treasury",
        routes=[],
        openapi=OPENAPI,
        lifespan=lifespan,
        max_body_bytes=settings.max_body_bytes,
    )
