"""Reconciliation end to end over real HTTP: the Wema sandbox and the treasury service as
processes, the tick and the statement check as the `python -m treasury reconcile` command, on a
database of this module's own (the statement check compares a whole day of our books)."""

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from betfuz_common import jsonio
from betfuz_common.db import create_pool
from betfuz_testing.fixtures import FreshDatabase
from betfuz_testing.processes import free_port, running
from betfuz_testing.tokens import bearer
from services.treasury.tests.support import WEMA_KEY, WEMA_SECRET, account_body, settings_env
from treasury.statement import LAGOS

pytestmark = pytest.mark.e2e


@dataclass
class Recon:
    api: str
    wema: str
    env: dict[str, str]
    log: Path


@pytest.fixture(scope="module")
async def recon_db(fresh_database: FreshDatabase) -> str:
    return await fresh_database("treasury_recon")


@pytest.fixture(scope="module")
def recon(recon_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recon]:
    service_port = free_port()
    log = tmp_path_factory.mktemp("treasury-recon") / "treasury.log"
    sandbox_env = {
        "WEMA_API_KEY": WEMA_KEY,
        "WEMA_SECRET_KEY": WEMA_SECRET,
        "API_BASE_URL": f"http://127.0.0.1:{service_port}",
        "WEMA_SANDBOX_PAGE_SIZE": "2",  # every listing here is several pages
    }
    with running("sandboxes.wema", env=sandbox_env) as wema:
        env = {**settings_env(recon_db), "WEMA_BASE_URL": wema, "PYTHONUNBUFFERED": "1"}
        with running(
            "treasury", env=env, port=service_port, log_path=log, health_path="/treasury/health"
        ) as api:
            yield Recon(api=api, wema=wema, env=env, log=log)


