import asyncpg

from betfuz_common.db import create_pool


async def test_a_connection_returned_mid_transaction_is_rolled_back_before_reuse(
    database_url: str,
) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TEMP TABLE IF NOT EXISTS scratch (n INT)")
            transaction = conn.transaction()
            await transaction.start()
            await conn.execute("INSERT INTO scratch VALUES (1)")
            # returned to the pool without commit or rollback
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM scratch") == 0
    finally:
        await pool.close()


async def test_transaction_scoped_advisory_locks_never_outlive_their_transaction(
    database_url: str,
) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    other = await asyncpg.connect(database_url)
    try:
        async with pool.acquire() as conn, conn.transaction():
            assert await conn.fetchval("SELECT pg_try_advisory_xact_lock(4242)")
            assert not await other.fetchval("SELECT pg_try_advisory_xact_lock(4242)")
        assert await other.fetchval("SELECT pg_try_advisory_lock(4242)")
        await other.execute("SELECT pg_advisory_unlock(4242)")
    finally:
        await other.close()
        await pool.close()
