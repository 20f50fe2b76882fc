"""pytest plugin: a fresh migrated database for the run and a pool on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from betfuz_common.db import create_pool
from betfuz_testing.database import admin_server, create_database, drop_database
from betfuz_testing.wallets import MakeUser, user_factory
from dev.platform import all_migrations


@pytest.fixture(scope="session")
def admin_database_url() -> Iterator[str]:
    with admin_server() as url:
        yield url


@pytest.fixture(scope="session")
async def database_url(admin_database_url: str) -> AsyncIterator[str]:
    url = await create_database(admin_database_url, all_migrations())
    yield url
    await drop_database(admin_database_url, url)


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=20)
    yield pool
    await pool.close()


@pytest.fixture
def make_user(pool: asyncpg.Pool) -> MakeUser:
    """`await make_user(balance)` inserts a user with that balance and returns its id."""
    return user_factory(pool)
