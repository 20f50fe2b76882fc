"""VTpass end to end: the topup service, the VTpass sandbox and the Selcom sandbox as real
processes over real HTTP, on real PostgreSQL. Airtime is routed VTpass first, Selcom behind it;
data as VTpass's plans. The numbers are the VTpass sandbox's (sandboxes/vtpass/behaviours.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from betfuz_common.db import create_pool
from betfuz_testing.fixtures import FreshDatabase
from betfuz_testing.processes import free_port, running
from betfuz_testing.tokens import TEST_JWT_SECRET, bearer
from betfuz_testing.wallets import MakeUser, balance_of, user_factory

pytestmark = pytest.mark.e2e

USERNAME, PASSWORD = "e2e@betfuz.test", "e2e-vtpass-password-0123"
ROUTES = ";".join(
    f"{c}:airtime=vtpass,selcom;{c}:data=vtpass" for c in ("mtn", "airtel", "glo", "9mobile")
)


@dataclass(frozen=True)
class Stack:
    api: str
    vtpass: str
    selcom: str


@pytest.fixture(scope="module")
async def vtpass_db(fresh_database: FreshDatabase) -> str:
    """A database of this module's own: the session's topup stack reconciles the shared one with
    Selcom alone, and two reconcilers share one advisory lock, so on the shared database the
    session's could hold the tick while this module waits for a VTpass status query."""
    return await fresh_database("topup_vtpass")


