"""`python -m treasury` serves HTTP; `migrate` applies its migrations; `reconcile` checks one
day's Wema statement against our books (`--date YYYY-MM-DD`, a Lagos day; default today) or
runs one reconciliation tick (`--once`)."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import date, timedelta

import asyncpg
from prometheus_client import CollectorRegistry

from betfuz_common import jsonio
from betfuz_common.cli import ServiceDefinition, run
from treasury.app import create_app
from treasury.config import TreasurySettings
from treasury.metrics import TreasuryMetrics
from treasury.ports import TreasuryPorts
from treasury.provider import ProviderError
from treasury.reconcile import ReconcileConfig, reconcile_once
from treasury.runtime import open_ports
from treasury.statement import check_day, lagos_today, render

DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", re.ASCII)
EXIT_DIFFERENCES = 1
EXIT_USAGE = 2
EXIT_UNREADABLE = 3


# A day before this year, or after tomorrow in Lagos, is a typo: refused before Wema is asked
# (and before a day's end could overflow the calendar).
FIRST_YEAR = 2000


def parse_day(text: str) -> date:
    try:
        if not DAY.fullmatch(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD") from None
    if day.year < FIRST_YEAR or day > lagos_today() + timedelta(days=1):
        raise argparse.ArgumentTypeError(f"{text!r} is not a day Wema could list")
    return day


def reconcile_command(settings: TreasurySettings, args: argparse.Namespace) -> int:
    parser = argparse.ArgumentParser(prog="python -m treasury reconcile")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--date", type=parse_day, help="the Lagos day to check (default: today)")
    what.add_argument("--once", action="store_true", help="run one reconciliation tick")
    try:
        options = parser.parse_args(args.extra)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else 0
    if options.once:
        return asyncio.run(_tick(settings))
    return asyncio.run(_check(settings, options.date or lagos_today()))


async def _tick(settings: TreasurySettings) -> int:
    async def work(ports: TreasuryPorts) -> int:
        metrics = TreasuryMetrics(CollectorRegistry())
        report = await reconcile_once(ports, ReconcileConfig.from_settings(settings), metrics)
        sys.stdout.write(jsonio.dumps(report.as_dict()).decode() + "\n")
        return EXIT_UNREADABLE if report.failed else 0

    return await _with_ports(settings, work)


async def _check(settings: TreasurySettings, day: date) -> int:
    async def work(ports: TreasuryPorts) -> int:
        try:
            statement = await check_day(ports, day)
        except ProviderError as exc:
            print(f"treasury reconcile: Wema's listing could not be read: {exc}", file=sys.stderr)
            return EXIT_UNREADABLE
        print(render(statement))
        return EXIT_DIFFERENCES if statement.differences else 0

    return await _with_ports(settings, work)


async def _with_ports(
    settings: TreasurySettings, work: Callable[[TreasuryPorts], Awaitable[int]]
) -> int:
    try:
        async with open_ports(settings) as ports:
            return await work(ports)
    except (OSError, asyncpg.PostgresError) as exc:
        # The error's own words (a host, a database name), never the URL: it may hold a password.
        print(
            f"treasury reconcile: our database could not be read ({type(exc).__name__}: {exc}); "
            "is it up? (the local stack: make run)",
            file=sys.stderr,
        )
        return EXIT_UNREADABLE


SERVICE = ServiceDefinition(
    name="treasury",
    settings_cls=TreasurySettings,
    create_app=create_app,
    commands={
        "reconcile": (
            "check a day's Wema statement against our books (--date YYYY-MM-DD, Lagos), "
            "or run one reconciliation tick (--once)",
            reconcile_command,
        ),
    },
)

if __name__ == "__main__":
    sys.exit(run(SERVICE, sys.argv[1:]))
