"""DEMO DATA: only into a local stack's database, labelled, and re-seeding resets only itself."""

from __future__ import annotations

from decimal import Decimal

import asyncpg
import pytest

from betfuz_testing.database import create_database, drop_database
from betfuz_testing.fixtures import FreshDatabase
from dev import seed


@pytest.fixture
async def dev_like(fresh_database: FreshDatabase) -> str:
    """A migrated local database; not named betfuz_dev, so every seed call says force=True."""
    return await fresh_database("seed")


async def balances(conn: asyncpg.Connection) -> dict[str, Decimal]:
    rows = await conn.fetch("SELECT id, balance FROM public.users ORDER BY id")
    return {row["id"]: row["balance"] for row in rows}


async def add_bank_account(conn: asyncpg.Connection, user_id: str, number: str) -> None:
    await conn.execute(
        """INSERT INTO treasury.bank_accounts
               (id, user_id, account_number, account_name, status, reference, bvn_encrypted,
                bvn_hash)
           VALUES ($1, $2, $3, 'X', 'active', $1, '\\x00', $4)""",
        f"acc-{user_id}",
        user_id,
        number,
        user_id.encode(),
    )


async def add_ledger_entry(conn: asyncpg.Connection, slip: str, bet_hash: str) -> None:
    await conn.execute(
        "INSERT INTO ledger.ledger_entries (bet_slip_id, bet_hash, win_amount) VALUES ($1, $2, 1)",
        slip,
        bet_hash,
    )


async def test_seeding_creates_the_demo_wallets_and_one_settled_big_win(dev_like: str) -> None:
    report = await seed.seed(dev_like, environ={}, force=True)
    conn = await asyncpg.connect(dev_like)
    try:
        assert await balances(conn) == {u.id: u.balance for u in seed.USERS}
        wins = await conn.fetch(
            "SELECT id FROM public.bet_slips WHERE status = 'won' AND settled_at IS NOT NULL"
            " AND potential_win >= 1000000"
        )
    finally:
        await conn.close()
    assert [w["id"] for w in wins] == [seed.BIG_WIN_SLIP]
    assert all(u.id.startswith("demo-") for u in report.users)
    assert all(s.id.startswith("demo-") for s in report.slips)


async def test_re_seeding_resets_demo_rows_and_leaves_everything_else_alone(dev_like: str) -> None:
    await seed.seed(dev_like, environ={}, force=True)
    conn = await asyncpg.connect(dev_like)
    try:
        await conn.execute("INSERT INTO public.users (id, balance) VALUES ('someone', 7)")
        await conn.execute("UPDATE public.users SET balance = 1 WHERE id = 'demo-ada'")
        await add_bank_account(conn, "demo-ada", "0000000019")
        await add_bank_account(conn, "someone", "0000000027")
        await add_ledger_entry(conn, seed.BIG_WIN_SLIP, "a" * 64)
        report = await seed.seed(dev_like, environ={}, force=True)
        after = await balances(conn)
        accounts = await conn.fetch("SELECT user_id FROM treasury.bank_accounts")
        entries = await conn.fetchval("SELECT count(*) FROM ledger.ledger_entries")
    finally:
        await conn.close()
    assert after["demo-ada"] == Decimal("50000.00")
    assert after["someone"] == Decimal(7)
    assert [a["user_id"] for a in accounts] == ["someone"]
    assert report.bank_accounts_removed == 1
    assert entries == 1  # the same chain still holds it: `make seed` leaves the ledger alone


async def test_a_new_chain_forgets_only_the_demo_slips_ledger_entries(dev_like: str) -> None:
    await seed.seed(dev_like, environ={}, force=True)
    conn = await asyncpg.connect(dev_like)
    try:
        await add_ledger_entry(conn, seed.BIG_WIN_SLIP, "a" * 64)
        await add_ledger_entry(conn, "someone-elses-slip", "b" * 64)
        report = await seed.seed(dev_like, environ={}, force=True, fresh_chain=True)
        left = await conn.fetch("SELECT bet_slip_id FROM ledger.ledger_entries")
    finally:
        await conn.close()
    assert report.ledger_entries_removed == 1
    assert [row["bet_slip_id"] for row in left] == ["someone-elses-slip"]


async def test_resetting_the_demos_wallet_touches_no_other_demo_user(dev_like: str) -> None:
    await seed.seed(dev_like, environ={}, force=True)
    conn = await asyncpg.connect(dev_like)
    try:
        await add_bank_account(conn, "demo-ada", "0000000019")
        await add_bank_account(conn, "demo-bola", "0000000027")
        await conn.execute("UPDATE public.users SET balance = 0 WHERE id LIKE 'demo-%'")
        bola = next(u for u in seed.USERS if u.id == "demo-bola")
        assert await seed.reset_user(dev_like, bola, environ={}, force=True) == 1
        after = await balances(conn)
        accounts = await conn.fetch("SELECT user_id FROM treasury.bank_accounts")
    finally:
        await conn.close()
    assert after["demo-bola"] == bola.balance
    assert after["demo-ada"] == 0
    assert [a["user_id"] for a in accounts] == ["demo-ada"]


def test_production_is_refused_even_when_forced() -> None:
    with pytest.raises(seed.SeedRefused, match="APP_ENV=prod"):
        seed.check_target(
            "postgresql://postgres@127.0.0.1:5432/betfuz_dev", {"APP_ENV": "prod"}, force=True
        )


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://svc@db.internal:5432/betfuz_dev",
        "postgresql://postgres@127.0.0.1:5432/betfuz",
    ],
)
def test_any_database_but_the_local_dev_one_is_refused_unless_forced(url: str) -> None:
    with pytest.raises(seed.SeedRefused, match="FORCE=1"):
        seed.check_target(url, {}, force=False)
    seed.check_target(url, {}, force=True)


def test_the_local_dev_database_is_accepted() -> None:
    seed.check_target("postgresql://postgres@localhost:5432/betfuz_dev", {}, force=False)


async def test_a_database_without_the_stand_in_tables_is_refused_even_when_forced(
    admin_database_url: str,
) -> None:
    bare = await create_database(admin_database_url, [], prefix="betfuz_bare")
    try:
        with pytest.raises(seed.SeedRefused, match="stand-in"):
            await seed.seed(bare, environ={}, force=True)
    finally:
        await drop_database(admin_database_url, bare)


def test_every_statement_is_labelled_as_demo_data_for_the_servers_logs() -> None:
    assert len(seed.STATEMENTS) == 8
    assert all(sql.startswith("-- DEMO DATA") for sql in seed.STATEMENTS)
