"""Cost as the data grows: the hot requests and jobs at 10^4, 10^5 and 10^6 existing rows.

The tables grow in place between sizes (bulk `INSERT … SELECT generate_series`, PostgreSQL's own
bulk path: no row crosses the wire), then `ANALYZE`, then every measurement runs at that size:

- HTTP (the services as they ship, one process each): `POST /topup`, `GET /topup` (one user
  with 10^4 topups), `POST /treasury/webhook`, the deposit history of one account with 10^4
  deposits, `GET /ledger/entries`. An open loop at a fixed rate, the same at every size, so the
  latencies compare; p99 from the scheduled send time.
- In process: the ledger worker's claim, between sweeps and as a full sweep (bet_slips holds
  `size` slips settled one a second back in time, 1 % of them big wins, all claimed but the
  100 each sample adds), one topup reconciliation tick with 10^4 topups due
  (Selcom sandbox), one deposit reconciliation tick over 10^4 listed deposits.

Database time per request is PostgreSQL's own: the growth of `pg_stat_database.active_time`
(time backends spent executing statements in the bench database, which nothing else uses)
over the run, divided by the requests. Backends publish it at most every second and an idle
one within PGSTAT_IDLE_INTERVAL (10 s), hence the wait before each reading.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry

from bench import topup_bench, webhook_bench
from bench.harness import load, write_requests
from betfuz_common import jsonio
from betfuz_common.auth import issue_token
from betfuz_common.settings import load_settings
from betfuz_testing.processes import free_port, running
from treasury.config import TreasurySettings
from treasury.metrics import TreasuryMetrics
from treasury.reconcile import ReconcileConfig, reconcile_once
from treasury.runtime import open_ports
from treasury.schemas import DepositNotification

SIZES = (10_000, 100_000, 1_000_000)
HOT_ROWS = 10_000  # the topups / deposits of the one user whose history is read
DUE = 10_000  # topups due for reconciliation at every size
RATE = 30.0  # requests per second of every HTTP measurement, at every size
STATS_FLUSH_SECONDS = 11.0  # PGSTAT_IDLE_INTERVAL (10 s) and a margin
CLAIM_SAMPLES = 20
CLAIM_WINDOW_SECONDS = 3600.0  # WorkerConfig.claim_window_seconds
TARGET_GROWTH = 1.5  # p99 and database time from the smallest to the largest size
JWT_SECRET = topup_bench.JWT_SECRET
HOT_USER = "bench-1"  # one of topup_bench's and webhook_bench's users, with an account

SEED_TOPUPS = """
INSERT INTO topup.topup_transactions
    (id, user_id, phone, carrier, amount, type, status, reference, idempotency_key,
     next_check_at, completed_at, created_at)
SELECT 'top_scale_' || g,
       CASE WHEN g <= $3 THEN $4 ELSE 'bench-' || (2 + g % 999) END,
       '+2348030000001', 'mtn', 100, 'airtime', 'completed', 'SCALE' || g, 'scale-' || g,
       now() - interval '1 day', now() - make_interval(secs => g), now() - make_interval(secs => g)
  FROM generate_series($1::int, $2::int) g
"""
# Pending, past the reconciliation's delay (180 s) and not yet at the SLA (300 s), due now:
# what one tick finds to ask Selcom about. The previous size's are settled first, so every
# tick sees the same 10^4 (and flags none for the SLA).
SETTLE_DUE = """
UPDATE topup.topup_transactions SET status = 'completed', completed_at = now()
 WHERE status = 'pending'
"""
SEED_DUE = """
INSERT INTO topup.topup_transactions
    (id, user_id, phone, carrier, amount, type, status, reference, idempotency_key,
     next_check_at, created_at)
SELECT 'top_due_' || $1::int || '_' || g, 'bench-' || (2 + g % 999), '+2348030000001', 'mtn', 100,
       'airtime', 'pending', 'DUE' || $1::int || 'X' || g, 'due-' || $1::int || '-' || g,
       now() - make_interval(secs => 60 + g), now() - interval '200 seconds'
  FROM generate_series(1, $2::int) g
"""
SEED_DEPOSITS = """
INSERT INTO treasury.bank_transactions
    (id, bank_account_id, user_id, type, amount, transaction_reference, sender_name,
     sender_account, sender_bank, narration, transaction_date)
