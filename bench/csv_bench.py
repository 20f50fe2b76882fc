"""GET /ledger/export.csv over 1,000,000 entries: seconds and peak RSS of the service, next to
PostgreSQL's own `COPY (...) TO STDOUT WITH CSV` of the same rows, alternating, best of each."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import execute, libpq_args, peak_rss_mb
from betfuz_common.auth import issue_token
from betfuz_testing.processes import running

JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123456789"

SEED = """
INSERT INTO ledger.ledger_entries
    (bet_slip_id, bet_hash, win_amount, network, status, tx_hash, block_number,
     confirmed_at, submitted_at, created_at)
SELECT 'bet_' || g,
       encode(sha256(('bet_' || g)::bytea), 'hex'),
       1000000 + (g % 9000000) + 0.50,
       'polygon-amoy', 'confirmed',
       '0x' || encode(sha256(('tx_' || (g / 100))::bytea), 'hex'),
       1000 + g / 100,
       now(), now(), now() - make_interval(secs => $1 - g)
  FROM generate_series(1, $1) g
"""

# The same rows and columns, formatted by the server alone: the ceiling.
COPY_QUERY = """COPY (SELECT bet_slip_id, bet_hash, win_amount, tx_hash, block_number, created_at
                 FROM ledger.ledger_entries WHERE status = 'confirmed' ORDER BY id)
               TO STDOUT WITH CSV HEADER"""


def service_pid(port: int) -> int:
    out = subprocess.run(
        ["ss", "-ltnpH", f"sport = :{port}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.split("pid=")[1].split(",")[0])


def copy_seconds(database_url: str) -> tuple[float, int]:
    started = time.perf_counter()
    out = subprocess.run(
        ["psql", "-c", COPY_QUERY, *libpq_args(database_url)],
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - started, len(out.stdout)


def download(url: str, token: str) -> tuple[float, int, int]:
    started = time.perf_counter()
    size = rows = 0
    with httpx.stream(
        "GET",
        f"{url}/ledger/export.csv",
        headers={"Authorization": f"Bearer {token}"},
        timeout=600,
    ) as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            size += len(chunk)
            rows += chunk.count(b"\n")
    return time.perf_counter() - started, size, rows - 1


ROUNDS = 2  # COPY and export alternate; the best of each is the figure (a busy, shared machine)


def run(database_url: str, *, rows: int, logs: Path) -> dict[str, Any]:
    asyncio.run(execute(database_url, SEED, rows))
    asyncio.run(execute(database_url, "VACUUM ANALYZE ledger.ledger_entries"))
    env = {
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "JWT_SECRET": JWT_SECRET,
        "LEDGER_WORKER_ENABLED": "false",
        "POLYGON_RPC_URL": "http://127.0.0.1:9",  # the export never touches the chain
    }
    token = issue_token(JWT_SECRET, "bench-compliance", roles=["compliance"])
    copies: list[float] = []
    exports: list[float] = []
    with running("ledger", env=env, log_path=logs / "bench-ledger.log") as api:
        pid = service_pid(int(api.rsplit(":", 1)[1]))
        baseline_rss = peak_rss_mb(pid)
        for _ in range(ROUNDS):
            copy_s, copy_bytes = copy_seconds(database_url)
            copies.append(round(copy_s, 2))
            seconds, size, exported = download(api, token)
            exports.append(round(seconds, 2))
        rss = peak_rss_mb(pid)
    ratio = round(min(copies) / min(exports), 3)
    return {
        "rows": exported,
        "export_seconds": min(exports),
        "export_runs": exports,
        "export_mb": round(size / 1e6, 1),
        "copy_seconds": min(copies),
        "copy_runs": copies,
        "copy_mb": round(copy_bytes / 1e6, 1),
        "speed_ratio": ratio,
        "service_peak_rss_mb": rss,
        "service_rss_before_mb": baseline_rss,
        "targets": {"speed_ratio": 0.7, "peak_rss_mb": 150},
    }