@pytest.fixture
async def recon_pool(recon_db: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(recon_db, min_size=1, max_size=4)
    yield pool
    await pool.close()


def treasury_command(recon: Recon, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "treasury", "reconcile", *args],
        env={**recon.env, "LOG_LEVEL": "WARNING", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def sandbox(recon: Recon, path: str, **order: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=recon.wema, timeout=60) as wema:
        answer = await wema.post(
            path, content=jsonio.dumps(order), headers={"content-type": "application/json"}
        )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = jsonio.loads(answer.content)
    return result


async def account_of_new_user(recon: Recon, pool: asyncpg.Pool) -> tuple[str, str]:
    user = f"e2e-recon-{uuid.uuid4().hex}"
    await pool.execute("INSERT INTO public.users (id) VALUES ($1)", user)
    async with httpx.AsyncClient(base_url=recon.api, timeout=60) as api:
        answer = await api.post("/treasury/accounts", json=account_body(), headers=bearer(user))
    assert answer.status_code == 201, answer.text
    return user, answer.json()["accountNumber"]


async def wallet(pool: asyncpg.Pool, user: str) -> Decimal:
    balance: Decimal = await pool.fetchval("SELECT balance FROM public.users WHERE id = $1", user)
    return balance


async def credits(pool: asyncpg.Pool, reference: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT credited_by FROM treasury.bank_transactions WHERE transaction_reference = $1",
        reference,
    )
    return [row["credited_by"] for row in rows]


def report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The tick's JSON report: the last line (log lines may come before it)."""
    result: dict[str, Any] = jsonio.loads(done.stdout.strip().splitlines()[-1])
    return result


def lagos_date(moment: str) -> str:
    return datetime.fromisoformat(moment).astimezone(LAGOS).date().isoformat()


async def test_a_deposit_never_notified_is_missing_then_credited_once_by_the_next_tick(
    recon: Recon, recon_pool: asyncpg.Pool
) -> None:
    user, number = await account_of_new_user(recon, recon_pool)
    notified = await sandbox(recon, "/_sandbox/deposits", account_number=number, amount="700")
    silent = await sandbox(
        recon, "/_sandbox/deposits", account_number=number, amount="5000.50", notify=False
    )
    reference = silent["references"][0]
    day = lagos_date(silent["transaction_dates"][0])
    assert notified["outcomes"] == {"credited": 1}
    assert silent["deliveries"] == 0

    missing = treasury_command(recon, "--date", day)
    assert missing.returncode == 1, missing.stderr
    assert f"missing here: {reference}: Wema NGN 5,000.50 to {number}" in missing.stdout
    assert "differences:   1" in missing.stdout
    assert await wallet(recon_pool, user) == Decimal("700")

    ticked = treasury_command(recon, "--once")
    assert ticked.returncode == 0, ticked.stderr
    assert report(ticked)["credited"] == 1
    assert await wallet(recon_pool, user) == Decimal("5700.50")
    assert await credits(recon_pool, reference) == ["reconciliation"]

    late = await sandbox(recon, "/_sandbox/notify", reference=reference, duplicates=3)
    assert late["statuses"] == {"200": 3}
    assert late["outcomes"] == {"duplicate": 3}
    assert await wallet(recon_pool, user) == Decimal("5700.50")
    assert await credits(recon_pool, reference) == ["reconciliation"]

    clean = treasury_command(recon, "--date", day)
    assert clean.returncode == 0, clean.stdout
    assert "differences:   0" in clean.stdout
    assert "Wema lists:    2 deposits, NGN 5,700.50" in clean.stdout
    assert "credited:    2 deposits, NGN 5,700.50" in clean.stdout


@pytest.mark.parametrize("mode", ["error", "garbage", "timeout"])
async def test_a_listing_that_fails_moves_nothing_and_the_command_says_so(
    mode: str, recon: Recon, recon_pool: asyncpg.Pool
) -> None:
    user, number = await account_of_new_user(recon, recon_pool)
    await sandbox(recon, "/_sandbox/deposits", account_number=number, amount="40", notify=False)
    # "timeout": the sandbox answers after 3 s, the command waits 1 s.
    await sandbox(recon, "/_sandbox/listing-fail-next", mode=mode, times=1, delay_seconds=3)

    failed = treasury_command(recon, "--once", WEMA_TIMEOUT_SECONDS="1")
    assert failed.returncode == 3
    assert report(failed)["failed"] is True
    assert await wallet(recon_pool, user) == Decimal("0")

    healed = treasury_command(recon, "--once")
    assert healed.returncode == 0, healed.stderr
    assert await wallet(recon_pool, user) == Decimal("40")
    assert await credits(recon_pool, (await last_reference(recon_pool, user))) == ["reconciliation"]


async def last_reference(pool: asyncpg.Pool, user: str) -> str:
    reference: str = await pool.fetchval(
        "SELECT transaction_reference FROM treasury.bank_transactions WHERE user_id = $1", user
    )
    return reference


async def test_the_services_own_loop_credits_a_deposit_never_notified(
    recon: Recon, recon_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    user, number = await account_of_new_user(recon, recon_pool)
    silent = await sandbox(
        recon, "/_sandbox/deposits", account_number=number, amount="25", notify=False
    )
    reference = silent["references"][0]
    # A second replica whose loop ticks every second; the first has its loop off.
    replica_env = {**recon.env, "TREASURY_RECONCILE_INTERVAL_SECONDS": "1"}
    with running(
        "treasury",
        env=replica_env,
        log_path=tmp_path / "replica.log",
        health_path="/treasury/health",
    ):
        for _ in range(300):  # a bound on the wait, not an assertion about speed
            if await credits(recon_pool, reference):
                break
            await asyncio.sleep(0.1)
    assert await credits(recon_pool, reference) == ["reconciliation"]
    assert await wallet(recon_pool, user) == Decimal("25")
    logged = (tmp_path / "replica.log").read_text()
    assert '"via":"reconciliation"' in logged
    assert WEMA_KEY not in logged
    assert "MARY JANE" not in logged  # the sender's details stay out of the logs
