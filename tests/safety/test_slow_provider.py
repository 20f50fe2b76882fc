"""A slow Selcom while 200 purchases are in flight: answering after 8 s (under the service's
10 s timeout) and after 12 s (over it).

The Selcom sandbox sleeps before it answers (`SANDBOX_SELCOM_TIMEOUT_SLEEP`, numbers 07 and 08:
success and failure). While the purchases wait, the service stays responsive (`/topup/health`
sampled every 20 ms) and holds no database connection (pg_stat_activity of the service's own
private database sampled every 100 ms: a purchase commits its debit before it calls Selcom and
takes a connection again only for the answer). Afterwards every purchase is settled as Selcom
decided: from its answer under the timeout; over it, left pending and settled by reconciliation.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import pytest

from betfuz_testing import private_postgres
from betfuz_testing.wallets import new_user
from sandboxes.selcom.behaviours import behaviour_for
from tests.safety import figures
from tests.safety.faults import (
    Migrations,
    answer_of,
    badly_refused,
    fault_stack,
    new_purchase,
    pending_left,
    percentile,
    private_database,
    reconciler,
    statuses,
)
from tests.safety.support import applied_twice, ledger_of, money_lost

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not private_postgres.available(), reason="no PostgreSQL binaries"),
]
IN_FLIGHT = 200
SELCOM_TIMEOUT_SECONDS = 10.0  # the service's default
SLOW = ["08030000007", "08030000008"]  # the sandbox sleeps, then answers success / failure
HEALTH_TARGET_SECONDS = 0.100  # issue 14: /health p99 under 100 ms while the purchases wait
# What the test asserts: /health is not held behind the waits (a blocked event loop would
# answer only when Selcom does, 8 s on). The 100 ms target itself is measured and published in
# the figures, not asserted: speed is the benchmarks' to show, never a timed test.
HEALTH_BOUND_SECONDS = 2.0
INITIAL = Decimal(1000)
# Held: a backend of the service's database busy in a query or inside a transaction.
HELD = """
SELECT count(*) FILTER (WHERE state <> 'idle') AS held,
       count(*) FILTER (WHERE state LIKE 'idle in transaction%') AS in_transaction,
       count(*) AS connections,
       array_agg(state || ': ' || left(query, 80)) FILTER (WHERE state <> 'idle') AS queries
FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend'
  AND pid <> pg_backend_pid()