SELECT 'btx_scale_' || g, 'acc_bench_' || a.k, 'bench-' || a.k, 'credit', 5000.50,
       'SCALE-' || g, 'MARY JANE', '9876543210', 'Access Bank', 'Deposit to Betfuz',
       now() - make_interval(secs => g)
  FROM generate_series($1::int, $2::int) g,
       LATERAL (SELECT CASE WHEN g <= $3 THEN 1 ELSE 2 + g % 999 END) a(k)  -- bench-1 is HOT_USER
"""
SEED_ENTRIES = """
INSERT INTO ledger.ledger_entries
    (bet_slip_id, bet_hash, win_amount, network, status, tx_hash, block_number,
     confirmed_at, submitted_at, created_at)
SELECT 'bet_' || g, encode(sha256(('bet_' || g)::bytea), 'hex'), 1000000 + g, 'polygon-amoy',
       'confirmed', '0x' || encode(sha256(('tx_' || (g / 100))::bytea), 'hex'), 1000 + g / 100,
       now(), now(), now() - make_interval(secs => g)
  FROM generate_series($1::int, $2::int) g
"""
# 1 % big wins (each already has its ledger entry, seeded above), the rest small or lost.
SEED_SLIPS = """
INSERT INTO public.bet_slips (id, user_id, status, stake, potential_win, settled_at, created_at)
SELECT 'bet_' || g, 'bench-' || (2 + g % 999),
       CASE WHEN g % 100 = 0 THEN 'won' WHEN g % 3 = 0 THEN 'won' ELSE 'lost' END, 100,
       CASE WHEN g % 100 = 0 THEN 1000000 + g ELSE 5000 END,
       now() - make_interval(secs => g), now() - make_interval(secs => g)
  FROM generate_series($1::int, $2::int) g
"""


CONFIRM_CLAIMED = """
UPDATE ledger.ledger_entries
   SET status = 'confirmed', tx_hash = '0x' || bet_hash, block_number = 1,
       submitted_at = now(), confirmed_at = now(), updated_at = now()
 WHERE bet_slip_id LIKE 'new\\_%' AND status = 'pending'
