"""A service process SIGKILLed in the middle of a burst of purchases and webhooks, then started
again: conservation holds, and every request took full effect or none.

Real processes, real HTTP, the real sandboxes, the safety database. Topup runs its own
reconciliation loop on a short clock (as tests/e2e/topup does), which settles whatever the kill
left pending; treasury is simply sent everything again, as Wema retries until it gets a 2xx.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import pytest

from betfuz_common import jsonio
from betfuz_common.signatures import sign
from betfuz_testing.processes import free_port, running
from betfuz_testing.tokens import TEST_JWT_SECRET, bearer
from betfuz_testing.wallets import new_user
from sandboxes.selcom.behaviours import behaviour_for
from services.treasury.tests.support import WEMA_KEY, WEMA_SECRET, settings_env
from tests.safety import figures
from tests.safety.support import (
    ServiceProcess,
    account_body,
    account_drift,
    applied_twice,
    ledger_of,
    money_lost,
    wema_deposit,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PHONES = [f"0803000000{n}" for n in range(1, 10)]
SELCOM_KEY, SELCOM_SECRET = "crash-selcom-key", "crash-selcom-secret"
PURCHASES, KILL_AFTER = 90, 25  # purchases (each sent twice at once); answers seen before the kill
ACCOUNTS, DEPOSITS_PER_ACCOUNT, COPIES, DEPOSIT_KILL_AFTER = 5, 40, 3, 120


async def burst(
    calls: list[Callable[[], Awaitable[httpx.Response]]],
    kill_after: int,
    kill: Callable[[], None],
    concurrency: int = 40,
) -> list[httpx.Response | None]:
    """Run every call, at most `concurrency` at once; SIGKILL the service once `kill_after`
    answers are in. A call cut off by the kill gives None."""
    gate = asyncio.Semaphore(concurrency)
    answered = 0
    killed = asyncio.Event()

    async def one(call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response | None:
        nonlocal answered
        async with gate:
            if killed.is_set():
                return None
            try:
                response = await call()
            except httpx.TransportError:
                return None
        answered += 1
        if answered >= kill_after and not killed.is_set():
            killed.set()
            kill()
        return response

    return list(await asyncio.gather(*(one(call) for call in calls)))


async def wait_settled(pool: asyncpg.Pool, user_ids: list[str], within: float = 60) -> int:
    """Pending topups left among these users once reconciliation has had its go."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        pending: int = await pool.fetchval(
            "SELECT count(*) FROM topup.topup_transactions "
            "WHERE user_id = ANY($1) AND status = 'pending'",
            user_ids,
        )
        if pending == 0 or asyncio.get_running_loop().time() > deadline:
            return pending
        await asyncio.sleep(0.2)


