"""SIGTERM in the middle of a burst, as ECS sends it on every deploy.

The topup service runs as a real process (`python -m topup`, uvicorn as betfuz_common/cli.py
configures it: `timeout_graceful_shutdown` 25 s, under the task's 30 s stopTimeout). A burst of
purchases is waiting on a slow Selcom when the signal comes. Every one of them finishes inside
the grace period with its 201, none is answered 5xx, the money adds up; a new connection made
after the signal is refused (the listening socket is closed first), never answered 5xx.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import pytest

from betfuz_common.cli import GRACEFUL_SHUTDOWN_SECONDS
from betfuz_testing.processes import free_port, running
from betfuz_testing.wallets import new_user
from tests.safety import figures
from tests.safety.faults import (
    SELCOM_KEY,
    SELCOM_SECRET,
    Answer,
    answer_of,
    badly_refused,
    new_purchase,
    statuses,
    topup_env,
)
from tests.safety.support import ServiceProcess, applied_twice, ledger_of, money_lost

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
IN_FLIGHT = 60
SELCOM_SLEEP_SECONDS = 3.0  # how long each purchase waits on Selcom (under its 10 s timeout)
SLOW_SUCCESS = "08030000007"  # the sandbox sleeps, then answers 000
INITIAL, AMOUNT = Decimal(1000), Decimal(100)


async def _topups_created(pool: asyncpg.Pool, users: list[str]) -> int:
    value: int = await pool.fetchval(
        "SELECT count(*) FROM topup.topup_transactions WHERE user_id = ANY($1)", users
    )
    return value


async def _connect_after_signal(url: str, until: asyncio.Event) -> list[Answer]:
    """A new connection every 20 ms (a fresh client each time: no kept-alive socket) until
    the process has exited."""
    seen = []
    while not until.is_set():
        async with httpx.AsyncClient(timeout=5) as fresh:
            seen.append(await answer_of(url, fresh.get))
        await asyncio.sleep(0.02)
    return seen


async def test_sigterm_mid_burst_lets_every_in_flight_purchase_finish_and_refuses_new_connections(
    safety_database_url: str, safety_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    api_port, selcom_port = free_port(), free_port()
    sandbox_env = {
        "SELCOM_API_KEY": SELCOM_KEY,
        "SELCOM_API_SECRET": SELCOM_SECRET,
        "API_BASE_URL": f"http://127.0.0.1:{api_port}",
        "SANDBOX_SELCOM_TIMEOUT_SLEEP": str(SELCOM_SLEEP_SECONDS),
    }
    selcom_url = f"http://127.0.0.1:{selcom_port}"
    service = ServiceProcess(
        "topup",
        # No reconciliation during the drain: every purchase must end on its own answer.
        topup_env(
            safety_database_url,
            selcom_url,
            api_port,
            TOPUP_RECONCILE_INTERVAL_SECONDS="0",
        ),
        api_port,
        tmp_path / "topup.log",
        "/topup/health",
    )
    users = [await new_user(safety_pool, INITIAL) for _ in range(IN_FLIGHT)]
    purchases = [new_purchase(user, SLOW_SUCCESS) for user in users]
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    with running(
        "sandboxes.selcom", env=sandbox_env, port=selcom_port, log_path=tmp_path / "selcom.log"
    ):
        await asyncio.to_thread(service.start)
        assert service.process is not None
        try:
            async with httpx.AsyncClient(
                base_url=service.base_url, timeout=60, limits=limits
            ) as http:
                burst = asyncio.gather(*(answer_of(p, lambda p: p.send(http)) for p in purchases))
                # Every purchase debited and waiting on Selcom: all of them are in flight.
                deadline = time.monotonic() + 30
                while await _topups_created(safety_pool, users) < IN_FLIGHT:
                    assert time.monotonic() < deadline, "the burst never got in flight"
                    await asyncio.sleep(0.02)
                signalled_at = time.monotonic()
                service.process.send_signal(signal.SIGTERM)
                exited = asyncio.Event()
                probes = asyncio.create_task(
                    _connect_after_signal(service.base_url + "/topup/health", exited)
                )
                code = await asyncio.to_thread(service.process.wait, GRACEFUL_SHUTDOWN_SECONDS + 5)
                exited_after = time.monotonic() - signalled_at
                exited.set()
                answers = await burst
                late = await probes
        finally:
            service.stop()

    # uvicorn finishes its shutdown, then raises the signal it caught again: a clean exit by
    # SIGTERM (143 to ECS) once everything is drained.
    assert code in (0, -signal.SIGTERM), f"the process exited with {code}"
    assert exited_after < GRACEFUL_SHUTDOWN_SECONDS, exited_after
    assert not badly_refused(answers + late)
    by_status = Counter(a.status for a in answers)
    assert by_status == {201: IN_FLIGHT}, statuses(answers)
    assert all(a.body is not None and a.body["status"] == "completed" for a in answers)
    assert all(a.answered_at - signalled_at < GRACEFUL_SHUTDOWN_SECONDS for a in answers)
    # After the signal a new connection is refused. The very first probes may still have been
    # accepted in the instant before the listener closed: answered for real (200), or queued by
    # the kernel and never taken by the server, then closed unanswered when the listener closed
    # (ReadError) — a transport failure the client retries, never a 5xx or half an answer. In
    # ECS the target is out of the load balancer before SIGTERM, so no new request meets it.
    late_outcomes = Counter(a.error or str(a.status) for a in late)
    assert set(late_outcomes) <= {"ConnectError", "200", "ReadError"}, late_outcomes
    assert late_outcomes["ConnectError"] > 0, late_outcomes
    refused_from = min(
        (a.sent_at - signalled_at for a in late if a.error == "ConnectError"), default=None
    )
    assert all(a.error == "ConnectError" for a in late if a.sent_at - signalled_at > 1), late

    lost = Decimal(0)
    for user in users:
        ledger = await ledger_of(safety_pool, user)
        lost += money_lost(INITIAL, ledger)
        assert ledger.balance == INITIAL - AMOUNT, (user, ledger)
    assert lost == 0
    assert await applied_twice(safety_pool, users) == 0
    last_answer = max(a.answered_at for a in answers) - signalled_at
    figures.record(
        "sigterm_drain",
        {
            "test": "tests/safety/test_sigterm_drain.py::"
            "test_sigterm_mid_burst_lets_every_in_flight_purchase_finish_and_refuses_new_connections",
            "in_flight_at_sigterm": IN_FLIGHT,
            "selcom_answer_after_s": SELCOM_SLEEP_SECONDS,
            "in_flight_statuses": statuses(answers),
            "last_in_flight_answer_after_sigterm_s": round(last_answer, 2),
            "process_exited_after_sigterm_s": round(exited_after, 2),
            "graceful_shutdown_s": GRACEFUL_SHUTDOWN_SECONDS,
            "exit_code": code,
            "new_connections_after_sigterm": dict(late_outcomes),
            "first_refusal_after_sigterm_s": None
            if refused_from is None
            else round(refused_from, 3),
            "server_errors": 0,
            "money_lost": str(lost),
        },
    )