"""


async def grow(database_url: str, have: int, size: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        lo, hi = have + 1, size
        await conn.execute(SEED_TOPUPS, lo, hi, HOT_ROWS, HOT_USER)
        await conn.execute(SEED_DEPOSITS, lo, hi, HOT_ROWS)
        await conn.execute(SEED_ENTRIES, lo, hi)
        await conn.execute(SEED_SLIPS, lo, hi)
        for table in (
            "topup.topup_transactions",
            "treasury.bank_transactions",
            "ledger.ledger_entries",
            "public.bet_slips",
        ):
            await conn.execute(f"VACUUM ANALYZE {table}")
        # The seed's dirty pages written out now: left to the checkpointer, their writes would
        # land inside the points that follow (commits waiting on a busy disk), at 10^6 most.
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def active_ms(database_url: str, *, settle: bool = True) -> float:
    if settle:
        await asyncio.sleep(STATS_FLUSH_SECONDS)
    conn = await asyncpg.connect(database_url)
    try:
        value: float = await conn.fetchval(
            "SELECT active_time FROM pg_stat_database WHERE datname = current_database()"
        )
        return value
    finally:
        await conn.close()


def _get(path: str, token: str) -> Callable[[int], list[dict[str, Any]]]:
    def make(count: int) -> list[dict[str, Any]]:
        item = {"method": "GET", "path": path, "headers": {"Authorization": f"Bearer {token}"}}
        return [item] * count

    return make


def http_points(
    database_url: str,
    endpoints: dict[str, tuple[str, Callable[[int], list[dict[str, Any]]]]],
    seconds: int,
) -> dict[str, dict[str, Any]]:
    """Every endpoint warmed up first, then each in turn; one reading of the database's active
    time between two runs is the end of one and the start of the next."""
    for api, make in endpoints.values():
        warm = write_requests(make(50))
        try:
            load(api, warm, duration=1, rate=RATE)
        finally:
            warm.unlink()
    before = asyncio.run(active_ms(database_url))
    points = {}
    for name, (api, make) in endpoints.items():
        paced = write_requests(make(int(RATE * seconds) + 10))
        try:
            result = load(api, paced, duration=seconds, rate=RATE)
        finally:
            paced.unlink()
        after = asyncio.run(active_ms(database_url))
        points[name] = {
            "p50_ms": result["p50_ms"],
            "p99_ms": result["p99_ms"],
            "requests": result["requests"],
            "statuses": result["statuses"],
            "errors": result["errors"],
            "db_ms_per_request": round((after - before) / max(1, result["requests"]), 3),
        }
        before = after
    return points


async def claim_point(database_url: str, size: int, *, window: float | None) -> dict[str, Any]:
    """The worker's claim of 100 new big wins: between sweeps (`window`, the steady state) or a
    full sweep (every big win ever settled, as the first tick and then hourly)."""
    from ledger import repository as ledger_repo

    conn = await asyncpg.connect(database_url)
    walls: list[float] = []
    try:
        for sample in range(CLAIM_SAMPLES):
            await conn.execute(
                """INSERT INTO public.bet_slips (id, user_id, status, potential_win, settled_at)
                   SELECT 'new_' || $1::int || '_' || $2::int || '_' || $3::text || '_' || g,
                          'bench-2', 'won',
                          2000000, now()
                     FROM generate_series(1, 100) g""",
                size,
                sample,
                "window" if window else "sweep",
            )
            started = time.perf_counter()
            async with conn.transaction():
                claimed = await ledger_repo.claim_qualifying_slips(
                    conn,
                    min_win=Decimal(1_000_000),
                    network="polygon-amoy",
                    now=datetime.now(UTC),
                    limit=100,
                    settled_within_seconds=window,
                )
            walls.append(time.perf_counter() - started)
            if claimed != 100:
                raise RuntimeError(f"the claim took {claimed} slips, not the 100 new ones")
        # Claimed, they are history now: aged out of the next claims' window, as an hour's
        # wins are in production. Left in it, every later point would find 2,000 more recent
        # slips per point to prove claimed, a rate of big wins no platform settles.
        await conn.execute(
            "UPDATE public.bet_slips SET settled_at = settled_at - interval '2 hours' "
            "WHERE id LIKE 'new\\_%' AND settled_at > now() - interval '1 hour'"
        )
        # And recorded, as the worker would record them: left pending, every later point would
        # run beside a growing backlog (the ledger's backlog gauge reads it every few seconds,
        # and the database time of every later HTTP point would carry that).
        await conn.execute(CONFIRM_CLAIMED)
        await conn.execute("VACUUM ANALYZE ledger.ledger_entries")
    finally:
        await conn.close()
    # One statement on one connection: its wall time is its database time (plus a round trip).
    return {
        "p50_ms": round(statistics.median(walls) * 1000, 2),
        "p99_ms": round(max(walls) * 1000, 2),  # of 20 samples: the worst
        "requests": len(walls),
        "db_ms_per_request": round(statistics.mean(walls) * 1000, 2),
    }


async def _timed_tick(database_url: str, tick: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    before = await active_ms(database_url, settle=False)
    started = time.perf_counter()
    report = await tick()
    wall = time.perf_counter() - started
    # the tick's pool is closed by now: a closing backend publishes its figures at once
    await asyncio.sleep(1.5)
    after = await active_ms(database_url, settle=False)
    return {
        "p99_ms": round(wall * 1000, 1),  # one tick: its duration
        "requests": 1,
        "db_ms_per_request": round(after - before, 1),
        "report": report,
    }


async def topup_tick_point(database_url: str, selcom: str, size: int) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry

    from topup.config import TopupSettings
    from topup.metrics import TopupMetrics
    from topup.reconcile import ReconcileConfig, reconcile_once, report_dict
    from topup.runtime import open_ports

    settings = load_settings(
        TopupSettings,
        {
            "APP_ENV": "test",
            "DATABASE_URL": database_url,
            "JWT_SECRET": JWT_SECRET,
            "SELCOM_BASE_URL": selcom,
            "SELCOM_API_KEY": topup_bench.SELCOM_KEY,
            "SELCOM_API_SECRET": topup_bench.SELCOM_SECRET,
            "API_BASE_URL": "http://127.0.0.1:9",
        },
    )

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(SETTLE_DUE)
        await conn.execute(SEED_DUE, size, DUE)
        await conn.execute("ANALYZE topup.topup_transactions")
    finally:
        await conn.close()

    async def tick() -> dict[str, Any]:
        async with open_ports(settings, TopupMetrics(CollectorRegistry()), pool_size=4) as ports:
            report = await reconcile_once(ports, ReconcileConfig.from_settings(settings))
        return report_dict(report)

    point = await _timed_tick(database_url, tick)
    conn = await asyncpg.connect(database_url)
    try:  # what is still pending now would sit beside the next size's points
        await conn.execute(SETTLE_DUE)
        # and vacuumed now, so that autovacuum does not wake for these rows inside a later
        # point (the database time counts every backend of the database)
        await conn.execute("VACUUM ANALYZE topup.topup_transactions")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return point


async def deposit_tick_point(database_url: str, treasury_api: str) -> dict[str, Any]:
    """One deposit reconciliation tick over 10^4 listed deposits, all already credited by their
    webhooks (the steady state: every one a duplicate); Wema's listing is a double in process
    that hands the tick those deposits, read by the webhook's own schema."""
    items = webhook_bench.deposits(DUE)
    notified = write_requests(items)
    try:  # the webhooks first, through the running service: each credited once
        load(treasury_api, notified, duration=120, connections=8)
    finally:
        notified.unlink()
    # read as the service reads a notification: exact decimals, the webhook's own schema
    listed = [
        DepositNotification.model_validate(jsonio.loads(item["body"])).deposit() for item in items
    ]

    class Listing:
        def __init__(self, wema: Any) -> None:
            self._wema = wema

        async def list_transactions(self, start: datetime, end: datetime) -> list[Any]:
            return listed

        def __getattr__(self, name: str) -> Any:
            return getattr(self._wema, name)

    settings = load_settings(
        TreasurySettings,
        {
            "APP_ENV": "test",
            "DATABASE_URL": database_url,
            "JWT_SECRET": JWT_SECRET,
            "WEMA_API_KEY": webhook_bench.WEMA_KEY,
            "WEMA_SECRET_KEY": webhook_bench.WEMA_SECRET,
            "WEMA_BASE_URL": "http://127.0.0.1:9",
            "BVN_ENCRYPTION_KEY": "bench-bvn-key-0123456789abcdef",
            "API_BASE_URL": "http://127.0.0.1:9",
        },
    )

    async def tick() -> dict[str, Any]:
        async with open_ports(settings) as ports:
            report = await reconcile_once(
                replace(ports, wema=Listing(ports.wema)),
                ReconcileConfig.from_settings(settings),
                TreasuryMetrics(CollectorRegistry()),
            )
        return dict(report.as_dict())

    point = await _timed_tick(database_url, tick)
    conn = await asyncpg.connect(database_url)
    try:  # the 10^4 webhooks' rows, vacuumed now rather than by autovacuum in a later point
        await conn.execute(
            "VACUUM ANALYZE treasury.bank_transactions, treasury.bank_accounts, public.users"
        )
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return point


