"""The hot queries' plans use their indexes: no sequential scan of a big table, read from
PostgreSQL's own EXPLAIN on tables holding realistic row counts, freshly ANALYZEd.

Each query is the one the code sends: the repository function runs against a connection that
records its SQL and arguments instead of executing them, and that SQL is then EXPLAINed with
those arguments on the seeded database. A query rewritten in the repository is checked as
rewritten; an index dropped or made unusable fails here, before `make bench` would show it.
The seed is `make bench`'s scale seed (bench/scale_bench.py), at 50,000 rows a table.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from bench import scale_bench, topup_bench, webhook_bench
from betfuz_testing.fixtures import FreshDatabase
from ledger import repository as ledger_repo
from ledger.domain import EntryFilter, EntryStatus
from topup import repository as topup_repo
from treasury import reconcile
from treasury import repository as treasury_repo

ROWS = 50_000
BIG_TABLES = {
    "topup_transactions",
    "bank_transactions",
    "ledger_entries",
    "bet_slips",
    "idempotency_keys",
}


class Recorder:
    """Stands in for a connection: keeps each statement and its arguments, executes nothing."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    def _keep(self, sql: str, args: tuple[Any, ...]) -> None:
        self.statements.append((sql, args))

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self._keep(sql, args)
        return []

    async def fetchrow(self, sql: str, *args: Any) -> None:
        self._keep(sql, args)

    async def fetchval(self, sql: str, *args: Any) -> None:
        self._keep(sql, args)

    async def execute(self, sql: str, *args: Any) -> str:
        self._keep(sql, args)
        return "INSERT 0 0"


@pytest.fixture(scope="module")
async def seeded(fresh_database: FreshDatabase) -> AsyncIterator[asyncpg.Connection]:
    url = await fresh_database("plans")
    conn = await asyncpg.connect(url)
    for seed in (topup_bench.seed_users, webhook_bench.seed_accounts):
        await seed(url)
    await scale_bench.grow(url, 0, ROWS)
    await conn.execute(scale_bench.SEED_DUE, 0, 1_000)
    await conn.execute("ANALYZE topup.topup_transactions")
    yield conn
    await conn.close()


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


async def plan_of(
    conn: asyncpg.Connection, call: Callable[[Any], Awaitable[Any]]
) -> list[dict[str, Any]]:
    """Every plan node of every statement `call` sends."""
    recorder = Recorder()
    await call(recorder)
    assert recorder.statements, "the repository function sent no SQL"
    found = []
    for sql, args in recorder.statements:
        # the transaction makes sure nothing of an EXPLAINed INSERT could ever stay behind
        async with conn.transaction():
            text = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
        found += list(nodes(json.loads(text)[0]["Plan"]))
    return found


def assert_uses_index(found: list[dict[str, Any]], table: str, index: str) -> None:
    """`index` may name several ("a|b"): either is a good plan."""
    seq = [n["Relation Name"] for n in found if n["Node Type"] == "Seq Scan"]
    assert not set(seq) & BIG_TABLES, f"sequential scan of {seq}: {found}"
    used = {n.get("Index Name") for n in found if n.get("Relation Name") == table}
    assert used & set(index.split("|")), f"{table} read through {used}, not {index}"


