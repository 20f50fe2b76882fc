"""Ledger service fixtures: a database of its own per test (the worker reads EVERY qualifying
bet slip, so tests must not see each other's) and settings on the session anvil with a fresh
BetLedger per test (`anvil`, `ledger_address`: services/ledger/tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from betfuz_common.db import create_pool
from betfuz_testing.anvil import Anvil
from betfuz_testing.fixtures import FreshDatabase
from ledger.config import LedgerSettings
from services.ledger.tests.integration.support import SettingsFactory, settings_for


@pytest.fixture
async def ledger_db(fresh_database: FreshDatabase) -> str:
    return await fresh_database("ledger")


@pytest.fixture
async def ledger_pool(ledger_db: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(ledger_db, min_size=1, max_size=10)
    yield pool
    await pool.close()


@pytest.fixture
def chain_settings(ledger_db: str, anvil: Anvil, ledger_address: str) -> SettingsFactory:
    def make(**overrides: object) -> LedgerSettings:
        return settings_for(ledger_db, anvil.rpc_url, ledger_address, **overrides)

    return make
