"""`make seed`: DEMO DATA for the local stack — a few wallets and settled bet slips, one a big win.

Only into the local dev database: refused with APP_ENV=prod, refused for any DATABASE_URL but
127.0.0.1/betfuz_dev unless forced, and refused for a database without the core platform's
stand-in tables (a database `make run` did not prepare) whatever the flags.

Every demo row has an id starting with `demo-`, and every statement here carries a
`-- DEMO DATA` comment, so the writes are labelled in the server's logs too. Re-seeding resets
exactly those rows: the demo wallets' balances, the demo bet slips, and the demo users' bank
accounts (so the quick-start's "open an account" answers 201 again). Nothing else is touched.
`make run` also forgets the demo slips' ledger entries: its chain is new on every start, so the
entries from the last run point at transactions that no longer exist, and the worker records
the big win again on the new chain within seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

import asyncpg

from betfuz_common.settings import CommonSettings

DEMO_PREFIX = "demo-"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DEV_DATABASE = "betfuz_dev"
# Each statement opens with the label, so the server's own logs mark these writes too.
STAND_IN_TABLE = """-- DEMO DATA (dev/seed.py): local stack only
SELECT to_regclass('public.schema_migrations') IS NOT NULL"""
STAND_IN_RECORDED = """-- DEMO DATA (dev/seed.py): local stack only
SELECT EXISTS (SELECT 1 FROM public.schema_migrations WHERE name LIKE 'platform/%')"""
DELETE_BANK_TRANSACTIONS = """-- DEMO DATA (dev/seed.py): local stack only
DELETE FROM treasury.bank_transactions WHERE user_id = ANY($1::text[])"""
DELETE_BANK_ACCOUNTS = """-- DEMO DATA (dev/seed.py): local stack only
WITH gone AS (
    DELETE FROM treasury.bank_accounts WHERE user_id = ANY($1::text[]) RETURNING 1
) SELECT count(*) FROM gone"""
DELETE_ACCOUNT_KEYS = """-- DEMO DATA (dev/seed.py): local stack only
DELETE FROM treasury.idempotency_keys WHERE scope = ANY($1::text[])"""
UPSERT_USER = """-- DEMO DATA (dev/seed.py): local stack only
INSERT INTO public.users (id, balance) VALUES ($1, $2)
ON CONFLICT (id) DO UPDATE SET balance = EXCLUDED.balance, updated_at = now()"""
UPSERT_SLIP = """-- DEMO DATA (dev/seed.py): local stack only
INSERT INTO public.bet_slips (id, user_id, status, stake, potential_win, settled_at)
VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 THEN now() - interval '1 hour' END)
ON CONFLICT (id) DO UPDATE SET user_id = EXCLUDED.user_id, status = EXCLUDED.status,
    stake = EXCLUDED.stake, potential_win = EXCLUDED.potential_win,
    settled_at = EXCLUDED.settled_at"""
DELETE_LEDGER_ENTRIES = """-- DEMO DATA (dev/seed.py): local stack only
WITH gone AS (
    DELETE FROM ledger.ledger_entries WHERE bet_slip_id LIKE 'demo-%' RETURNING 1
) SELECT count(*) FROM gone"""


@dataclass(frozen=True)
class DemoUser:
    id: str
    balance: Decimal
    purpose: str


@dataclass(frozen=True)
class DemoSlip:
    id: str
    user_id: str
    status: str
    stake: Decimal
    potential_win: Decimal
    settled: bool
    purpose: str


QUICKSTART_USER = "demo-ada"
DEMO_RUN_USER = "demo-bola"
BIG_WIN_SLIP = "demo-slip-bigwin"

USERS = (
    DemoUser(QUICKSTART_USER, Decimal("50000.00"), "the README's quick-start wallet"),
    DemoUser(DEMO_RUN_USER, Decimal("20000.00"), "`make demo`'s wallet, reset by each demo"),
    DemoUser("demo-tunde", Decimal("5000.00"), "the punter whose bet slips are below"),
)
SLIPS = (
    DemoSlip(
        BIG_WIN_SLIP,
        "demo-tunde",
        "won",
        Decimal("5000.00"),
        Decimal("2500000.00"),
        True,
        "a settled big win (≥ ₦1,000,000): the ledger records it on chain",
    ),
    DemoSlip(
        "demo-slip-small-win",
        "demo-tunde",
        "won",
        Decimal("1000.00"),
        Decimal("15000.00"),
        True,
        "a settled win under the threshold: not recorded",
    ),
    DemoSlip(
        "demo-slip-lost",
        "demo-tunde",
        "lost",
        Decimal("2000.00"),
        Decimal("40000.00"),
        True,
        "a lost slip: not recorded",
    ),
    DemoSlip(
        "demo-slip-open",
        "demo-tunde",
        "open",
        Decimal("500.00"),
        Decimal("1200000.00"),
        False,
        "big but not settled yet: not recorded",
    ),
)

STATEMENTS = (
    STAND_IN_TABLE,
    STAND_IN_RECORDED,
    DELETE_BANK_TRANSACTIONS,
    DELETE_BANK_ACCOUNTS,
    DELETE_ACCOUNT_KEYS,
    UPSERT_USER,
    UPSERT_SLIP,
    DELETE_LEDGER_ENTRIES,
)


class SeedRefused(Exception):
    """Demo data must not go where it was asked to go; the message says why and what to do."""


def check_target(url: str, environ: Mapping[str, str], *, force: bool) -> None:
    if environ.get("APP_ENV") == "prod":
        raise SeedRefused("APP_ENV=prod: demo data never goes into a production environment.")
    parts = urlsplit(url)
    database = parts.path.lstrip("/")
    if parts.hostname in LOCAL_HOSTS and database == DEV_DATABASE:
        return
    if not force:
        raise SeedRefused(
            f"DATABASE_URL points at database {database!r} on {parts.hostname}, not the local "
            f"dev database {DEV_DATABASE} on 127.0.0.1, and demo data goes there only. "
            "If this really is a throwaway local database: make seed FORCE=1"
        )


async def check_stand_in(conn: asyncpg.Connection) -> None:
    """Only a database with the stand-in tables is a local stack's: production has none."""
    # Two statements: the second cannot even be parsed where the table does not exist.
    recorded = await conn.fetchval(STAND_IN_TABLE) and await conn.fetchval(STAND_IN_RECORDED)
    if not recorded:
        raise SeedRefused(
            "this database has no core-platform stand-in tables, so it is not one that "
            "`make run` prepared; demo data is for the local stack's database only."
        )