@contextmanager
def services(database_url: str, logs: Path) -> Iterator[dict[str, str]]:
    api_port, sandbox_port = free_port(), free_port()
    common = {
        "SELCOM_API_KEY": topup_bench.SELCOM_KEY,
        "SELCOM_API_SECRET": topup_bench.SELCOM_SECRET,
    }
    base = {"APP_ENV": "test", "DATABASE_URL": database_url, "JWT_SECRET": JWT_SECRET}
    base |= {"LOG_LEVEL": "WARNING", "WEB_CONCURRENCY": "2"}  # as shipped: a worker per core
    with ExitStack() as stack:
        selcom = stack.enter_context(
            running(
                "sandboxes.selcom",
                env={**common, "SANDBOX_SELCOM_FAST": "1",
                     "API_BASE_URL": f"http://127.0.0.1:{api_port}"},
                port=sandbox_port,
                log_path=logs / "scale-selcom.log",
            )
        )  # fmt: skip
        topup = stack.enter_context(
            running(
                "topup",
                env={**base, **common, "SELCOM_BASE_URL": selcom,
                     "API_BASE_URL": f"http://127.0.0.1:{api_port}",
                     "TOPUP_RECONCILE_INTERVAL_SECONDS": "0", "TOPUP_MAX_AMOUNT": "1000000"},
                port=api_port,
                log_path=logs / "scale-topup.log",
            )
        )  # fmt: skip
        treasury = stack.enter_context(
            running(
                "treasury",
                env={**base, "WEMA_API_KEY": webhook_bench.WEMA_KEY,
                     "WEMA_SECRET_KEY": webhook_bench.WEMA_SECRET,
                     "WEMA_BASE_URL": "http://127.0.0.1:9",
                     "BVN_ENCRYPTION_KEY": "bench-bvn-key-0123456789abcdef",
                     "TREASURY_RECONCILE_INTERVAL_SECONDS": "0"},
                log_path=logs / "scale-treasury.log",
            )
        )  # fmt: skip
        ledger = stack.enter_context(
            running(
                "ledger",
                env={**base, "LEDGER_WORKER_ENABLED": "false",
                     "POLYGON_RPC_URL": "http://127.0.0.1:9"},
                log_path=logs / "scale-ledger.log",
            )
        )  # fmt: skip
        yield {"selcom": selcom, "topup": topup, "treasury": treasury, "ledger": ledger}


