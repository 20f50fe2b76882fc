"""The money-safety suite runs on its OWN freshly migrated database.

Why not the session's `database_url`: the topup end-to-end stack (tests/e2e/topup) is session
scoped, so its service process and reconciliation loop keep running while this suite runs. On a
shared database that loop would query ITS sandbox about OUR pending topups, be told "never seen",
re-submit them and settle them, which would make every expected outcome here a coin toss. The
database is created by the same machinery (`betfuz_testing.database`) with every migration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from betfuz_common.db import create_pool
from betfuz_testing.database import create_database, drop_database
from dev.platform import all_migrations


@pytest.fixture(scope="session")
async def safety_database_url(admin_database_url: str) -> AsyncIterator[str]:
    url = await create_database(admin_database_url, all_migrations(), prefix="betfuz_safety")
    yield url
    await drop_database(admin_database_url, url)


@pytest.fixture(scope="session")
async def safety_pool(safety_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(safety_database_url, min_size=1, max_size=10)
    yield pool
    await pool.close()