"""


async def _sample_health(http: httpx.AsyncClient, until: asyncio.Event) -> list[float]:
    latencies = []
    while not until.is_set():
        started = time.perf_counter()
        response = await http.get("/topup/health")
        latencies.append(time.perf_counter() - started)
        assert response.status_code == 200
        await asyncio.sleep(0.02)
    return latencies


async def _sample_connections(
    conn: asyncpg.Connection, until: asyncio.Event
) -> list[asyncpg.Record]:
    samples = []
    while not until.is_set():
        sample = await conn.fetchrow(HELD)
        assert sample is not None
        samples.append(sample)
        await asyncio.sleep(0.1)
    return samples


@pytest.mark.parametrize("answer_after", [8.0, 12.0])
async def test_a_slow_selcom_keeps_the_service_responsive_and_holds_no_connection_while_waiting(
    answer_after: float, all_migrations: Migrations, tmp_path: Path
) -> None:
    over_timeout = answer_after > SELCOM_TIMEOUT_SECONDS
    async with (
        private_database(all_migrations) as (server, database_url),
        fault_stack(
            server,
            database_url,
            tmp_path,
            selcom_env={
                "SANDBOX_SELCOM_FAST": "0",
                "SANDBOX_SELCOM_TIMEOUT_SLEEP": str(answer_after),
            },
            topup_extra={
                "SELCOM_TIMEOUT_SECONDS": str(SELCOM_TIMEOUT_SECONDS),
                # No reconciliation inside the service while the purchases wait: each ends on
                # its own answer, and what the samples see is the purchases alone. (The tick
                # holds connections across its Selcom calls: docs/RELIABILITY.md, findings.)
                # Reconciliation runs afterwards, as a process of its own.
                "TOPUP_RECONCILE_INTERVAL_SECONDS": "0",
            },
            with_treasury=False,
        ) as stack,
    ):
        pool = await stack.pool()
        sampler = await asyncpg.connect(database_url)
        try:
            users = [await new_user(pool, INITIAL) for _ in range(IN_FLIGHT)]
            purchases = [new_purchase(u, SLOW[i % 2]) for i, u in enumerate(users)]
            limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
            async with (
                httpx.AsyncClient(base_url=stack.topup.base_url, timeout=60, limits=limits) as http,
                httpx.AsyncClient(base_url=stack.topup.base_url, timeout=5) as probe,
            ):
                started = time.monotonic()
                burst = asyncio.gather(*(answer_of(p, lambda p: p.send(http)) for p in purchases))
                debited = await _wait_debited(pool, users)
                waiting_from = time.monotonic()
                done = asyncio.Event()
                health = asyncio.create_task(_sample_health(probe, done))
                held = asyncio.create_task(_sample_connections(sampler, done))
                # The purchases are all waiting on Selcom until it first answers: no sooner
                # than `answer_after` (or the timeout) from the first request.
                first_answer = started + min(answer_after, SELCOM_TIMEOUT_SECONDS)
                await asyncio.sleep(max(0.5, first_answer - 0.5 - time.monotonic()))
                done.set()
                latencies, samples = await health, await held
                window = time.monotonic() - waiting_from
                answers = await burst
                burst_took = time.monotonic() - started
            pending_at_answer = sum(1 for a in answers if (a.body or {}).get("status") == "pending")
            with reconciler(stack.topup.env, tmp_path / "reconcile.log"):
                left = await pending_left(pool, users, within=90)
            ledgers = {u: await ledger_of(pool, u) for u in users}
            rows = await pool.fetch(
                "SELECT idempotency_key, status FROM topup.topup_transactions "
                "WHERE user_id = ANY($1)",
                users,
            )
            final: dict[str, str] = {row["idempotency_key"]: row["status"] for row in rows}
            twice = await applied_twice(pool, users)
        finally:
            await sampler.close()
            await pool.close()

    assert debited == IN_FLIGHT
    assert not badly_refused(answers)
    assert Counter(a.status for a in answers) == {201: IN_FLIGHT}, statuses(answers)
    first_word = Counter(a.body["status"] for a in answers if a.body is not None)
    if not over_timeout:
        # Every answer under the timeout settles its purchase. (The Selcom client has 100
        # connections: on a machine slow enough that the first hundred take longer than the
        # client's 10 s pool timeout, some of the second hundred are never sent, stay pending
        # and are reconciled below. The figures say how many.)
        assert first_word["completed"] + first_word["failed"] >= IN_FLIGHT // 2, first_word
        assert set(first_word) <= {"completed", "failed", "pending"}, first_word
    else:
        assert first_word["pending"] > 0, first_word  # a timeout settles nothing by itself
    p99 = percentile(latencies, 0.99)
    assert latencies
    assert p99 < HEALTH_BOUND_SECONDS, p99
    max_held = max(s["held"] for s in samples)
    max_in_transaction = max(s["in_transaction"] for s in samples)
    # At most the reconciliation tick's own short query, caught at the instant of a sample;
    # a purchase holding its connection across the wait would show as ten (the whole pool).
    assert max_held <= 1, [dict(s) for s in samples if s["held"]]
    assert max_in_transaction == 0

    assert left == 0, f"{left} purchases still pending"
    for p in purchases:
        truth = behaviour_for(p.phone).final
        assert final[p.key] == ("completed" if truth == "SUCCESS" else "failed"), p
    lost = sum((money_lost(INITIAL, ledger) for ledger in ledgers.values()), Decimal(0))
    assert lost == 0
    assert twice == 0

    durations = sorted(a.answered_at - a.sent_at for a in answers)
    figures.record(
        f"slow_provider_{int(answer_after)}s",
        {
            "test": "tests/safety/test_slow_provider.py::"
            "test_a_slow_selcom_keeps_the_service_responsive_and_holds_no_connection_while_waiting"
            f"[{answer_after}]",
            "selcom_answers_after_s": answer_after,
            "selcom_timeout_s": SELCOM_TIMEOUT_SECONDS,
            "purchases_in_flight": IN_FLIGHT,
            "first_answers": dict(first_word),
            "purchase_seconds_min_median_max": [
                round(durations[0], 2),
                round(percentile(durations, 0.5), 2),
                round(durations[-1], 2),
            ],
            "burst_seconds": round(burst_took, 2),
            "health_samples": len(latencies),
            "health_window_s": round(window, 2),
            "health_p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
            "health_p99_ms": round(p99 * 1000, 1),
            "health_max_ms": round(max(latencies) * 1000, 1),
            "health_target_p99_ms": HEALTH_TARGET_SECONDS * 1000,
            "connection_samples": len(samples),
            "max_connections_open": max(s["connections"] for s in samples),
            "max_connections_held": max_held,
            "max_connections_in_transaction": max_in_transaction,
            "pending_when_answered": pending_at_answer,
            "pending_after_reconciliation": left,
            "settled": dict(Counter(final.values())),
            "money_lost": str(lost),
        },
    )


async def _wait_debited(pool: asyncpg.Pool, users: list[str], within: float = 30) -> int:
    """Topups recorded (debited, about to call Selcom) for these users, once all are or the
    time is up."""
    deadline = time.monotonic() + within
    while True:
        count: int = await pool.fetchval(
            "SELECT count(*) FROM topup.topup_transactions WHERE user_id = ANY($1)", users
        )
        if count >= len(users) or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.05)
