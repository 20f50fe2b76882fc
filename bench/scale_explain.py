"""Where the scale curves' two missed reads spend their time, from PostgreSQL's own EXPLAIN
(ANALYZE, BUFFERS, WAL): `python -m bench.scale_explain [--sizes 10000,1000000] [--out FILE]`.

A database of its own (created, migrated, dropped at the end), grown in place as
bench/scale_bench.py grows it, and at each size:

- the ledger worker's claim between sweeps, as `scale_bench.claim_point` runs it (20 claims of
  100 new big wins, each committed), with the SQL `claim_qualifying_slips` sends: per claim,
  the buffers hit and read (read = not in shared_buffers), the full-page images and WAL bytes,
  and the SELECT's and the INSERT's share of the time;
- the topup history page (`list_owned`, 21 rows as the route asks) of the bench's hot user,
  whose 10^4 rows the seed writes in one block, and of a user whose rows lie among everyone
  else's (as a real user's do);
- which ledger_entries indexes the claim's inserts touch, per index (pg_statio).

Buffer counts and WAL do not move with the machine's load; the times do (a shared machine moved
them 2x between runs): compare the counts first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from bench import scale_bench, topup_bench, webhook_bench
from bench.harness import bench_database
from betfuz_testing.postgres import admin_url, ensure_running
from ledger import repository as ledger_repo
from topup import repository as topup_repo

CLAIM_SAMPLES = scale_bench.CLAIM_SAMPLES
HISTORY_RUNS = 50
SPREAD_USER = "bench-2"  # its seeded topups are every 999th row: one heap page per row
NEW_SLIPS = """
INSERT INTO public.bet_slips (id, user_id, status, potential_win, settled_at)
SELECT 'explain_' || $1::int || '_' || $2::int || '_' || g, 'bench-2', 'won', 2000000, now()
  FROM generate_series(1, 100) g
"""
AGE_SLIPS = """
UPDATE public.bet_slips SET settled_at = settled_at - interval '2 hours'
 WHERE id LIKE 'explain\\_%' AND settled_at > now() - interval '1 hour'
"""
STATIO = """
SELECT indexrelname AS name, idx_blks_read AS read, idx_blks_hit AS hit
  FROM pg_statio_all_indexes WHERE schemaname = 'ledger' AND relname = 'ledger_entries'
UNION ALL
SELECT relname, heap_blks_read, heap_blks_hit
  FROM pg_statio_all_tables WHERE schemaname = 'ledger' AND relname = 'ledger_entries'
"""


class Recorder:
    """Stands in for a connection: keeps the statement a repository function sends."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.statements.append((sql, args))
        return []

    async def execute(self, sql: str, *args: Any) -> str:
        self.statements.append((sql, args))
        return "INSERT 0 0"


async def sql_of(call: Callable[[Any], Awaitable[Any]]) -> tuple[str, tuple[Any, ...]]:
    recorder = Recorder()
    await call(recorder)
    (statement,) = recorder.statements
    return statement


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def summary(plan: dict[str, Any]) -> list[str]:
    """One line per plan node: what it read and through which index."""
    return [
        f"{node['Node Type']} {node.get('Index Name') or node.get('Relation Name') or ''}".strip()
        + f": rows {node.get('Actual Rows')}, hit {node.get('Shared Hit Blocks', 0)},"
        f" read {node.get('Shared Read Blocks', 0)}"
        for node in nodes(plan)
    ]


async def claim(conn: asyncpg.Connection, url: str, size: int) -> dict[str, Any]:
    """The claim between sweeps, as claim_point runs it: each of 20 claims committed, so each
    later one finds the earlier ones' slips in its window, already claimed."""
    keys = ("hit", "read", "read_io_ms", "wal_fpi", "wal_kb", "select_ms", "insert_ms")
    sums = dict.fromkeys(keys, 0.0)
    executions: list[float] = []
    last: dict[str, Any] = {}
    per_index: dict[str, list[int]] = {}
    observer = await asyncpg.connect(url)  # reads the counters the claim's session published
    try:
        await observer.execute("SET stats_fetch_consistency = none")
        for sample in range(CLAIM_SAMPLES):
            await conn.execute(NEW_SLIPS, size, sample)
            sql, args = await sql_of(
                lambda c: ledger_repo.claim_qualifying_slips(
                    c,
                    min_win=Decimal(1_000_000),
                    network="polygon-amoy",
                    now=datetime.now(UTC),
                    limit=100,
                    settled_within_seconds=scale_bench.CLAIM_WINDOW_SECONDS,
                )
            )
            before = await statio(conn, observer)
            async with conn.transaction():  # EXPLAIN ANALYZE of an INSERT inserts: committed
                text = await conn.fetchval(
                    f"EXPLAIN (ANALYZE, BUFFERS, WAL, FORMAT JSON) {sql}", *args
                )
            after = await statio(conn, observer)
            for name, (read, hit) in after.items():
                was = before.get(name, (0, 0))
                total = per_index.setdefault(name, [0, 0])
                total[0] += read - was[0]
                total[1] += hit - was[1]
            last = json.loads(text)[0]
            top = last["Plan"]
            select = top["Plans"][0]
            if select["Actual Rows"] != 100:
                raise RuntimeError(f"the claim took {select['Actual Rows']} slips, not 100")
            executions.append(last["Execution Time"])
            sums["hit"] += top.get("Shared Hit Blocks", 0)
            sums["read"] += top.get("Shared Read Blocks", 0)
            sums["read_io_ms"] += top.get("I/O Read Time", 0)
            sums["wal_fpi"] += top.get("WAL FPI", 0)
            sums["wal_kb"] += top.get("WAL Bytes", 0) / 1024
            sums["select_ms"] += select["Actual Total Time"]
            sums["insert_ms"] += top["Actual Total Time"] - select["Actual Total Time"]
        await conn.execute(AGE_SLIPS)  # out of the next size's window, as claim_point does
    finally:
        await observer.close()
    return {
        "execution_ms_median": round(statistics.median(executions), 2),
        "per_claim": {key: round(value / CLAIM_SAMPLES, 2) for key, value in sums.items()},
        "per_claim_by_relation_read_hit": {
            name: [round(read / CLAIM_SAMPLES, 1), round(hit / CLAIM_SAMPLES, 1)]
            for name, (read, hit) in sorted(per_index.items(), key=lambda kv: -sum(kv[1]))
        },
        "last_claim_plan": summary(last["Plan"]),
    }


