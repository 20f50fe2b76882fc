"""Treasury test fixtures: settings on the session database, users, and the app in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from betfuz_common.settings import load_settings
from betfuz_testing.tokens import bearer
from betfuz_testing.wallets import user_factory
from sandboxes.wema.accounts import Bank
from sandboxes.wema.server import SandboxConfig
from sandboxes.wema.server import create_app as create_sandbox
from services.treasury.tests.support import (
    WEMA_KEY,
    WEMA_SECRET,
    AppClient,
    NewUser,
    OpenAccount,
    account_body,
    settings_env,
)
from treasury.app import create_app
from treasury.config import TreasurySettings


@pytest.fixture(scope="session")
def settings(database_url: str) -> TreasurySettings:
    return load_settings(TreasurySettings, settings_env(database_url))


@pytest.fixture
def new_user(pool: asyncpg.Pool) -> NewUser:
    return user_factory(pool)


@pytest.fixture
def bank() -> Bank:
    return Bank()


@pytest.fixture
def sandbox_transport(bank: Bank) -> httpx.AsyncBaseTransport:
    """The Wema sandbox itself, served in-process: real protocol, counted calls, no sockets."""
    config = SandboxConfig(WEMA_KEY, [WEMA_SECRET.encode()], "http://betfuz.test/treasury/webhook")
    return httpx.ASGITransport(app=create_sandbox(config, bank))


@pytest.fixture
def app_client(
    settings: TreasurySettings, sandbox_transport: httpx.AsyncBaseTransport
) -> AppClient:
    @asynccontextmanager
    async def open_client(
        app_settings: TreasurySettings | None = None, **overrides: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        overrides.setdefault("wema_transport", sandbox_transport)
        app = create_app(app_settings or settings, **overrides)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://betfuz.test") as c:
                yield c

    return open_client


@pytest.fixture
def open_account() -> OpenAccount:
    async def open_(client: httpx.AsyncClient, user_id: str) -> dict[str, Any]:
        response = await client.post(
            "/treasury/accounts", json=account_body(), headers=bearer(user_id)
        )
        assert response.status_code == 201, response.text
        account: dict[str, Any] = response.json()
        return account

    return open_
