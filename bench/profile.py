"""CPU per request of one service worker under closed-loop load, and optionally its py-spy
profile: `python -m bench.profile topup|webhook [--seconds N] [--py-spy out.txt]`.

Requests per second move with whatever else runs on a shared machine; the CPU one worker spends
per request (its user + system time over the requests it answered) moves much less, so this is
the figure to compare one change against the next. Traffic goes only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench import topup_bench, webhook_bench
from bench.harness import BENCH_DIR, bench_database, load, write_requests
from betfuz_testing.postgres import admin_url, ensure_running
from betfuz_testing.processes import free_port, running, stop, wait_until_healthy


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def one_worker(module: str, env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """`python -m module` with one worker (the server runs in the process we start)."""
    port = free_port()
    full = {**os.environ, **env, "PORT": str(port), "HOST": "127.0.0.1", "WEB_CONCURRENCY": "1"}
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", module], env=full, stdout=sink, stderr=sink
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(base + "/health", process)
            yield base, process.pid
        finally:
            stop(process)


def topup_service(database_url: str, stack: ExitStack, logs: Path) -> tuple[str, int]:
    asyncio.run(topup_bench.seed_users(database_url))
    sandbox_port = free_port()
    common = {
        "SELCOM_API_KEY": topup_bench.SELCOM_KEY,
        "SELCOM_API_SECRET": topup_bench.SELCOM_SECRET,
    }
    stack.enter_context(
        running(
            "sandboxes.selcom",
            env={**common, "SANDBOX_SELCOM_FAST": "1", "API_BASE_URL": "http://127.0.0.1:9"},
            port=sandbox_port,
            log_path=logs / "profile-selcom.log",
        )
    )
    env = {
        **common,
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "JWT_SECRET": topup_bench.JWT_SECRET,
        "SELCOM_BASE_URL": f"http://127.0.0.1:{sandbox_port}",
        "TOPUP_RECONCILE_INTERVAL_SECONDS": "0",
        "TOPUP_MAX_AMOUNT": "1000000",
    }
    return stack.enter_context(one_worker("topup", env, logs / "profile-topup.log"))


def webhook_service(database_url: str, stack: ExitStack, logs: Path) -> tuple[str, int]:
    asyncio.run(webhook_bench.seed_accounts(database_url))
    env = {
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "JWT_SECRET": webhook_bench.JWT_SECRET,
        "WEMA_API_KEY": webhook_bench.WEMA_KEY,
        "WEMA_SECRET_KEY": webhook_bench.WEMA_SECRET,
        "WEMA_BASE_URL": "http://127.0.0.1:9",
        "BVN_ENCRYPTION_KEY": "bench-bvn-key-0123456789abcdef",
    }
    return stack.enter_context(one_worker("treasury", env, logs / "profile-treasury.log"))


TARGETS: dict[str, tuple[Callable[..., tuple[str, int]], Callable[[int], list[dict[str, Any]]]]] = {
    "topup": (topup_service, topup_bench.purchases),
    "webhook": (webhook_service, webhook_bench.deposits),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--py-spy", type=Path, help="write py-spy's flat profile here")
    args = parser.parse_args()
    ensure_running(admin_url())
    logs = BENCH_DIR / "results" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    start_service, make_requests = TARGETS[args.target]
    with bench_database(admin_url()) as database_url, ExitStack() as stack:
        api, pid = start_service(database_url, stack, logs)
        warm = write_requests(make_requests(1500))
        measured = write_requests(make_requests(args.seconds * 2000))
        try:
            load(api, warm, duration=3, connections=args.connections)
            spy = None
            if args.py_spy:
                spy_args = ["record", "--pid", str(pid), "--format", "raw", "--rate", "250"]
                spy_args += ["--nonblocking", "--duration", str(args.seconds)]
                spy_args += ["--output", str(args.py_spy)]
                spy = subprocess.Popen(
                    [str(Path(sys.executable).with_name("py-spy")), *spy_args],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            cpu_before, wall = cpu_seconds(pid), time.monotonic()
            result = load(api, measured, duration=args.seconds, connections=args.connections)
            cpu = cpu_seconds(pid) - cpu_before
            wall = time.monotonic() - wall
            if spy is not None:
                spy.wait()
        finally:
            warm.unlink()
            measured.unlink()
    ok = sum(n for status, n in result["statuses"].items() if status.startswith("2"))
    print(
        json.dumps(
            {
                "target": args.target,
                "requests_ok": ok,
                "statuses": result["statuses"],
                "rps": result["rps"],
                "p99_ms": result["p99_ms"],
                "worker_cpu_ms_per_request": round(cpu * 1000 / max(ok, 1), 3),
                "worker_cpu_share": round(cpu / wall, 2),
                "load_average": os.getloadavg()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
