"""`make bench`: every figure next to its ceiling, measured in the same run, on this machine.

Writes bench/results/latest.json and the table in docs/PERFORMANCE.md. Traffic goes only to
127.0.0.1. Bounded: each section runs for a fixed number of seconds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report, topup_bench, webhook_bench
from bench.harness import BENCH_DIR, REPO, bench_database, machine
from dev.postgres import admin_url, ensure_running

Section = Callable[[str, argparse.Namespace, Path], dict[str, Any]]


def topup_section(database_url: str, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    return topup_bench.run(
        database_url, seconds=args.seconds, connections=args.connections, logs=logs
    )


def webhook_section(database_url: str, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    return webhook_bench.run(
        database_url, seconds=args.seconds, connections=args.connections, logs=logs
    )


SECTIONS: dict[str, Section] = {"topup": topup_section, "webhook": webhook_section}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=15, help="length of each measured run")
    parser.add_argument("--connections", type=int, default=16)
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
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
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
    out = BENCH_DIR / "results" / "latest.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    report.write(results, REPO / "docs" / "PERFORMANCE.md")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
