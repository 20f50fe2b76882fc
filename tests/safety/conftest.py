"""The money-safety suite runs on its OWN freshly migrated database.

Why not the session's `database_url`: the topup end-to-end stack (tests/e2e/topup) is session
scoped, so its service process and reconciliation loop keep running while this suite runs. On a
shared database that loop would query ITS sandbox about OUR pending topups, be told "never seen",
re-submit them and settle them, which would make every expected outcome here a coin toss. The
database comes from the same factory (`fresh_database`) with every migration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from betfuz_common.db import create_pool
from betfuz_testing.fixtures import FreshDatabase


@pytest.fixture(scope="session")
async def safety_database_url(fresh_database: FreshDatabase) -> str:
    return await fresh_database("safety")


@pytest.fixture(scope="session")
async def safety_pool(safety_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(safety_database_url, min_size=1, max_size=10)
    yield pool
    await pool.close()
