"""pytest plugin: a fresh migrated database for the run and a pool on it.

Which migrations that database gets is the suite's to say: a conftest provides the
`all_migrations` fixture ((schema, files) pairs in order). This library knows no service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
import pytest

from betfuz_common.db import Migration, create_pool
from betfuz_testing.database import admin_server, create_database, drop_database
from betfuz_testing.wallets import MakeUser, user_factory

Migrations = list[tuple[str, list[Migration]]]


@pytest.fixture(scope="session")
def admin_database_url() -> Iterator[str]:
    with admin_server() as url:
        yield url


FreshDatabase = Callable[[str], Awaitable[str]]


@pytest.fixture(scope="session")
async def fresh_database(
    admin_database_url: str, all_migrations: Migrations
) -> AsyncIterator[FreshDatabase]:
    """`await fresh_database("prefix")`: the URL of a new, fully migrated database, dropped when
    the session ends. The one way every suite gets a database of its own."""
    made: list[str] = []

    async def make(prefix: str) -> str:
        url = await create_database(admin_database_url, all_migrations, prefix=f"betfuz_{prefix}")
        made.append(url)
        return url

    yield make
    for url in made:
        await drop_database(admin_database_url, url)


@pytest.fixture(scope="session")
async def database_url(fresh_database: FreshDatabase) -> str:
    """The session's shared database."""
    return await fresh_database("test")


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=20)
    yield pool
    await pool.close()


@pytest.fixture
def make_user(pool: asyncpg.Pool) -> MakeUser:
    """`await make_user(balance)` inserts a user with that balance and returns its id."""
    return user_factory(pool)
