"""What the fault tests share: the services as real processes on a PostgreSQL of the test's own
(which it may stop and start), the sandboxes they call, a load that keeps requests flowing
through the fault and records every answer, and the checks on those answers.

Everything listens on free ports of 127.0.0.1; nothing touches the machine's shared server.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from betfuz_common.db import Migration, create_pool
from betfuz_common.errors import PROBLEM_CONTENT_TYPE
from betfuz_testing.database import create_database
from betfuz_testing.private_postgres import PrivatePostgres, private_postgres
from betfuz_testing.processes import free_port, running, stop
from betfuz_testing.tokens import TEST_JWT_SECRET, bearer
from services.treasury.tests.support import WEMA_KEY, WEMA_SECRET, settings_env
from tests.safety.support import ServiceProcess, account_body, wema_deposit

SELCOM_KEY, SELCOM_SECRET = "faults-selcom-key", "faults-selcom-secret"
Migrations = list[tuple[str, list[Migration]]]


# --- the stack -------------------------------------------------------------------------------


@dataclass
class FaultStack:
    """Topup and treasury processes on a private server, with the Selcom and Wema sandboxes."""

    postgres: PrivatePostgres
    database_url: str
    topup: ServiceProcess
    treasury: ServiceProcess | None
    selcom_url: str
    wema_url: str | None

    async def pool(self) -> asyncpg.Pool:
        """A pool of the test's own (open it after the faults: it does not outlive a restart)."""
        return await create_pool(self.database_url, min_size=1, max_size=4)


def topup_env(database_url: str, selcom_url: str, api_port: int, **extra: str) -> dict[str, str]:
    return {
        "SELCOM_API_KEY": SELCOM_KEY,
        "SELCOM_API_SECRET": SELCOM_SECRET,
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "SELCOM_BASE_URL": selcom_url,
        "API_BASE_URL": f"http://127.0.0.1:{api_port}",
        "TOPUP_RECONCILE_INTERVAL_SECONDS": "0.3",
        "TOPUP_RECONCILE_AFTER_SECONDS": "1",
        "TOPUP_SLA_SECONDS": "120",
        **extra,
    }


@asynccontextmanager
async def private_database(
    all_migrations: Migrations,
) -> AsyncIterator[tuple[PrivatePostgres, str]]:
    """A private server with one fully migrated database on it."""
    with private_postgres() as server:
        url = await create_database(server.admin_url, all_migrations, prefix="betfuz_faults")
        yield server, url


@asynccontextmanager
async def fault_stack(
    server: PrivatePostgres,
    database_url: str,
    logs: Path,
    *,
    selcom_env: Mapping[str, str] | None = None,
    topup_extra: Mapping[str, str] | None = None,
    with_treasury: bool = True,
) -> AsyncIterator[FaultStack]:
    api_port, selcom_port = free_port(), free_port()
    sandbox_env = {
        "SELCOM_API_KEY": SELCOM_KEY,
        "SELCOM_API_SECRET": SELCOM_SECRET,
        "API_BASE_URL": f"http://127.0.0.1:{api_port}",
        "SANDBOX_SELCOM_FAST": "1",
        **(selcom_env or {}),
    }
    selcom_url = f"http://127.0.0.1:{selcom_port}"
    topup = ServiceProcess(
        "topup",
        topup_env(database_url, selcom_url, api_port, **(topup_extra or {})),
        api_port,
        logs / "topup.log",
        "/topup/health",
    )
    async with AsyncExitStack() as stack:
        stack.enter_context(
            running(
                "sandboxes.selcom", env=sandbox_env, port=selcom_port, log_path=logs / "selcom.log"
            )
        )
        treasury, wema_url = None, None
        if with_treasury:
            treasury_port = free_port()
            wema_env = {
                "WEMA_API_KEY": WEMA_KEY,
                "WEMA_SECRET_KEY": WEMA_SECRET,
                "API_BASE_URL": f"http://127.0.0.1:{treasury_port}",
            }
            wema_url = stack.enter_context(
                running("sandboxes.wema", env=wema_env, log_path=logs / "wema.log")
            )
            treasury = ServiceProcess(
                "treasury",
                {**settings_env(database_url), "WEMA_BASE_URL": wema_url},
                treasury_port,
                logs / "treasury.log",
                "/treasury/health",
            )
        for process in (topup, treasury):
            if process is not None:
                stack.callback(process.stop)
                await asyncio.to_thread(process.start)
        yield FaultStack(server, database_url, topup, treasury, selcom_url, wema_url)


# --- requests --------------------------------------------------------------------------------


def purchase_body(phone: str) -> dict[str, Any]:
    return {"phone": phone, "carrier": "mtn", "amount": 100, "type": "airtime"}


@dataclass(frozen=True)
class Purchase:
    user: str
    key: str
    phone: str

    async def send(self, http: httpx.AsyncClient) -> httpx.Response:
        headers = {**bearer(self.user), "Idempotency-Key": self.key}
        return await http.post("/topup", json=purchase_body(self.phone), headers=headers)