@pytest.fixture
async def pool(vtpass_db: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(vtpass_db, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
def make_user(pool: asyncpg.Pool) -> MakeUser:
    return user_factory(pool)


@pytest.fixture(scope="module")
def stack(vtpass_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("vtpass-e2e")
    api_port = free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    credentials = {"VTPASS_USERNAME": USERNAME, "VTPASS_PASSWORD": PASSWORD}
    selcom_keys = {"SELCOM_API_KEY": "e2e-selcom-key", "SELCOM_API_SECRET": "e2e-selcom-secret"}
    with ExitStack() as processes:
        vtpass = processes.enter_context(
            running(
                "sandboxes.vtpass",
                env={
                    **credentials,
                    "API_BASE_URL": api_url,
                    "SANDBOX_VTPASS_NOTIFY_DELAY": "1.5",
                    "SANDBOX_VTPASS_TIMEOUT_SLEEP": "2",
                },
                log_path=logs / "vtpass.log",
            )
        )
        selcom = processes.enter_context(
            running(
                "sandboxes.selcom",
                env={**selcom_keys, "API_BASE_URL": api_url},
                log_path=logs / "selcom.log",
            )
        )
        api = processes.enter_context(
            running(
                "topup",
                env={
                    **credentials,
                    **selcom_keys,
                    "APP_ENV": "test",
                    "DATABASE_URL": vtpass_db,
                    "JWT_SECRET": TEST_JWT_SECRET,
                    "API_BASE_URL": api_url,
                    "VTPASS_BASE_URL": vtpass,
                    "SELCOM_BASE_URL": selcom,
                    "TOPUP_ROUTES": ROUTES,
                    "VTPASS_TIMEOUT_SECONDS": "1",
                    "SELCOM_TIMEOUT_SECONDS": "1",
                    "TOPUP_RECONCILE_INTERVAL_SECONDS": "0.3",
                    "TOPUP_RECONCILE_AFTER_SECONDS": "3",
                    "TOPUP_SLA_SECONDS": "120",
                    "LOG_LEVEL": "INFO",
                },
                port=api_port,
                log_path=logs / "topup.log",
            )
        )
        yield Stack(api=api, vtpass=vtpass, selcom=selcom)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def buy(
    http: httpx.AsyncClient, stack: Stack, user: str, phone: str, **fields: Any
) -> httpx.Response:
    order = {"phone": phone, "carrier": "mtn", "amount": 1000, "type": "airtime", **fields}
    return await http.post(f"{stack.api}/topup", json=order, headers=bearer(user))


async def settled(
    http: httpx.AsyncClient, stack: Stack, user: str, topup_id: str, within: float = 20
) -> dict[str, Any]:
    """The topup once it has left `pending` (reconciliation, notifications)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        answer = await http.get(f"{stack.api}/topup/{topup_id}", headers=bearer(user))
        view: dict[str, Any] = answer.json()
        if view["status"] != "pending" or asyncio.get_running_loop().time() > deadline:
            return view
        await asyncio.sleep(0.1)


async def provider_row(pool: asyncpg.Pool, topup_id: str) -> asyncpg.Record:
    found = await pool.fetchrow(
        "SELECT provider, provider_reference, reference, review_flag "
        "FROM topup.topup_transactions WHERE id = $1",
        topup_id,
    )
    assert found is not None
    return found


async def vtpass_calls(http: httpx.AsyncClient, stack: Stack, request_id: str) -> dict[str, Any]:
    answer = await http.get(f"{stack.vtpass}/_sandbox/calls", params={"request_id": request_id})
    counts: dict[str, Any] = answer.json()
    return counts


async def refunds(pool: asyncpg.Pool, topup_id: str) -> int:
    return int(
        await pool.fetchval("SELECT count(*) FROM topup.refunds WHERE topup_id = $1", topup_id)
    )


@pytest.mark.parametrize(
    ("phone", "first", "final"),
    [
        ("08060000001", "completed", "completed"),
        ("08060000002", "pending", "completed"),
        ("08060000003", "failed", "failed"),
        ("08060000005", "pending", "completed"),
        ("08060000006", "pending", "completed"),
    ],
    ids=["success", "pending-then-settled-by-requery", "failure-refunded-once",
         "no-answer-kept-pending-then-requeried", "timeout-kept-pending-then-requeried"],
)  # fmt: skip
async def test_each_vtpass_behaviour_ends_in_the_right_status_and_balance(
    stack: Stack,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool,
    make_user: MakeUser,
    phone: str,
    first: str,
    final: str,
) -> None:
    user = await make_user(5000)
    created = (await buy(http, stack, user, phone)).json()
    assert created["status"] == first
    view = await settled(http, stack, user, created["transactionId"])
    assert view["status"] == final
    row = await provider_row(pool, created["transactionId"])
    assert row["provider"] == "vtpass"
    calls = await vtpass_calls(http, stack, row["provider_reference"])
    assert calls["pay"] == 1  # never sent twice, never sent to Selcom
    if first == "pending":
        assert calls["requery"] >= 1
    expected = Decimal("4000.00") if final == "completed" else Decimal("5000.00")
    assert await balance_of(pool, user) == expected
    assert await refunds(pool, created["transactionId"]) == (1 if final == "failed" else 0)


async def test_an_unexpected_answer_is_kept_pending_and_never_refunded(
    stack: Stack, http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user = await make_user(5000)
    created = (await buy(http, stack, user, "08060000004")).json()
    assert created["status"] == "pending"
    row = await provider_row(pool, created["transactionId"])
    deadline = asyncio.get_running_loop().time() + 20
    while (await vtpass_calls(http, stack, row["provider_reference"]))["requery"] < 2:
        assert asyncio.get_running_loop().time() < deadline, "reconciliation never requeried"
        await asyncio.sleep(0.2)
    view = (
        await http.get(f"{stack.api}/topup/{created['transactionId']}", headers=bearer(user))
    ).json()
    assert view["status"] == "pending"
    assert await balance_of(pool, user) == Decimal("4000.00")
    assert await refunds(pool, created["transactionId"]) == 0


def notification(request_id: str, status: str) -> dict[str, Any]:
    return {
        "type": "transaction-update",
        "data": {
            "code": "000",
            "content": {"transactions": {"status": status, "transactionId": "1"}},
            "requestId": request_id,
        },
    }


async def test_an_unsigned_notification_settles_only_through_a_requery(
    stack: Stack, http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user = await make_user(5000)
    created = (await buy(http, stack, user, "08060000009")).json()
    assert created["status"] == "pending"
    request_id = (await provider_row(pool, created["transactionId"]))["provider_reference"]
    # Anyone can post to an unsigned endpoint: a forged "delivered" only makes us requery, and
    # VTpass still says pending, so nothing settles.
    forged = await http.post(
        f"{stack.api}/topup/webhook/vtpass", json=notification(request_id, "delivered")
    )
    assert forged.json() == {"response": "success", "outcome": "noted"}
    view = (
        await http.get(f"{stack.api}/topup/{created['transactionId']}", headers=bearer(user))
    ).json()
    assert view["status"] == "pending"
    # The sandbox's own notification follows; the requery it triggers settles the topup.
    final = await settled(http, stack, user, created["transactionId"])
    assert final["status"] == "completed"
    calls = await vtpass_calls(http, stack, request_id)
    assert calls["notification"] >= 1
    assert calls["requery"] >= 2
    kept = await pool.fetch(
        "SELECT outcome FROM topup.webhook_events WHERE provider = 'vtpass' AND order_id = $1",
        request_id,
    )
    assert [r["outcome"] for r in kept][:1] == ["noted"]
    assert await balance_of(pool, user) == Decimal("4000.00")


async def test_reversed_after_delivered_is_flagged_and_moves_no_money(
    stack: Stack, http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user = await make_user(5000)
    created = (await buy(http, stack, user, "08060000007")).json()
    assert created["status"] == "completed"
    request_id = (await provider_row(pool, created["transactionId"]))["provider_reference"]
    said = await http.post(
        f"{stack.api}/topup/webhook/vtpass", json=notification(request_id, "reversed")
    )
    assert said.json()["outcome"] == "contradicting"
    row = await provider_row(pool, created["transactionId"])
    assert row["review_flag"] == "contradicting_status"
    assert await balance_of(pool, user) == Decimal("4000.00")
    assert await refunds(pool, created["transactionId"]) == 0


async def test_not_processed_by_vtpass_fails_over_to_selcom_with_one_debit(
    stack: Stack, http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user = await make_user(5000)
    created = (await buy(http, stack, user, "08060000008")).json()
    assert created["status"] == "completed"
    row = await provider_row(pool, created["transactionId"])
    assert row["provider"] == "selcom"
    selcom = await http.get(f"{stack.selcom}/_sandbox/calls", params={"transid": row["reference"]})
    assert selcom.json()["process"] == 1
    assert await balance_of(pool, user) == Decimal("4000.00")


async def test_a_data_plan_is_listed_bought_at_its_price_and_a_wrong_price_is_422(
    stack: Stack, http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user = await make_user(5000)
    listed = await http.get(
        f"{stack.api}/topup/products", params={"carrier": "mtn", "type": "data"},
        headers=bearer(user),
    )  # fmt: skip
    assert listed.status_code == 200
    plans = {p["productCode"]: p for p in listed.json()["products"]}
    plan = plans["mtn-100mb-1000"]
    assert (plan["price"], plan["validity"]) == (1000, "30 days")
    wrong = await buy(
        http, stack, user, "08060000001", type="data", productCode="mtn-100mb-1000", amount=900
    )
    assert (wrong.status_code, wrong.json()["code"]) == (422, "price_mismatch")
    assert await balance_of(pool, user) == Decimal("5000.00")
    bought = await buy(
        http, stack, user, "08060000001", type="data", productCode="mtn-100mb-1000", amount=None
    )
    assert bought.status_code == 201
    assert bought.json()["status"] == "completed"
    row = await provider_row(pool, bought.json()["transactionId"])
    assert (await vtpass_calls(http, stack, row["provider_reference"]))["status"] == "delivered"
    assert await balance_of(pool, user) == Decimal("4000.00")
