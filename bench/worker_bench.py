"""Bets recorded per minute by the real ledger worker: `python -m ledger worker --once` over
thousands of settled big wins, on anvil and PostgreSQL, from claim to `confirmed`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import asyncpg

from bench.harness import REPO, execute
from betfuz_testing.anvil import DEV_PRIVATE_KEYS, run_anvil

JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123456789"

SEED = """
INSERT INTO public.users (id) VALUES ('bench-winner') ON CONFLICT DO NOTHING;
INSERT INTO public.bet_slips (id, user_id, status, potential_win, settled_at)
SELECT 'bench_win_' || g, 'bench-winner', 'won', 1000000 + g, now() FROM generate_series(1, {n}) g;
"""


def ledger(args: list[str], env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "ledger", *args],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return out.stdout


async def confirmed(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM ledger.ledger_entries WHERE status = 'confirmed'"
        )
        return count
    finally:
        await conn.close()


def run(database_url: str, *, bets: int) -> dict[str, Any]:
    asyncio.run(execute(database_url, SEED.format(n=bets)))
    with run_anvil() as node:
        env = {
            "APP_ENV": "test",
            "DATABASE_URL": database_url,
            "JWT_SECRET": JWT_SECRET,
            "POLYGON_RPC_URL": node.rpc_url,
            "LEDGER_PRIVATE_KEY": DEV_PRIVATE_KEYS[0],
            "LEDGER_USE_FINALIZED_TAG": "false",  # automine: no later block to finalise it
            "LEDGER_CONFIRMATIONS": "1",
            "LEDGER_POLL_INTERVAL_SECONDS": "0.05",
            "LOG_LEVEL": "WARNING",
        }
        for line in ledger(["deploy", "--wait", "10"], env).splitlines():
            key, _, value = line.partition("=")
            if key.startswith("LEDGER_"):
                env[key] = value
        started = time.perf_counter()
        ledger(["worker", "--once"], env)
        seconds = time.perf_counter() - started
    recorded = asyncio.run(confirmed(database_url))
    return {
        "bets_seeded": bets,
        "bets_confirmed": recorded,
        "seconds": round(seconds, 2),
        "bets_per_minute": round(recorded * 60 / seconds),
        "batch_size": 100,
        "target_bets_per_minute": 1000,
    }
