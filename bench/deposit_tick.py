"""The scale bench's deposit reconciliation point on its own, in one process and in minutes:
one tick over 10^4 listed deposits, all already credited by their webhooks (the steady state),
with `treasury.bank_transactions` grown to each size in turn.

The same listing and seed as bench/scale_bench.py (`webhook_bench.deposits`, `SEED_DEPOSITS`),
without the HTTP services: the webhooks are applied in process through `settle_deposit`, the
path the webhook route calls. Logs go as the services write them (JSON, INFO) to /dev/null, so
a log line per deposit costs what it costs in production without flooding the terminal.

    .venv/bin/python -m bench.deposit_tick --sizes 10000,100000 [--one-by-one]

`--one-by-one` ticks as before the look-up of booked deposits: every listed deposit through
`settle_deposit`, each in a transaction of its own (the look-up made to find nothing alike).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry

from bench import scale_bench, webhook_bench
from bench.harness import bench_database
from betfuz_common import jsonio
from betfuz_common.logging import configure_logging
from betfuz_common.settings import load_settings
from betfuz_testing.postgres import admin_url, ensure_running
from treasury import service
from treasury.config import TreasurySettings
from treasury.domain import Deposit
from treasury.metrics import TreasuryMetrics
from treasury.reconcile import ReconcileConfig, reconcile_once
from treasury.runtime import open_ports
from treasury.schemas import DepositNotification


def settings_for(database_url: str) -> TreasurySettings:
    return load_settings(
        TreasurySettings,
        {
            "APP_ENV": "test",
            "DATABASE_URL": database_url,
            "JWT_SECRET": scale_bench.JWT_SECRET,
            "WEMA_API_KEY": webhook_bench.WEMA_KEY,
            "WEMA_SECRET_KEY": webhook_bench.WEMA_SECRET,
            "WEMA_BASE_URL": "http://127.0.0.1:9",
            "BVN_ENCRYPTION_KEY": "bench-bvn-key-0123456789abcdef",
            "API_BASE_URL": "http://127.0.0.1:9",
        },
    )


class Listing:
    """Wema's listing as a double: these deposits, whatever the window."""

    def __init__(self, wema: Any, listed: list[Deposit]) -> None:
        self._wema = wema
        self._listed = listed

    async def list_transactions(self, start: datetime, end: datetime) -> list[Deposit]:
        return self._listed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wema, name)


async def grow(database_url: str, have: int, size: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(scale_bench.SEED_DEPOSITS, have + 1, size, scale_bench.HOT_ROWS)
        await conn.execute("VACUUM ANALYZE treasury.bank_transactions")
    finally:
        await conn.close()


async def notified(settings: TreasurySettings, count: int) -> list[Deposit]:
    """`count` new deposits, each credited once through the webhook's path."""
    listed = [
        DepositNotification.model_validate(jsonio.loads(item["body"])).deposit()
        for item in webhook_bench.deposits(count)
    ]
    async with open_ports(settings) as ports:
        for deposit in listed:
            settled = await service.settle_deposit(ports, deposit, "webhook")
            assert settled.outcome == "credited", settled
    return listed


async def point(database_url: str, settings: TreasurySettings, size: int) -> dict[str, Any]:
    listed = await notified(settings, scale_bench.DUE)

    async def tick() -> dict[str, Any]:
        async with open_ports(settings) as ports:
            report = await reconcile_once(
                replace(ports, wema=Listing(ports.wema, listed)),
                ReconcileConfig.from_settings(settings),
                TreasuryMetrics(CollectorRegistry()),
            )
        return dict(report.as_dict())

    return {"size": size, **await scale_bench._timed_tick(database_url, tick)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="rows, comma-separated")
    parser.add_argument("--one-by-one", action="store_true", help="every deposit settled alone")
    args = parser.parse_args()
    if args.one_by_one:

        async def nothing_alike(conn: Any, deposits: Sequence[Deposit]) -> list[bool]:
            return [False] * len(deposits)

        service.booked_alike = nothing_alike
    sizes = sorted(int(size) for size in args.sizes.split(","))
    configure_logging("INFO", stream=open(os.devnull, "w"), fmt="json")  # noqa: SIM115 - open for the process
    ensure_running(admin_url())
    with bench_database(admin_url()) as database_url:
        asyncio.run(webhook_bench.seed_accounts(database_url))
        settings = settings_for(database_url)
        have = 0
        for size in sizes:
            asyncio.run(grow(database_url, have, size))
            have = size
            result = asyncio.run(point(database_url, settings, size))
            report = result.pop("report")
            result["counts"] = {k: report[k] for k in ("listed", "credited", "duplicates")}
            print(json.dumps({"one_by_one": args.one_by_one, **result}), flush=True)


if __name__ == "__main__":
    main()
