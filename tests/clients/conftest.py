"""The three services in-process on the test database, and a typed client generated from the
client document each one serves (tests/clients/support.py), once per session, from nothing:
a fresh directory, no cache."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from betfuz_common.settings import load_settings
from betfuz_testing.fixtures import FreshDatabase
from betfuz_testing.tokens import TEST_JWT_SECRET
from ledger.app import create_app as create_ledger_app
from sandboxes.selcom.app import SandboxConfig as SelcomConfig
from sandboxes.selcom.app import create_app as create_selcom_sandbox
from sandboxes.wema.accounts import Bank
from sandboxes.wema.server import SandboxConfig as WemaConfig
from sandboxes.wema.server import create_app as create_wema_sandbox
from services.ledger.tests.integration.support import settings_for
from services.treasury.tests.support import WEMA_KEY, WEMA_SECRET, settings_env
from tests.clients.support import (
    BASE_URL,
    SERVICES,
    GeneratedClient,
    generate,
    importable,
    served_document,
)
from topup.app import create_app as create_topup_app
from topup.config import TopupSettings
from treasury.app import create_app as create_treasury_app
from treasury.config import TreasurySettings

SELCOM_KEY, SELCOM_SECRET = "clients-selcom-key", "clients-selcom-secret"


@pytest.fixture(scope="session")
async def topup_app(database_url: str) -> AsyncIterator[Starlette]:
    """Topup on the session database; Selcom is its sandbox, in-process (real digest checks)."""
    selcom = create_selcom_sandbox(SelcomConfig(SELCOM_KEY, SELCOM_SECRET.encode(), BASE_URL))
    settings = load_settings(
        TopupSettings,
        {
            "APP_ENV": "test",
            "DATABASE_URL": database_url,
            "JWT_SECRET": TEST_JWT_SECRET,
            "SELCOM_API_KEY": SELCOM_KEY,
            "SELCOM_API_SECRET": SELCOM_SECRET,
            "SELCOM_BASE_URL": "http://selcom.test",
            "API_BASE_URL": BASE_URL,
            "TOPUP_RECONCILE_INTERVAL_SECONDS": "0",
        },
    )
    app = create_topup_app(settings, selcom_transport=httpx.ASGITransport(app=selcom))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def treasury_app(database_url: str) -> AsyncIterator[Starlette]:
    """Treasury on the session database; Wema is its sandbox, in-process."""
    wema = create_wema_sandbox(
        WemaConfig(WEMA_KEY, [WEMA_SECRET.encode()], f"{BASE_URL}/treasury/webhook"), Bank()
    )
    settings = load_settings(TreasurySettings, settings_env(database_url))
    app = create_treasury_app(settings, wema_transport=httpx.ASGITransport(app=wema))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def ledger_app(fresh_database: FreshDatabase) -> AsyncIterator[Starlette]:
    """The ledger on a database of its own (its list is everyone's entries, so no other suite's
    rows may show up); no chain and no worker: the reads need neither."""
    database_url = await fresh_database("clients_ledger")
    app = create_ledger_app(settings_for(database_url, "http://127.0.0.1:9", None))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def generated(
    topup_app: Starlette,
    treasury_app: Starlette,
    ledger_app: Starlette,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[dict[str, GeneratedClient]]:
    """A client per service from the document its app serves, importable for the session."""
    root = tmp_path_factory.mktemp("clients")
    apps = {"topup": topup_app, "treasury": treasury_app, "ledger": ledger_app}
    documents = {service: await served_document(apps[service], service) for service in SERVICES}
    with importable(root):
        yield generate(documents, root)
