"""A failed (and refunded) purchase without an Idempotency-Key may be made again at once; one
with a key keeps replaying its result. Failure at once, later by webhook, later by the query."""

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from betfuz_testing.wallets import MakeUser, balance_of
from topup.ports import ProcessOrder, ProviderResult, TopupPorts
from topup.reconcile import ReconcileConfig, reconcile_once

from .conftest import FakeSelcom, buy, post_webhook, webhook_body

# A number whose purchase fails in each way: at once (051), by webhook (111 first), by the
# query (999 first).
PHONES = {"at_once": "08030000002", "webhook": "08030000003", "query": "08030000005"}
NOW = ReconcileConfig(interval_seconds=1, after_seconds=0, sla_seconds=3600)


async def rows_of(pool: asyncpg.Pool, user_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT id, status, amount FROM topup.topup_transactions WHERE user_id = $1 "
        "ORDER BY created_at",
        user_id,
    )


async def fail_by_webhook(client: httpx.AsyncClient, reference: str) -> None:
    response = await post_webhook(client, webhook_body(reference, "FAILED"))
    assert response.json()["outcome"] == "applied"


async def fail_by_query(
    pool: asyncpg.Pool, ports: TopupPorts, selcom: FakeSelcom, reference: str
) -> None:
    selcom.query_answers[reference] = {
        "resultcode": "000",
        "data": [{"status": "FAILED", "resultcode": "051"}],
    }
    await pool.execute(
        "UPDATE topup.topup_transactions SET next_check_at = now() WHERE reference = $1", reference
    )
    await reconcile_once(ports, NOW)
    status = await pool.fetchval(
        "SELECT status FROM topup.topup_transactions WHERE reference = $1", reference
    )
    assert status == "failed"


FailedPurchase = Callable[[str, str, str | None], Awaitable[dict[str, Any]]]


@pytest.fixture
def failed_purchase(
    client: httpx.AsyncClient, pool: asyncpg.Pool, ports: TopupPorts, selcom: FakeSelcom
) -> FailedPurchase:
    async def make(user: str, how: str, key: str | None) -> dict[str, Any]:
        """The first answer to a purchase (by `user`, with `key`) that has then failed `how`."""
        first: dict[str, Any] = (await buy(client, user, phone=PHONES[how], key=key)).json()
        if how == "webhook":
            await fail_by_webhook(client, first["reference"])
        elif how == "query":
            await fail_by_query(pool, ports, selcom, first["reference"])
        return first

    return make


async def test_a_purchase_that_failed_at_once_can_be_made_again_at_once_without_a_key(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser, selcom: FakeSelcom
) -> None:
    user = await make_user(1000)
    first = await buy(client, user, phone=PHONES["at_once"])
    again = await buy(client, user, phone=PHONES["at_once"])
    assert (first.status_code, again.status_code) == (201, 201)
    assert "idempotent-replayed" not in again.headers
    assert again.json()["transactionId"] != first.json()["transactionId"]
    assert selcom.calls[("process", again.json()["reference"])] == 1
    # Debited again (the whole balance) and refunded again: two purchases, two refunds.
    rows = await rows_of(pool, user)
    assert [(r["status"], r["amount"]) for r in rows] == [("failed", Decimal("1000.00"))] * 2
    refunds = await pool.fetchval("SELECT count(*) FROM topup.refunds WHERE user_id = $1", user)
    assert refunds == 2
    assert await balance_of(pool, user) == Decimal("1000.00")


@pytest.mark.parametrize("how", ["webhook", "query"])
async def test_a_purchase_that_failed_later_can_be_made_again_at_once_without_a_key(
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    make_user: MakeUser,
    failed_purchase: FailedPurchase,
    how: str,
) -> None:
    user, phone = await make_user(3000), PHONES[how]
    first = await failed_purchase(user, how, None)
    assert first["status"] == "pending"
    assert await balance_of(pool, user) == Decimal("3000.00")

    again = await buy(client, user, phone=phone)
    assert again.status_code == 201
    assert "idempotent-replayed" not in again.headers
    assert again.json()["transactionId"] != first["transactionId"]
    assert again.json()["status"] == "pending"
    assert await balance_of(pool, user) == Decimal("2000.00")  # debited once more
    # The new purchase holds the key again: a third identical one is its replay, not a third.
    third = await buy(client, user, phone=phone)
    assert third.headers["idempotent-replayed"] == "true"
    assert third.json()["transactionId"] == again.json()["transactionId"]
    assert await balance_of(pool, user) == Decimal("2000.00")
    assert [r["status"] for r in await rows_of(pool, user)] == ["failed", "pending"]