@dataclass(frozen=True)
class SeedReport:
    users: tuple[DemoUser, ...]
    slips: tuple[DemoSlip, ...]
    bank_accounts_removed: int
    ledger_entries_removed: int


async def reset_users(conn: asyncpg.Connection, users: Sequence[DemoUser]) -> int:
    """Give each demo user its seeded balance and no bank account; returns accounts removed."""
    ids = [user.id for user in users]
    if any(not user_id.startswith(DEMO_PREFIX) for user_id in ids):
        raise ValueError("only demo- users are reset")
    await conn.execute(DELETE_BANK_TRANSACTIONS, ids)
    removed: int = await conn.fetchval(DELETE_BANK_ACCOUNTS, ids)
    # A replayed "open an account" would otherwise answer with the account just removed.
    await conn.execute(
        DELETE_ACCOUNT_KEYS,
        [f"accounts:{user_id}" for user_id in ids],
    )
    await conn.executemany(
        UPSERT_USER,
        [(user.id, user.balance) for user in users],
    )
    return removed


async def upsert_slips(conn: asyncpg.Connection, slips: Sequence[DemoSlip]) -> None:
    await conn.executemany(
        UPSERT_SLIP,
        [(s.id, s.user_id, s.status, s.stake, s.potential_win, s.settled) for s in slips],
    )


async def forget_ledger_entries(conn: asyncpg.Connection) -> int:
    """The demo slips' entries, for a chain that is new: they point at one that is gone."""
    removed: int = await conn.fetchval(DELETE_LEDGER_ENTRIES)
    return removed


@asynccontextmanager
async def demo_connection(
    url: str, environ: Mapping[str, str], *, force: bool
) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a database that passed every check, in one transaction."""
    check_target(url, environ, force=force)
    conn = await asyncpg.connect(url)
    try:
        await check_stand_in(conn)
        async with conn.transaction():
            yield conn
    finally:
        await conn.close()


async def seed(
    url: str,
    *,
    environ: Mapping[str, str] = os.environ,
    force: bool = False,
    fresh_chain: bool = False,
) -> SeedReport:
    """Seed (or re-seed) every demo row in one transaction."""
    async with demo_connection(url, environ, force=force) as conn:
        removed = await reset_users(conn, USERS)
        await upsert_slips(conn, SLIPS)
        forgotten = await forget_ledger_entries(conn) if fresh_chain else 0
    return SeedReport(USERS, SLIPS, removed, forgotten)


async def reset_user(
    url: str, user: DemoUser, *, environ: Mapping[str, str] = os.environ, force: bool = False
) -> int:
    """One demo user back to its seeded state (what `make demo` starts from)."""
    async with demo_connection(url, environ, force=force) as conn:
        return await reset_users(conn, [user])


def naira(amount: Decimal) -> str:
    return f"₦{amount:,.2f}"


def describe(report: SeedReport, url: str) -> list[str]:
    parts = urlsplit(url)
    lines = [f"DEMO DATA seeded into {parts.path.lstrip('/')} on {parts.hostname}:"]
    lines += [f"  {u.id:<20} wallet {naira(u.balance):>14}  {u.purpose}" for u in report.users]
    lines += [
        f"  {s.id:<20} {s.status:<4} {naira(s.potential_win):>14}  {s.purpose}"
        for s in report.slips
    ]
    if report.bank_accounts_removed:
        lines.append(f"  reset: {report.bank_accounts_removed} demo bank account(s) removed")
    if report.ledger_entries_removed:
        lines.append(
            f"  new chain: {report.ledger_entries_removed} demo ledger entr(y/ies) of the last "
            "one forgotten, to be recorded again"
        )
    return lines


def database_url(environ: Mapping[str, str] = os.environ) -> str:
    return environ.get("DATABASE_URL") or CommonSettings.DEV_DEFAULTS["DATABASE_URL"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make seed", description=__doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true", help="allow a non-default local database")
    args = parser.parse_args(argv)
    url = database_url()
    try:
        report = asyncio.run(seed(url, force=args.force))
    except SeedRefused as exc:
        print(f"make seed: refused: {exc}", file=sys.stderr)
        return 2
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"make seed: the database did not take the demo data: {exc}", file=sys.stderr)
        if isinstance(exc, asyncpg.UndefinedTableError):
            print("(start the stack once with `make run`: it creates every table)", file=sys.stderr)
        return 1
    print("\n".join(describe(report, url)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
