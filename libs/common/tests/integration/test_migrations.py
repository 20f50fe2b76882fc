import asyncio
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from betfuz_common.db import Migration, discover, migrate


def write(directory: Path, name: str, sql: str) -> None:
    (directory / name).write_text(sql)


async def test_two_concurrent_runners_apply_each_file_exactly_once(
    database_url: str, tmp_path: Path
) -> None:
    # A file that fails when applied twice: a plain INSERT into a table with a unique key.
    write(tmp_path, "0001_create.sql", "CREATE TABLE things (id INT PRIMARY KEY);")
    write(tmp_path, "0002_seed.sql", "INSERT INTO things VALUES (1); SELECT pg_sleep(0.2);")
    migrations = discover([("svc", tmp_path)])
    conns = [await asyncpg.connect(database_url) for _ in range(2)]
    try:
        results = await asyncio.gather(*(migrate(c, "race_test", migrations) for c in conns))
        applied = sorted(name for result in results for name in result)
        assert applied == ["svc/0001_create.sql", "svc/0002_seed.sql"]
        assert await conns[0].fetchval("SELECT count(*) FROM race_test.things") == 1
        recorded = await conns[0].fetchval("SELECT count(*) FROM race_test.schema_migrations")
        assert recorded == 2
    finally:
        for conn in conns:
            await conn.close()


async def test_a_failing_migration_leaves_nothing_half_applied(database_url: str) -> None:
    broken = [
        Migration("svc/0001_ok.sql", "CREATE TABLE ok_table (id INT);"),
        Migration("svc/0002_bad.sql", "CREATE TABLE half (id INT); SELECT no_such_function();"),
    ]
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.PostgresError):
            await migrate(conn, "broken_test", broken)
        names = await conn.fetch("SELECT name FROM broken_test.schema_migrations")
        assert [r["name"] for r in names] == ["svc/0001_ok.sql"]
        assert await conn.fetchval("SELECT to_regclass('broken_test.half')") is None
    finally:
        await conn.close()


async def test_an_applied_migration_edited_afterwards_stops_the_runner(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn, "edit_test", [Migration("svc/0001_a.sql", "CREATE TABLE a (id INT);")])
        with pytest.raises(RuntimeError, match="edited"):
            await migrate(
                conn, "edit_test", [Migration("svc/0001_a.sql", "CREATE TABLE a (id BIGINT);")]
            )
    finally:
        await conn.close()


def test_migration_files_must_be_numbered(tmp_path: Path) -> None:
    write(tmp_path, "create.sql", "SELECT 1;")
    with pytest.raises(ValueError, match="0001_slug"):
        discover([("svc", tmp_path)])


async def test_a_migration_blocked_by_a_lock_fails_fast_instead_of_queueing_traffic(
    fresh_database: Any,
) -> None:
    url = await fresh_database("lock_timeout")
    holder = await asyncpg.connect(url)
    migrator = await asyncpg.connect(url)
    try:
        await holder.execute("CREATE TABLE public.busy (id int)")
        await holder.execute("BEGIN")
        await holder.execute("LOCK TABLE public.busy IN ACCESS SHARE MODE")  # a long read
        blocked = [Migration("demo/0001_blocked.sql", "ALTER TABLE public.busy ADD COLUMN x int")]
        started = time.monotonic()
        with pytest.raises(asyncpg.LockNotAvailableError):
            await migrate(migrator, "lock_demo", blocked)
        assert time.monotonic() - started < 30
    finally:
        await holder.close()
        await migrator.close()
