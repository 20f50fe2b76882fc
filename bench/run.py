"""`make bench`: every figure next to its ceiling, measured in the same run, on this machine.

Writes bench/results/latest.json and the table in docs/PERFORMANCE.md. Traffic goes only to
127.0.0.1. Bounded: each section runs for a fixed number of seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    csv_bench,
    ledger_gas,
    plot,
    report,
    scale_bench,
    topup_bench,
    webhook_bench,
    worker_bench,
)
from bench.harness import BENCH_DIR, REPO, bench_database, machine
from betfuz_testing.anvil import run_anvil
from betfuz_testing.postgres import admin_url, ensure_running

Section = Callable[[str, argparse.Namespace, Path], dict[str, Any]]


def topup_section(database_url: str, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    return topup_bench.run(
        database_url, seconds=args.seconds, connections=args.connections, logs=logs
    )


def webhook_section(database_url: str, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    return webhook_bench.run(
        database_url, seconds=args.seconds, connections=args.connections, logs=logs
    )


def csv_section(database_url: str, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    return csv_bench.run(database_url, rows=args.csv_rows, logs=logs)


def gas_section(_: str, args: argparse.Namespace, __: Path) -> dict[str, Any]:
    async def measure() -> dict[str, Any]:
        with run_anvil() as anvil:
            return await ledger_gas.measure(anvil.rpc_url, args.seconds)

    result = asyncio.run(measure())
    result["targets"] = {"gas_per_bet_at_100": 30_000, "bets_per_minute": 1_000}
    return result


def worker_section(database_url: str, args: argparse.Namespace, _: Path) -> dict[str, Any]:
    return worker_bench.run(database_url, bets=args.worker_bets)


def scale_section(database_url: str, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    sizes = tuple(int(size) for size in args.scale_sizes.split(","))
    return scale_bench.run(database_url, sizes=sizes, seconds=args.scale_seconds, logs=logs)


SECTIONS: dict[str, Section] = {
    "gas": gas_section,
    "worker": worker_section,
    "topup": topup_section,
    "webhook": webhook_section,
    "csv": csv_section,
    "scale": scale_section,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=15, help="length of each measured run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--csv-rows", type=int, default=1_000_000)
    parser.add_argument("--worker-bets", type=int, default=5_000)
    parser.add_argument(
        "--scale-sizes", default=",".join(map(str, scale_bench.SIZES)), help="rows, comma-separated"
    )
    parser.add_argument("--scale-seconds", type=int, default=6, help="length of each scale point")
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append")
    args = parser.parse_args()
    ensure_running(admin_url())
    logs = BENCH_DIR / "results" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "make bench",
        "git": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=False,
        ).stdout.strip(),
        "machine": machine(),
        "sections": {},
    }
    for name in args.only or list(SECTIONS):
        print(f"bench: {name}…", file=sys.stderr, flush=True)
        with bench_database(admin_url()) as database_url:
            results["sections"][name] = SECTIONS[name](database_url, args, logs)
    results["seconds_total"] = round(time.monotonic() - started, 1)
    if "scale" in results["sections"]:
        plot.scale_curves(results["sections"]["scale"], REPO / "docs" / "scale-curves.png")
    if args.only:  # a partial run never replaces the published figures
        (BENCH_DIR / "results" / "partial.json").write_text(json.dumps(results, indent=2) + "\n")
    else:
        (BENCH_DIR / "results" / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
        report.write(results, REPO / "docs" / "PERFORMANCE.md")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
