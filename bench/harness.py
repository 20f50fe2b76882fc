"""Shared pieces of `make bench`: a bench database, service processes, the load generator and
pgbench, each run in its own process so the figures compare like with like."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from betfuz_testing.database import create_database, drop_database
from dev.platform import all_migrations

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
LOADGEN = BENCH_DIR / "loadgen.py"


@contextmanager
def bench_database(admin_url: str) -> Iterator[str]:
    import asyncio

    url = asyncio.run(create_database(admin_url, all_migrations(), prefix="betfuz_bench"))
    try:
        yield url
    finally:
        asyncio.run(drop_database(admin_url, url))


async def execute(url: str, sql: str, *args: Any) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


def write_requests(items: Sequence[Mapping[str, Any]]) -> Path:
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - the caller deletes it after the run
        "w", suffix=".jsonl", delete=False, dir=BENCH_DIR / "results"
    )
    with handle:
        for item in items:
            handle.write(json.dumps(item) + "\n")
    return Path(handle.name)


def load(
    url: str,
    requests: Path,
    *,
    duration: float,
    connections: int | None = None,
    rate: float | None = None,
) -> dict[str, Any]:
    mode = ["--connections", str(connections)] if connections else ["--rate", str(rate)]
    out = subprocess.run(
        [
            sys.executable,
            str(LOADGEN),
            "--url",
            url,
            "--requests",
            str(requests),
            "--duration",
            str(duration),
            *mode,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def libpq_args(database_url: str) -> list[str]:
    """-h/-p/-U/dbname for psql and pgbench (trust auth here: no password)."""
    parts = urlsplit(database_url)
    return [
        "-h", parts.hostname or "127.0.0.1",
        "-p", str(parts.port or 5432),
        "-U", parts.username or "postgres",
        parts.path.lstrip("/"),  # the database name, last: pgbench's -d means --debug
    ]  # fmt: skip


def pgbench(database_url: str, script: str, *, clients: int, seconds: int) -> dict[str, Any]:
    """Run pgbench with a custom transaction script; returns its tps and latency average."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    cmd = [
        "pgbench",
        "--no-vacuum",
        "--protocol=prepared",
        f"--client={clients}",
        f"--jobs={min(clients, 2)}",
        f"--time={seconds}",
        f"--file={handle.name}",
        *libpq_args(database_url),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    Path(handle.name).unlink()
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout)
    latency = re.search(r"latency average = ([\d.]+) ms", out.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
    if tps is None:
        raise RuntimeError(f"pgbench gave no tps:\n{out.stdout}\n{out.stderr}")
    return {
        "tps": float(tps.group(1)),
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        "failed": int(failed.group(1)) if failed else 0,
        "clients": clients,
        "seconds": seconds,
    }


def peak_rss_mb(pid: int) -> float:
    """Peak resident set (VmHWM) of a live process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmHWM for {pid}")


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    pg = subprocess.run(["pgbench", "--version"], capture_output=True, text=True, check=False)
    return {
        "cpu": cpu,
        "cores": len(
            [
                1
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("processor")
            ]
        ),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": sys.version.split()[0],
        "pgbench": pg.stdout.strip(),
    }


def endpoint_load(
    api: str,
    make_requests: Callable[[int], list[dict[str, Any]]],
    *,
    seconds: int,
    connections: int,
    per_second_cap: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Warm up, then the sustained rate (closed loop) and latency at half that rate (open loop)."""
    warm = write_requests(make_requests(2000))
    sustained_file = write_requests(make_requests(seconds * per_second_cap))
    try:
        load(api, warm, duration=3, connections=connections)
        sustained = load(api, sustained_file, duration=seconds, connections=connections)
    finally:
        warm.unlink()
        sustained_file.unlink()
    half_rate = max(1.0, sustained["rps"] / 2)
    paced_file = write_requests(make_requests(int(half_rate * seconds) + 10))
    try:
        paced = load(api, paced_file, duration=seconds, rate=half_rate)
    finally:
        paced_file.unlink()
    return sustained, paced


def http_section(
    endpoint: str,
    sustained: dict[str, Any],
    paced: dict[str, Any],
    ceilings: list[dict[str, Any]],
    targets: dict[str, float],
) -> dict[str, Any]:
    """pgbench runs just before and just after the endpoint; their mean is the ceiling, so a
    drift of the machine during the run weighs on both sides alike."""
    tps = round(sum(c["tps"] for c in ceilings) / len(ceilings), 1)
    return {
        "endpoint": endpoint,
        "sustained": sustained,
        "at_half_rate": paced,
        "pgbench": {"tps": tps, "runs": ceilings},
        "ratio": round(sustained["rps"] / tps, 3),
        "targets": targets,
    }