@pytest.mark.parametrize("how", ["at_once", "webhook", "query"])
async def test_with_an_idempotency_key_a_failed_purchase_is_replayed_not_made_again(
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    make_user: MakeUser,
    selcom: FakeSelcom,
    failed_purchase: FailedPurchase,
    how: str,
) -> None:
    user, key = await make_user(3000), f"client-key-{how}"
    first = await failed_purchase(user, how, key)
    again = await buy(client, user, phone=PHONES[how], key=key)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first  # the first answer, as the key promises
    assert selcom.calls[("process", first["reference"])] == 1
    assert [r["status"] for r in await rows_of(pool, user)] == ["failed"]
    assert await balance_of(pool, user) == Decimal("3000.00")


class HeldSelcom:
    """Answers the first `hold` process calls only when the test says; the rest at once (111)."""

    name = "selcom"
    sells_data_by_amount = True

    def transaction_id(self, reference: str, now: object) -> str:
        return reference

    async def plans(self, carrier: str) -> None:
        return None

    def __init__(self, hold: int) -> None:
        self.hold = hold
        self.arrived: asyncio.Queue[str] = asyncio.Queue()
        self.answers: dict[str, asyncio.Future[ProviderResult]] = {}

    async def process(self, order: ProcessOrder) -> ProviderResult:
        if len(self.answers) >= self.hold:
            return ProviderResult("pending", "111", "in progress")
        answer: asyncio.Future[ProviderResult] = asyncio.get_running_loop().create_future()
        self.answers[order.transid] = answer
        await self.arrived.put(order.transid)
        return await answer

    async def query(self, transid: str) -> ProviderResult:
        return ProviderResult("pending", None, "")

    def answer(self, transid: str, result: ProviderResult) -> None:
        self.answers[transid].set_result(result)


@pytest.fixture
async def held(app: Starlette, ports: TopupPorts) -> AsyncIterator[HeldSelcom]:
    selcom = HeldSelcom(hold=2)
    app.state.ports = dataclasses.replace(ports, providers={**ports.providers, "selcom": selcom})
    try:
        yield selcom
    finally:
        app.state.ports = ports


async def test_a_late_answer_to_a_failed_purchase_leaves_the_retry_in_flight_protected(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser, held: HeldSelcom
) -> None:
    # A's process call is slow; its FAILED webhook refunds it and frees the derived key; the
    # customer retries (B), whose call is slow too; then A's answer arrives. Finishing A must
    # not free B's claim, or a third identical request would buy a second time beside B.
    user = await make_user(3000)
    purchase_a = asyncio.create_task(buy(client, user, phone=PHONES["webhook"]))
    reference_a = await held.arrived.get()
    await fail_by_webhook(client, reference_a)
    purchase_b = asyncio.create_task(buy(client, user, phone=PHONES["webhook"]))
    reference_b = await held.arrived.get()
    assert await balance_of(pool, user) == Decimal("2000.00")

    held.answer(reference_a, ProviderResult("success", "000", "late"))
    answer_a = await purchase_a
    assert answer_a.json()["status"] == "failed"  # the refund stands; the contradiction flagged
    while_b_in_flight = await buy(client, user, phone=PHONES["webhook"])
    assert while_b_in_flight.status_code == 409
    assert while_b_in_flight.json()["code"] == "idempotency_in_flight"

    held.answer(reference_b, ProviderResult("pending", "111", "in progress"))
    answer_b = await purchase_b
    replay = await buy(client, user, phone=PHONES["webhook"])
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["transactionId"] == answer_b.json()["transactionId"]
    assert [r["status"] for r in await rows_of(pool, user)] == ["failed", "pending"]
    assert await balance_of(pool, user) == Decimal("2000.00")


async def test_a_topup_failing_after_its_key_expired_leaves_the_newer_purchases_key_alone(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    # Pending longer than the key's 24 h: the same purchase made again claimed the key anew.
    user = await make_user(3000)
    old = (await buy(client, user, phone=PHONES["webhook"])).json()
    await pool.execute(
        "UPDATE topup.topup_transactions SET created_at = now() - interval '25 hours' "
        "WHERE id = $1",
        old["transactionId"],
    )
    await pool.execute(
        "UPDATE topup.idempotency_keys SET expires_at = now() - interval '1 hour' WHERE scope = $1",
        user,
    )
    newer = (await buy(client, user, phone=PHONES["webhook"])).json()
    assert newer["transactionId"] != old["transactionId"]
    await fail_by_webhook(client, old["reference"])
    replay = await buy(client, user, phone=PHONES["webhook"])
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["transactionId"] == newer["transactionId"]
    assert await balance_of(pool, user) == Decimal("2000.00")
