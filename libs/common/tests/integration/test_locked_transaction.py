"""`transaction_locked_on`: BEGIN and an advisory lock in one message. It takes the lock SQL's
own `hashtext` would, commits on leaving, and leaves nothing open or held on any way out."""

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from betfuz_common.db import create_pool, transaction_locked_on
from betfuz_common.pg_hash import hashtext

SPACE = 0x7E3A_7E57  # no production code locks in this space


def samples() -> list[str]:
    rnd = random.Random(20261202)
    alphabet = "abcXYZ019-_ é日本🎉\x01"
    edges = ["", "a", "abcd", "abcdefghijk", "abcdefghijkl", "abcdefghijklm", "x" * 1000]
    return edges + ["".join(rnd.choices(alphabet, k=rnd.randint(0, 80))) for _ in range(3000)]


async def test_hashtext_computed_here_equals_the_servers_for_every_length_and_alphabet(
    database_url: str,
) -> None:
    texts = samples()
    conn = await asyncpg.connect(database_url)
    try:
        server = [
            r[0] for r in await conn.fetch("SELECT hashtext(t) FROM unnest($1::text[]) t", texts)
        ]
    finally:
        await conn.close()
    assert [hashtext(t) for t in texts] == server


async def held_by_someone(other: asyncpg.Connection, text: str) -> bool:
    """Whether the lock SQL would take on `text` is held elsewhere (asked in SQL's own words)."""
    async with other.transaction():
        return not await other.fetchval(
            "SELECT pg_try_advisory_xact_lock($1, hashtext($2))", SPACE, text
        )


async def test_the_lock_is_held_inside_and_released_with_the_commit(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    other = await asyncpg.connect(database_url)
    try:
        async with pool.acquire() as conn:
            async with transaction_locked_on(conn, SPACE, "WEMA-REF-é-1"):
                assert conn.is_in_transaction()
                assert await held_by_someone(other, "WEMA-REF-é-1")
                assert not await held_by_someone(other, "WEMA-REF-é-2")
            assert not conn.is_in_transaction()
        assert not await held_by_someone(other, "WEMA-REF-é-1")
    finally:
        await other.close()
        await pool.close()


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    await conn.execute("CREATE TEMP TABLE scratch (n INT)")
    yield conn
    await conn.close()


async def write_then(
    conn: asyncpg.Connection, text: str, then: Callable[[asyncpg.Connection], Awaitable[None]]
) -> None:
    async with transaction_locked_on(conn, SPACE, text):
        await conn.execute("INSERT INTO scratch VALUES (1)")
        await then(conn)


async def raise_lookup_error(_: asyncpg.Connection) -> None:
    raise LookupError


async def divide_by_zero(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT 1 / 0")


async def test_what_the_body_wrote_commits_on_leaving(conn: asyncpg.Connection) -> None:
    async with transaction_locked_on(conn, SPACE, "ref-commit"):
        await conn.execute("INSERT INTO scratch VALUES (1)")
    assert not conn.is_in_transaction()
    assert await conn.fetchval("SELECT count(*) FROM scratch") == 1


async def test_an_exception_rolls_back_what_the_body_wrote_and_propagates(
    conn: asyncpg.Connection, database_url: str
) -> None:
    other = await asyncpg.connect(database_url)
    try:
        with pytest.raises(LookupError):
            await write_then(conn, "ref-raise", raise_lookup_error)
        assert not await held_by_someone(other, "ref-raise")
    finally:
        await other.close()
    assert not conn.is_in_transaction()
    assert await conn.fetchval("SELECT count(*) FROM scratch") == 0


async def test_a_failed_statement_inside_rolls_back_and_the_connection_stays_usable(
    conn: asyncpg.Connection,
) -> None:
    with pytest.raises(asyncpg.DivisionByZeroError):
        await write_then(conn, "ref-fail", divide_by_zero)
    assert not conn.is_in_transaction()
    assert await conn.fetchval("SELECT count(*) FROM scratch") == 0


async def test_a_body_cancelled_while_waiting_for_the_lock_leaves_nothing_open(
    conn: asyncpg.Connection, database_url: str
) -> None:
    holder = await asyncpg.connect(database_url)
    try:
        async with holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", SPACE, "busy")

            async def wait_for_it() -> None:
                async with transaction_locked_on(conn, SPACE, "busy"):
                    await conn.execute("INSERT INTO scratch VALUES (1)")

            waiting = asyncio.create_task(wait_for_it())
            await asyncio.sleep(0.3)  # queued behind the holder, inside BEGIN's message
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
    finally:
        await holder.close()
    assert not conn.is_in_transaction()
    assert await conn.fetchval("SELECT count(*) FROM scratch") == 0


def test_a_lock_space_outside_32_bits_is_refused_before_anything_is_sent() -> None:
    async def attempt() -> None:
        async with transaction_locked_on(None, 2**31, "x"):  # type: ignore[arg-type]
            pass

    with pytest.raises(ValueError, match="32-bit"):
        asyncio.run(attempt())