@dataclass(frozen=True)
class Deposit:
    account_number: str
    amount: Decimal
    reference: str

    async def send(self, http: httpx.AsyncClient) -> httpx.Response:
        body, headers = wema_deposit(self.account_number, self.amount, self.reference)
        return await http.post("/treasury/webhook", content=body, headers=headers)


def new_purchase(user: str, phone: str) -> Purchase:
    return Purchase(user, uuid.uuid4().hex, phone)


def new_deposit(account_number: str, cents: int) -> Deposit:
    return Deposit(account_number, Decimal(cents) / 100, f"WEMA-FAULT-{uuid.uuid4().hex[:16]}")


async def open_accounts(http: httpx.AsyncClient, users: list[str]) -> list[str]:
    numbers = []
    for user in users:
        created = await http.post("/treasury/accounts", json=account_body(), headers=bearer(user))
        assert created.status_code == 201, created.text
        numbers.append(created.json()["accountNumber"])
    return numbers


# --- a load that runs through the fault ------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    sent_at: float  # monotonic
    answered_at: float
    status: int | None  # None: no HTTP answer (connection refused, reset, timed out)
    error: str | None
    content_type: str | None
    retry_after: str | None
    body: dict[str, Any] | None
    item: Any


@dataclass
class Load:
    """`workers` loops, each sending the next item the source gives, until `stop()`; every
    answer is kept, with its timing, for the checks afterwards."""

    answers: list[Answer] = field(default_factory=list)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(
        self,
        next_item: Callable[[], Any],
        send: Callable[[Any], Awaitable[httpx.Response]],
        workers: int,
    ) -> None:
        async def worker() -> None:
            while not self._stopping.is_set():
                item = next_item()
                self.answers.append(await answer_of(item, send))

        await asyncio.gather(*(worker() for _ in range(workers)))

    def stop(self) -> None:
        self._stopping.set()


async def answer_of(item: Any, send: Callable[[Any], Awaitable[httpx.Response]]) -> Answer:
    sent = time.monotonic()
    try:
        response = await send(item)
    except httpx.HTTPError as exc:
        return Answer(sent, time.monotonic(), None, type(exc).__name__, None, None, None, item)
    body: dict[str, Any] | None
    try:
        parsed = response.json()
        body = parsed if isinstance(parsed, dict) else None
    except ValueError:
        body = None
    return Answer(
        sent,
        time.monotonic(),
        response.status_code,
        None,
        response.headers.get("content-type"),
        response.headers.get("retry-after"),
        body,
        item,
    )


def statuses(answers: list[Answer]) -> dict[str, int]:
    counts = Counter(
        str(a.status) if a.status is not None else (a.error or "none") for a in answers
    )
    return dict(sorted(counts.items()))


# A dependency that really failed, said as the services document it: the database (503, with
# Retry-After) and, where a request waits on a provider, that provider (502 / 504).
DATABASE_DOWN_CODES = frozenset({"service_unavailable"})
DEPENDENCY_DOWN_CODES = DATABASE_DOWN_CODES | {"provider_error", "provider_timeout"}


def badly_refused(
    answers: list[Answer], allowed: frozenset[str] = DATABASE_DOWN_CODES
) -> list[Answer]:
    """Answers no dependency failure excuses: any 5xx but a problem+json whose code is one of
    `allowed` (a 503 also with its Retry-After)."""
    bad = []
    for a in answers:
        if a.status is None or a.status < 500:
            continue
        code = a.body.get("code") if a.body is not None else None
        proper = (
            a.content_type == PROBLEM_CONTENT_TYPE
            and code in allowed
            and (a.status != 503 or a.retry_after is not None)
        )
        if not proper:
            bad.append(a)
    return bad


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def wait_until(
    probe: Callable[[], Awaitable[bool]], within: float, every: float = 0.05
) -> float | None:
    """Seconds until `probe()` is true, or None when it never was within `within` s."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        try:
            if await probe():
                return time.monotonic() - started
        except (httpx.HTTPError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            pass
        await asyncio.sleep(every)
    return None


async def pending_left(pool: asyncpg.Pool, user_ids: list[str], within: float = 60) -> int:
    """Pending topups left among these users once reconciliation has had `within` s."""

    async def count() -> int:
        value: int = await pool.fetchval(
            "SELECT count(*) FROM topup.topup_transactions "
            "WHERE user_id = ANY($1) AND status = 'pending'",
            user_ids,
        )
        return value

    await wait_until(lambda: _is_zero(count()), within, every=0.3)
    return await count()


async def _is_zero(value: Awaitable[int]) -> bool:
    return await value == 0


@contextmanager
def reconciler(service_env: Mapping[str, str], log_path: Path) -> Iterator[None]:
    """`python -m topup reconcile`: the reconciliation loop as a process of its own (as ops or a
    scheduled task runs it), on a short clock, for as long as the block lasts."""
    env = {
        **os.environ,
        **service_env,
        "TOPUP_RECONCILE_INTERVAL_SECONDS": "0.3",
        "TOPUP_RECONCILE_AFTER_SECONDS": "0",
        "TOPUP_RECONCILE_MAX_BACKOFF_SECONDS": "1",
    }
    with log_path.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "topup", "reconcile"], env=env, stdout=sink, stderr=sink
        )
    try:
        yield
    finally:
        stop(process)
