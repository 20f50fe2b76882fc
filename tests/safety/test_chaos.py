"""Whole-stack chaos: a mixed workload while a chaos loop SIGKILLs and restarts the services,
the sandboxes and PostgreSQL; after recovery, the money invariants hold.

The stack: topup and treasury as real processes on a private PostgreSQL, the Selcom and Wema
sandboxes as real processes, topup's own reconciliation loop on a short clock. The workload
(tests/safety/chaos.py, `STEPS`): purchases on every Selcom behaviour, double submits,
duplicate and stale Selcom webhooks, deposits delivered out of order and twice, dropped deposit
webhooks, account openings. The chaos loop takes one victim down at a time (SIGKILL, or
PostgreSQL stopped in immediate mode) and brings it back. After it ends, clients retry what got
no answer and the bank redelivers every deposit; then every user's balance is explained by its
rows (deposits - topups + refunds), every deposit made is credited once, every topup is settled
as Selcom decided, and no answer was a 5xx but a 503 problem.

`CHAOS_SECONDS` (default 60) is how long the chaos lasts; `make reliability` runs it longer.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

import httpx
import pytest

from betfuz_common.db import create_pool
from betfuz_testing import private_postgres
from betfuz_testing.anvil import DEV_PRIVATE_KEYS
from betfuz_testing.processes import free_port
from betfuz_testing.tokens import TEST_JWT_SECRET, bearer
from services.treasury.tests.support import WEMA_KEY, WEMA_SECRET, settings_env
from tests.safety import figures
from tests.safety.chaos import (
    AnvilNode,
    ChaosRecord,
    LedgerPart,
    World,
    anvil_victim,
    big_wins_recorded,
    chaos_loop,
    deploy_contract,
    ledger_violations,
    make_users,
    open_account,
    postgres_victim,
    process_victim,
    settle_everything,
    violations,
    workload,
)
from tests.safety.faults import (
    SELCOM_KEY,
    SELCOM_SECRET,
    Migrations,
    dependency_failures,
    pending_left,
    private_database,
    statuses,
    topup_env,
)
from tests.safety.support import ServiceProcess

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.chain,
    pytest.mark.slow,
    pytest.mark.skipif(not private_postgres.available(), reason="no PostgreSQL binaries"),
]
CHAOS_SECONDS = float(os.environ.get("CHAOS_SECONDS", "60"))
USERS, WORKERS, FIRST_ACCOUNTS = 40, 8, 5
COMPLIANCE = bearer("officer-chaos", ["compliance"])


async def test_whole_stack_chaos_keeps_every_money_invariant(
    all_migrations: Migrations, tmp_path: Path
) -> None:
    rng = random.Random(int(os.environ.get("CHAOS_SEED", "14")))
    topup_port, treasury_port, selcom_port, wema_port = (free_port() for _ in range(4))
    async with private_database(all_migrations) as (server, database_url):
        selcom = ServiceProcess(
            "sandboxes.selcom",
            {
                "SELCOM_API_KEY": SELCOM_KEY,
                "SELCOM_API_SECRET": SELCOM_SECRET,
                "API_BASE_URL": f"http://127.0.0.1:{topup_port}",
                "SANDBOX_SELCOM_FAST": "1",
            },
            selcom_port,
            tmp_path / "selcom.log",
            "/health",
        )
        wema = ServiceProcess(
            "sandboxes.wema",
            {
                "WEMA_API_KEY": WEMA_KEY,
                "WEMA_SECRET_KEY": WEMA_SECRET,
                "API_BASE_URL": f"http://127.0.0.1:{treasury_port}",
            },
            wema_port,
            tmp_path / "wema.log",
            "/health",
        )
        topup = ServiceProcess(
            "topup",
            topup_env(
                database_url,
                selcom.base_url,
                topup_port,
                SELCOM_TIMEOUT_SECONDS="2",
                TOPUP_RECONCILE_INTERVAL_SECONDS="0.5",
                TOPUP_RECONCILE_AFTER_SECONDS="2",
                TOPUP_RECONCILE_MAX_BACKOFF_SECONDS="2",
            ),
            topup_port,
            tmp_path / "topup.log",
            "/topup/health",
        )
        treasury = ServiceProcess(
            "treasury",
            {**settings_env(database_url), "WEMA_BASE_URL": wema.base_url},
            treasury_port,
            tmp_path / "treasury.log",
            "/treasury/health",
        )
        node = AnvilNode(tmp_path, free_port())
        chain_env = {
            "APP_ENV": "test",
            "DATABASE_URL": database_url,
            "JWT_SECRET": TEST_JWT_SECRET,
            "POLYGON_RPC_URL": node.rpc_url,
            "LEDGER_PRIVATE_KEY": DEV_PRIVATE_KEYS[0],
            "LEDGER_USE_FINALIZED_TAG": "false",  # automine: no block after the last one
            "LEDGER_CONFIRMATIONS": "1",
            "LEDGER_POLL_INTERVAL_SECONDS": "0.05",
        }
        ledger_port = free_port()
        processes = [selcom, wema, topup, treasury]
        try:
            await asyncio.to_thread(node.start)
            chain_env |= await asyncio.to_thread(deploy_contract, chain_env)
            ledger = ServiceProcess(
                "ledger",
                {
                    **chain_env,
                    "LEDGER_INTERVAL_SECONDS": "0.3",
                    "LEDGER_RETRY_BASE_SECONDS": "0.5",
                    "LEDGER_RETRY_MAX_SECONDS": "2",
                },
                ledger_port,
                tmp_path / "ledger.log",
                "/ledger/health",
            )
            processes.append(ledger)
            for process in processes:
                await asyncio.to_thread(process.start)
            pool = await create_pool(database_url, min_size=1, max_size=4)
            users = await make_users(pool, USERS)
            await pool.close()
            async with (
                httpx.AsyncClient(base_url=topup.base_url, timeout=15) as topup_http,
                httpx.AsyncClient(base_url=treasury.base_url, timeout=15) as treasury_http,
                httpx.AsyncClient(
                    base_url=ledger.base_url, timeout=15, headers=COMPLIANCE
                ) as ledger_http,
            ):
                world = World(topup_http, treasury_http, users, rng)
                world.ledger = LedgerPart(database_url, chain_env, ledger_http)
                while len(world.accounts) < FIRST_ACCOUNTS:
                    await open_account(world)
                victims = [
                    process_victim(selcom, "selcom_sandbox"),
                    process_victim(wema, "wema_sandbox"),
                    process_victim(topup, "topup"),
                    process_victim(treasury, "treasury"),
                    process_victim(ledger, "ledger"),
                    anvil_victim(node),
                    postgres_victim(server),
                ]
                record = ChaosRecord()
                started = time.monotonic()
                until = started + CHAOS_SECONDS
                await asyncio.gather(
                    chaos_loop(victims, until, rng, record), workload(world, until, WORKERS)
                )
                chaos_took = time.monotonic() - started
                answers_during_chaos = len(world.answers)
                # Everything is up again (the loop brings each victim back before the next).
                after = await settle_everything(world)
            pool = await create_pool(database_url, min_size=1, max_size=4)
            try:
                left = await pending_left(pool, users, within=120)
                unconfirmed = await big_wins_recorded(world, pool, within=120)
                found = {
                    **await violations(world, pool),
                    **await ledger_violations(world, pool),
                }
                recorded = await pool.fetchval(
                    "SELECT count(*) FROM topup.topup_transactions WHERE user_id = ANY($1)", users
                )
            finally:
                await pool.close()
        finally:
            for process in reversed(processes):
                process.stop()
            node.stop()

    total = sum(found.values())
    figures.record(
        "chaos",
        {
            "test": "tests/safety/test_chaos.py::"
            "test_whole_stack_chaos_keeps_every_money_invariant",
            "chaos_seconds": round(chaos_took, 1),
            "processes_killed": dict(sorted(record.kills.items())),
            "kills": sum(record.kills.values()),
            "restarts": sum(record.restarts.values()),
            "downtime_s": round(record.downtime_s, 1),
            "operations": sum(v for k, v in world.operations.items() if ":" not in k),
            "operations_by_step": {
                k: v for k, v in sorted(world.operations.items()) if ":" not in k
            },
            "requests": len(world.answers),
            "requests_during_chaos": answers_during_chaos,
            "answers": statuses(world.answers),
            "dependency_failures": dependency_failures(world.answers),
            "purchases": len(world.purchases),
            "topups_recorded": recorded,
            "deposits_made": len(world.deposits),
            "deposits_dropped_until_redelivery": len(world.undelivered),
            "accounts": len(world.accounts),
            "big_wins": len(world.ledger.big_wins),
            "big_wins_unconfirmed_after_recovery": unconfirmed,
            "after_recovery": {k: dict(sorted(v.items())) for k, v in after.items()},
            "pending_after_reconciliation": left,
            "violations": total,
            "violations_by_invariant": found,
        },
    )
    assert total == 0, found
    assert record.kills, "the chaos loop killed nothing"
