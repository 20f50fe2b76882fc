"""asyncpg pool and the numbered-SQL migration runner."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from betfuz_common import jsonio
from betfuz_common.logging import get_logger
from betfuz_common.pg_hash import hashtext

COMMON_MIGRATIONS = Path(__file__).parent / "migrations"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_MIGRATION_FILE = re.compile(r"^\d{4}_[a-z0-9_]+\.sql$")

log = get_logger(__name__)
MIGRATION_LOCK_TIMEOUT = "10s"
MIGRATION_STATEMENT_TIMEOUT = "10min"

# What repositories accept: a plain connection or one borrowed from the pool.
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


_INT4 = range(-(2**31), 2**31)


@contextlib.asynccontextmanager
async def transaction_locked_on(conn: Conn, space: int, text: str) -> AsyncIterator[None]:
    """A transaction that starts holding `pg_advisory_xact_lock(space, hashtext(text))`, in one
    round trip instead of two: BEGIN and the lock travel as one simple-protocol message. Such a
    message carries no parameters, so only two integers are written into it (the text's hash is
    computed here, the very key `hashtext` gives on the server, so SQL that locks the same text
    itself takes the same lock). Commits on leaving; any exception, cancellation included, rolls
    back. asyncpg does not know of this transaction: `conn.transaction()` inside it refuses."""
    key = hashtext(text)
    if space not in _INT4:
        raise ValueError("an advisory lock space is a 32-bit integer")
    try:
        await conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock({space:d}, {key:d})")
        yield
    except BaseException:
        await _abandon(conn)
        raise
    await conn.execute("COMMIT")


async def _abandon(conn: Conn) -> None:
    """Roll back what is open; on a broken connection there is nothing to roll back (the server
    ended the transaction with the session), and the original error is the one to raise."""
    if conn.is_closed():
        return
    # Asked even when asyncpg says no transaction is open: after a cancelled BEGIN-and-lock the
    # server may have begun one that asyncpg has not heard of yet. A ROLLBACK with nothing open
    # only draws a warning.
    with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        await conn.execute("ROLLBACK")


async def _init_connection(conn: asyncpg.Connection) -> None:
    def encode(value: Any) -> str:
        return jsonio.dumps(value).decode()

    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=encode, decoder=jsonio.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release hook that skips asyncpg's reset query (a round trip on every release).

    Safe because our code keeps no session state on pooled connections: advisory locks are
    transaction-scoped, nothing LISTENs or SETs outside a transaction. asyncpg still rolls back a
    transaction left open and drops local listeners before this hook runs.
    """


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=30,
        # Statement cache stays on: the hot paths are a handful of fixed statements.
    )


@dataclass(frozen=True)
class Migration:
    name: str  # e.g. "common/0001_idempotency_keys.sql" or "topup/0001_init.sql"
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(sources: Sequence[tuple[str, Path]]) -> list[Migration]:
    """Ordered migrations: each source's files in number order, sources in the order given."""
    found: list[Migration] = []
    for label, directory in sources:
        for path in sorted(directory.glob("*.sql")):
            if not _MIGRATION_FILE.match(path.name):
                raise ValueError(f"migration file name must look like 0001_slug.sql: {path}")
            found.append(Migration(f"{label}/{path.name}", path.read_text()))
    return found


def _lock_key(schema: str) -> int:
    # A stable 63-bit key per schema, so two services migrating at once do not wait on each other.
    return int.from_bytes(hashlib.sha256(f"migrate:{schema}".encode()).digest()[:8], "big") >> 1


async def migrate(
    conn: asyncpg.Connection, schema: str, migrations: Sequence[Migration]
) -> list[str]:
    """Apply what is not yet applied, each file in its own transaction; returns what it applied.

    Replicas starting together serialise on an advisory lock, so each file runs exactly once.
    """
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"bad schema name {schema!r}")
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _lock_key(schema))
    try:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
                  name       TEXT PRIMARY KEY,
                  checksum   CHAR(64) NOT NULL,
                  applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"""
        )
        rows = await conn.fetch(f"SELECT name, checksum FROM {schema}.schema_migrations")  # noqa: S608
        done = {row["name"]: row["checksum"] for row in rows}
        for migration in migrations:
            if migration.name in done:
                if done[migration.name] != migration.checksum:
                    raise RuntimeError(f"applied migration was edited afterwards: {migration.name}")
                continue
            async with conn.transaction():
                await conn.execute(f"SET LOCAL search_path TO {schema}, public")
                # DDL that waits for a lock queues every query behind it: fail fast instead,
                # and let the deploy retry, rather than stall live traffic on the old release.
                await conn.execute(f"SET LOCAL lock_timeout = '{MIGRATION_LOCK_TIMEOUT}'")
                await conn.execute(f"SET LOCAL statement_timeout = '{MIGRATION_STATEMENT_TIMEOUT}'")
                await conn.execute(migration.sql)
                await conn.execute(
                    f"INSERT INTO {schema}.schema_migrations (name, checksum) VALUES ($1, $2)",  # noqa: S608
                    migration.name,
                    migration.checksum,
                )
            applied_now.append(migration.name)
            log.info("migration_applied", schema=schema, migration=migration.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _lock_key(schema))
    return applied_now


async def migrate_dsn(dsn: str, schema: str, migrations: Sequence[Migration]) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return await migrate(conn, schema, migrations)
    finally:
        await conn.close()