async def test_a_topup_process_killed_mid_burst_loses_no_money_and_settles_everything_after_restart(
    safety_database_url: str, safety_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    api_port, sandbox_port = free_port(), free_port()
    common = {"SELCOM_API_KEY": SELCOM_KEY, "SELCOM_API_SECRET": SELCOM_SECRET}
    sandbox_env = {
        **common,
        "API_BASE_URL": f"http://127.0.0.1:{api_port}",
        "SANDBOX_SELCOM_FAST": "1",
    }
    service = ServiceProcess(
        "topup",
        {
            **common,
            "APP_ENV": "test",
            "DATABASE_URL": safety_database_url,
            "JWT_SECRET": TEST_JWT_SECRET,
            "SELCOM_BASE_URL": f"http://127.0.0.1:{sandbox_port}",
            "API_BASE_URL": f"http://127.0.0.1:{api_port}",
            "SELCOM_TIMEOUT_SECONDS": "2",
            "TOPUP_RECONCILE_INTERVAL_SECONDS": "0.3",
            "TOPUP_RECONCILE_AFTER_SECONDS": "1",
            "TOPUP_SLA_SECONDS": "120",
        },
        api_port,
        tmp_path / "topup.log",
        "/topup/health",
    )
    initial, amount = Decimal(5000), Decimal(1000)
    users = [await new_user(safety_pool, initial) for _ in range(PURCHASES)]
    keys = [uuid.uuid4().hex for _ in users]
    phones = {user: PHONES[i % len(PHONES)] for i, user in enumerate(users)}
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    with running(
        "sandboxes.selcom", env=sandbox_env, port=sandbox_port, log_path=tmp_path / "selcom.log"
    ):
        await asyncio.to_thread(service.start)
        try:
            async with httpx.AsyncClient(
                base_url=service.base_url, timeout=30, limits=limits
            ) as http:

                def purchase(i: int) -> Callable[[], Awaitable[httpx.Response]]:
                    user = users[i]
                    body = {
                        "phone": phones[user],
                        "carrier": "mtn",
                        "amount": 1000,
                        "type": "airtime",
                    }
                    headers = {**bearer(user), "Idempotency-Key": keys[i]}
                    return lambda: http.post("/topup", json=body, headers=headers)

                def webhook(reference: str, status: str) -> Callable[[], Awaitable[httpx.Response]]:
                    body = jsonio.dumps({"order_id": reference, "status": status})
                    headers = {
                        "content-type": "application/json",
                        "x-selcom-signature": sign(body, SELCOM_SECRET.encode(), "sha256"),
                    }
                    return lambda: http.post("/topup/webhook", content=body, headers=headers)

                order = [i for i in range(PURCHASES) for _ in range(2)]  # every purchase twice
                random.Random(7).shuffle(order)
                first = await burst([purchase(i) for i in order], KILL_AFTER, service.kill)
                cut_off = sum(1 for r in first if r is None)
                await asyncio.to_thread(service.start)
                # Right after the restart: each purchase is whole (debit + row) or absent.
                committed_at_crash = 0
                for user in users:
                    ledger = await ledger_of(safety_pool, user)
                    assert money_lost(initial, ledger) == 0, (user, ledger)
                    assert ledger.topups <= 1, (user, ledger)
                    committed_at_crash += ledger.topups

                # Retry what got no answer, with the same key, and send a duplicate webhook of
                # Selcom's final word for everything that got one.
                unanswered = sorted({i for i, r in zip(order, first, strict=True) if r is None})
                retries = [await purchase(i)() for i in unanswered]
                statuses = Counter(r.status_code for r in retries)
                assert set(statuses) <= {201, 409}, statuses  # 409: a crashed claim's lease
                answers = [r for r in [*first, *retries] if r is not None and r.status_code == 201]
                hooks = []
                for response in answers:
                    view = response.json()
                    user = users[keys.index(response.request.headers["idempotency-key"])]
                    final = behaviour_for(phones[user]).final
                    hooks.append(webhook(view["reference"], final)())
                hook_answers = await asyncio.gather(*hooks)
                assert all(h.status_code == 200 for h in hook_answers)
                left = await wait_settled(safety_pool, users)
        finally:
            service.stop()
    assert left == 0, f"{left} topups still pending after reconciliation"

    lost = Decimal(0)
    took_effect = 0
    for user in users:
        ledger = await ledger_of(safety_pool, user)
        lost += money_lost(initial, ledger)
        assert ledger.topups <= 1, (user, ledger)  # the key allowed one purchase, not two
        if ledger.topups:
            took_effect += 1
            status = await safety_pool.fetchval(
                "SELECT status FROM topup.topup_transactions WHERE user_id = $1", user
            )
            truth = behaviour_for(phones[user]).final
            assert status == ("completed" if truth == "SUCCESS" else "failed"), (user, status)
            expected = initial - (amount if status == "completed" else 0)
        else:
            expected = initial  # none of it happened
        assert ledger.balance == expected, (user, ledger)
    assert lost == 0
    assert await applied_twice(safety_pool, users) == 0
    figures.record(
        "crash_topup",
        {
            "test": "tests/safety/test_crash_recovery.py::"
            "test_a_topup_process_killed_mid_burst_loses_no_money_and_settles_everything_after_restart",
            "purchases": PURCHASES,
            "requests_sent": len(order) + len(unanswered),
            "duplicates_sent": PURCHASES + len(hooks),
            "answered_before_kill": sum(1 for r in first if r is not None),
            "cut_off_by_sigkill": cut_off,
            "retried_after_restart": len(unanswered),
            "retry_statuses": {str(k): v for k, v in sorted(statuses.items())},
            "purchases_committed_when_killed": committed_at_crash,
            "purchases_that_took_effect": took_effect,
            "pending_after_reconciliation": left,
            "faults_injected": 1 + sum(1 for p in phones.values() if p != PHONES[0]),
            "money_lost": str(lost),
        },
    )


async def test_a_treasury_process_killed_mid_burst_credits_each_deposit_once_after_redelivery(
    safety_database_url: str, safety_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    api_port = free_port()
    sandbox_env = {
        "WEMA_API_KEY": WEMA_KEY,
        "WEMA_SECRET_KEY": WEMA_SECRET,
        "API_BASE_URL": f"http://127.0.0.1:{api_port}",
    }
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    initial = Decimal(100)
    with running("sandboxes.wema", env=sandbox_env, log_path=tmp_path / "wema.log") as wema:
        service = ServiceProcess(
            "treasury",
            {**settings_env(safety_database_url), "WEMA_BASE_URL": wema},
            api_port,
            tmp_path / "treasury.log",
            "/treasury/health",
        )
        await asyncio.to_thread(service.start)
        try:
            async with httpx.AsyncClient(
                base_url=service.base_url, timeout=30, limits=limits
            ) as http:
                users = [await new_user(safety_pool, initial) for _ in range(ACCOUNTS)]
                numbers = []
                for user in users:
                    created = await http.post(
                        "/treasury/accounts", json=account_body(), headers=bearer(user)
                    )
                    assert created.status_code == 201, created.text
                    numbers.append(created.json()["accountNumber"])
                rng = random.Random(11)
                deposits = [
                    (
                        numbers[a],
                        Decimal(rng.randint(100, 500000)) / 100,
                        f"WEMA-CRASH-{uuid.uuid4().hex[:16]}",
                    )
                    for a in range(ACCOUNTS)
                    for _ in range(DEPOSITS_PER_ACCOUNT)
                ]
                deliveries = deposits * COPIES
                rng.shuffle(deliveries)

                def deliver(
                    deposit: tuple[str, Decimal, str],
                ) -> Callable[[], Awaitable[httpx.Response]]:
                    body, headers = wema_deposit(*deposit)
                    return lambda: http.post("/treasury/webhook", content=body, headers=headers)

                first = await burst(
                    [deliver(d) for d in deliveries], DEPOSIT_KILL_AFTER, service.kill
                )
                await asyncio.to_thread(service.start)

                # Right after the restart: what committed committed whole (balances = rows).
                assert await account_drift(safety_pool, users) == 0
                for user in users:
                    assert money_lost(initial, await ledger_of(safety_pool, user)) == 0
                credited_before = await safety_pool.fetchval(
                    "SELECT count(*) FROM treasury.bank_transactions WHERE user_id = ANY($1)", users
                )
                # Wema retries everything not answered 2xx; we simply send all of it again.
                again = await asyncio.gather(*(deliver(d)() for d in deposits))
                outcomes = Counter(r.json()["status"] for r in again)
                assert all(r.status_code == 200 for r in again)
        finally:
            service.stop()

    assert outcomes["credited"] + outcomes["duplicate"] == len(deposits), outcomes
    assert outcomes["credited"] == len(deposits) - credited_before
    by_account: dict[str, Decimal] = {}
    for number, amount, _ in deposits:
        by_account[number] = by_account.get(number, Decimal(0)) + amount
    lost = Decimal(0)
    for user, number in zip(users, numbers, strict=True):
        ledger = await ledger_of(safety_pool, user)
        lost += money_lost(initial, ledger)
        assert ledger.deposits == by_account[number], (user, ledger)
        assert ledger.balance == initial + by_account[number]
    lost += await account_drift(safety_pool, users)
    assert lost == 0
    assert await applied_twice(safety_pool, users) == 0
    rows = await safety_pool.fetchval(
        "SELECT count(*) FROM treasury.bank_transactions WHERE user_id = ANY($1)", users
    )
    assert rows == len(deposits)
    figures.record(
        "crash_treasury",
        {
            "test": "tests/safety/test_crash_recovery.py::"
            "test_a_treasury_process_killed_mid_burst_credits_each_deposit_once_after_redelivery",
            "deposits": len(deposits),
            "deliveries_sent": len(deliveries) + len(deposits),
            "duplicates_sent": len(deliveries),  # (COPIES - 1) per deposit, then all again
            "answered_before_kill": sum(1 for r in first if r is not None),
            "cut_off_by_sigkill": sum(1 for r in first if r is None),
            "credited_before_restart": credited_before,
            "redelivery_outcomes": dict(outcomes),
            "faults_injected": 1,
            "money_lost": str(lost),
        },
    )