async def statio(
    conn: asyncpg.Connection, observer: asyncpg.Connection
) -> dict[str, tuple[int, int]]:
    """The relations' block counters, with this session's own figures published first."""
    await conn.execute("SELECT pg_stat_force_next_flush()")
    await conn.execute("SELECT 1")  # the flush happens when a statement ends
    await asyncio.sleep(0.05)
    rows = await observer.fetch(STATIO)
    return {row["name"]: (row["read"], row["hit"]) for row in rows}


async def history(conn: asyncpg.Connection, user: str) -> dict[str, Any]:
    sql, args = await sql_of(lambda c: topup_repo.list_owned(c, user, 21, None))
    times: list[float] = []
    plan: dict[str, Any] = {}
    for _ in range(HISTORY_RUNS):
        text = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *args)
        plan = json.loads(text)[0]
        times.append(plan["Execution Time"])
    return {
        "execution_ms_median": round(statistics.median(times), 3),
        "planning_ms": plan["Planning Time"],
        "plan": summary(plan["Plan"]),
    }


async def facts(conn: asyncpg.Connection) -> dict[str, Any]:
    levels = {}
    for index in (
        "topup.idx_topup_user_id",
        "ledger.ledger_entries_pkey",
        "ledger.ledger_entries_bet_slip_id_key",
        "ledger.ledger_entries_bet_hash_key",
    ):
        # a B-tree's root level + 1 = the pages every descent reads (pageinspect's bt_metap)
        levels[index] = await conn.fetchval("SELECT level FROM bt_metap($1)", index)
    return {
        "shared_buffers": await conn.fetchval("SHOW shared_buffers"),
        "database_size": await conn.fetchval(
            "SELECT pg_size_pretty(pg_database_size(current_database()))"
        ),
        "btree_root_level": levels,
    }


async def without_bet_hash_unique(conn: asyncpg.Connection, url: str, size: int) -> list[Any]:
    """What the bet_hash UNIQUE costs the claim: with and without it, alternated twice (this
    database is thrown away; nothing here is a proposal to drop the guarantee). Each "with" is
    measured on the index just rebuilt, each "without" on the same table minus it."""
    rounds: list[Any] = []
    for turn in range(2):
        await conn.execute(
            "ALTER TABLE ledger.ledger_entries DROP CONSTRAINT ledger_entries_bet_hash_key"
        )
        without = await claim(conn, url, size * 10 + 2 * turn)
        await conn.execute(
            "ALTER TABLE ledger.ledger_entries ADD CONSTRAINT ledger_entries_bet_hash_key "
            "UNIQUE (bet_hash)"
        )
        with_it = await claim(conn, url, size * 10 + 2 * turn + 1)
        for name, found in (("without", without), ("with", with_it)):
            rounds.append({"bet_hash_unique": name, **found["per_claim"],
                           "execution_ms_median": found["execution_ms_median"]})  # fmt: skip
    return rounds


async def measure(url: str, sizes: tuple[int, ...], *, ab: bool = False) -> dict[str, Any]:
    await topup_bench.seed_users(url)
    await webhook_bench.seed_accounts(url)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        # how long the reads outside shared_buffers took: the OS cache answers in microseconds,
        # the disk in milliseconds (the bench's superuser may turn it on for its session)
        await conn.execute("SET track_io_timing = on")
        found: dict[str, Any] = {}
        have = 0
        for size in sizes:
            await scale_bench.grow(url, have, size)
            have = size
            found[str(size)] = {
                **await facts(conn),
                "claim_between_sweeps": await claim(conn, url, size),
                "history_hot_user_one_block": await history(conn, scale_bench.HOT_USER),
                "history_user_spread_out": await history(conn, SPREAD_USER),
            }
        if ab:
            found[str(sizes[-1])][
                "claim_with_and_without_bet_hash_unique"
            ] = await without_bet_hash_unique(conn, url, sizes[-1])
        return found
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,1000000", help="rows, comma-separated")
    parser.add_argument("--out", type=Path, help="write the JSON here (the logs go to stdout)")
    parser.add_argument(
        "--bet-hash-ab",
        action="store_true",
        help="at the last size, the claim without and with the bet_hash UNIQUE, twice",
    )
    args = parser.parse_args()
    sizes = tuple(int(size) for size in args.sizes.split(","))
    ensure_running(admin_url())
    with bench_database(admin_url()) as url:
        text = json.dumps(asyncio.run(measure(url, sizes, ab=args.bet_hash_ab)), indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