def run(
    database_url: str, *, sizes: tuple[int, ...] = SIZES, seconds: int, logs: Path
) -> dict[str, Any]:
    asyncio.run(topup_bench.seed_users(database_url))
    asyncio.run(webhook_bench.seed_accounts(database_url))
    hot = issue_token(JWT_SECRET, HOT_USER, ttl_seconds=3600)
    compliance = issue_token(JWT_SECRET, "bench-compliance", roles=["compliance"])
    points: dict[str, dict[str, Any]] = {}
    seed_seconds: dict[str, float] = {}
    have = 0
    with services(database_url, logs) as urls:
        http = {
            "POST /topup": (urls["topup"], topup_bench.purchases),
            "GET /topup (10^4 topups)": (urls["topup"], _get("/topup", hot)),
            "POST /treasury/webhook": (urls["treasury"], webhook_bench.deposits),
            "GET deposit history (10^4 deposits)": (
                urls["treasury"],
                _get("/treasury/accounts/me/transactions", hot),
            ),
            "GET /ledger/entries": (urls["ledger"], _get("/ledger/entries", compliance)),
        }
        for size in sizes:
            started = time.monotonic()
            asyncio.run(grow(database_url, have, size))
            have = size
            seed_seconds[str(size)] = round(time.monotonic() - started, 1)
            for name, point in http_points(database_url, http, seconds).items():
                points.setdefault(name, {})[str(size)] = point
            points.setdefault("ledger claim between sweeps (1 % big wins)", {})[str(size)] = (
                asyncio.run(claim_point(database_url, size, window=CLAIM_WINDOW_SECONDS))
            )
            points.setdefault("ledger claim, full sweep (hourly)", {})[str(size)] = asyncio.run(
                claim_point(database_url, size, window=None)
            )
            points.setdefault("topup reconciliation tick (10^4 due)", {})[str(size)] = asyncio.run(
                topup_tick_point(database_url, urls["selcom"], size)
            )
            points.setdefault("deposit reconciliation tick (10^4 listed)", {})[str(size)] = (
                asyncio.run(deposit_tick_point(database_url, urls["treasury"]))
            )
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sizes": list(sizes),
        "rate_per_second": RATE,
        "seconds_per_point": seconds,
        "seed_seconds": seed_seconds,
        "points": points,
        "growth": {name: growth(by_size) for name, by_size in points.items()},
        "target_growth": TARGET_GROWTH,
        "pid": os.getpid(),
    }


def growth(by_size: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """Largest size over smallest, for p99 and database time."""
    sizes = sorted(by_size, key=int)
    first, last = by_size[sizes[0]], by_size[sizes[-1]]

    def ratio(key: str) -> float | None:
        a, b = first.get(key), last.get(key)
        return round(b / a, 2) if a and b is not None else None

    return {"p99": ratio("p99_ms"), "db": ratio("db_ms_per_request")}