NOW = datetime.now(UTC)
CASES: dict[str, tuple[Callable[[Any], Awaitable[Any]], str, str]] = {
    "topup history of a user, first page": (
        lambda c: topup_repo.list_owned(c, scale_bench.HOT_USER, 20, None),
        "topup_transactions",
        "idx_topup_user_id",
    ),
    "topup history of a user, a later page": (
        lambda c: topup_repo.list_owned(
            c, scale_bench.HOT_USER, 20, (NOW - timedelta(hours=1), "top_scale_3600")
        ),
        "topup_transactions",
        "idx_topup_user_id",
    ),
    "topup by idempotency key": (
        lambda c: topup_repo.find_recent_by_idempotency_key(
            c, scale_bench.HOT_USER, "scale-5", 86_400
        ),
        "topup_transactions",
        "idx_topup_idempotency",
    ),
    "topup by reference": (
        lambda c: topup_repo.get_by_reference(c, "SCALE5"),
        "topup_transactions",
        "topup_transactions_reference_key",
    ),
    "topups due for reconciliation": (
        lambda c: topup_repo.due_for_check(c, 180, 100),
        "topup_transactions",
        "idx_topup_pending_due",
    ),
    "deposit by reference": (
        # look_up_deposit's statement as it sends it (the recorder's empty row would stop the
        # function before it returns)
        lambda c: c.fetchrow(treasury_repo.DEPOSIT_LOOKUP, "SCALE-5", "9000000005"),
        "bank_transactions",
        "bank_transactions_transaction_reference_key",
    ),
    "deposit history of an account, first page": (
        lambda c: treasury_repo.transactions_page(c, scale_bench.HOT_USER, 20, None),
        "bank_transactions",
        "idx_bank_tx_user_date",
    ),
    "deposit history of an account, a later page": (
        lambda c: treasury_repo.transactions_page(
            c, scale_bench.HOT_USER, 20, (NOW - timedelta(hours=1), "btx_scale_3600")
        ),
        "bank_transactions",
        "idx_bank_tx_user_date",
    ),
    "ledger entries, first page": (
        lambda c: ledger_repo.list_entries(
            c, EntryFilter(None, None, None), before_id=None, limit=21
        ),
        "ledger_entries",
        "ledger_entries_pkey",
    ),
    "ledger entries, a later page": (
        lambda c: ledger_repo.list_entries(
            c, EntryFilter(None, None, None), before_id=ROWS // 2, limit=21
        ),
        "ledger_entries",
        "ledger_entries_pkey",
    ),
    "ledger entries of one status": (
        lambda c: ledger_repo.list_entries(
            c, EntryFilter(EntryStatus.CONFIRMED, None, None), before_id=None, limit=21
        ),
        "ledger_entries",
        # nearly every entry is confirmed: walking the primary key newest first and stopping
        # at 21 is as good as the status index
        "ledger_entries_status|ledger_entries_pkey",
    ),
    "the worker's claim between full sweeps": (
        lambda c: ledger_repo.claim_qualifying_slips(
            c,
            min_win=Decimal(1_000_000),
            network="polygon-amoy",
            now=NOW,
            limit=100,
            settled_within_seconds=3600,
        ),
        "bet_slips",
        # either index, as long as the window is applied in the scan (the test below)
        "idx_bet_slips_won_settled|bet_slips_settled_wins_by_amount",
    ),
    "the worker's claim of qualifying slips": (
        lambda c: ledger_repo.claim_qualifying_slips(
            c, min_win=Decimal(1_000_000), network="polygon-amoy", now=NOW, limit=100
        ),
        "bet_slips",
        "bet_slips_settled_wins_by_amount",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_hot_query_reads_its_index_and_never_scans_a_big_table(
    seeded: asyncpg.Connection, case: str
) -> None:
    call, table, index = CASES[case]
    assert_uses_index(await plan_of(seeded, call), table, index)


async def test_the_claim_checks_each_candidate_against_the_ledger_through_its_unique_index(
    seeded: asyncpg.Connection,
) -> None:
    call, _, _ = CASES["the worker's claim of qualifying slips"]
    found = await plan_of(seeded, call)
    assert_uses_index(found, "ledger_entries", "ledger_entries_bet_slip_id_key")


async def test_between_sweeps_the_claim_applies_its_window_before_proving_any_slip_claimed(
    seeded: asyncpg.Connection,
) -> None:
    """The anti-join with the ledger is the cost that grows with the history: the window must
    cut the slips down in the bet_slips scan itself, before any of them is looked up."""
    call, _, _ = CASES["the worker's claim between full sweeps"]
    found = await plan_of(seeded, call)
    (scan,) = [n for n in found if n.get("Relation Name") == "bet_slips"]
    assert "settled_at >=" in scan.get("Index Cond", "") + scan.get("Filter", "")


async def test_the_reconciliation_look_up_reads_a_chunk_through_the_reference_index(
    seeded: asyncpg.Connection,
) -> None:
    """One chunk of listed references, as the tick sends it, spread over the whole table (the
    worst case for locality). Through bank_transactions' UNIQUE index on the reference, as an
    index scan or a bitmap of it, whichever the planner prices lower for the chunk; never a
    sequential scan (a chunk of 500 or more gets one at this size: hence its size)."""
    listed = [f"SCALE-{n}" for n in range(1, ROWS, ROWS // reconcile.LOOKUP_CHUNK)]
    assert len(listed) == reconcile.LOOKUP_CHUNK
    found = await plan_of(seeded, lambda c: treasury_repo.outcomes_for_references(c, listed))
    seq = [n["Relation Name"] for n in found if n["Node Type"] == "Seq Scan"]
    assert not set(seq) & BIG_TABLES, f"sequential scan of {seq}: {found}"
    used = {n.get("Index Name") for n in found}
    assert "bank_transactions_transaction_reference_key" in used, f"read through {used}"
