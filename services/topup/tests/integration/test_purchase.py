import asyncio
import dataclasses
import uuid
from decimal import Decimal

import asyncpg
import httpx
from starlette.applications import Starlette

from betfuz_testing.tokens import bearer
from betfuz_testing.wallets import MakeUser, balance_of
from topup.ports import TopupPorts

from .conftest import FakeSelcom, buy


async def rows_of(pool: asyncpg.Pool, user_id: str) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM topup.topup_transactions WHERE user_id = $1", user_id)


async def test_a_successful_topup_debits_the_wallet_once_and_completes(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user = await make_user(5000)
    response = await buy(client, user, amount=1000)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "completed"
    assert body["transactionId"].startswith("top_")
    assert body["reference"].startswith("TOP")
    assert await balance_of(pool, user) == Decimal("4000.00")
    [row] = await rows_of(pool, user)
    assert (row["status"], row["amount"], row["phone"]) == (
        "completed",
        Decimal("1000.00"),
        "+2348030000001",
    )
    assert row["external_reference"] == "SEL-000"
    assert row["completed_at"] is not None


async def test_too_little_balance_is_402_and_writes_nothing(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser, selcom: FakeSelcom
) -> None:
    user = await make_user(999)
    response = await buy(client, user, amount=1000)
    assert response.status_code == 402
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "insufficient_funds"
    assert await balance_of(pool, user) == Decimal("999.00")
    assert await rows_of(pool, user) == []
    keys = await pool.fetchval("SELECT count(*) FROM topup.idempotency_keys WHERE scope = $1", user)
    assert keys == 0


async def test_a_definitive_failure_refunds_the_wallet_in_the_same_step(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user = await make_user(2000)
    response = await buy(client, user, phone="08030000002")
    assert response.json()["status"] == "failed"
    assert await balance_of(pool, user) == Decimal("2000.00")
    [row] = await rows_of(pool, user)
    refunds = await pool.fetch("SELECT * FROM topup.refunds WHERE topup_id = $1", row["id"])
    assert [(r["amount"], r["source"]) for r in refunds] == [(Decimal("1000.00"), "process")]
    assert row["result_code"] == "051"


async def test_an_ambiguous_answer_keeps_the_money_and_leaves_the_topup_pending(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user = await make_user(2000)
    response = await buy(client, user, phone="08030000005")
    assert response.json()["status"] == "pending"
    assert response.json()["message"].endswith("within 5 minutes.")
    assert await balance_of(pool, user) == Decimal("1000.00")
    [row] = await rows_of(pool, user)
    assert row["submitted_at"] is not None
    assert row["result_code"] == "999"


async def test_a_replay_returns_the_first_response_without_a_second_debit_or_call(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser, selcom: FakeSelcom
) -> None:
    user = await make_user(5000)
    first = await buy(client, user, key="order-1")
    again = await buy(client, user, key="order-1")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert selcom.calls[("process", first.json()["reference"])] == 1
    assert await balance_of(pool, user) == Decimal("4000.00")


async def test_the_same_key_with_a_different_body_is_422(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(5000)
    await buy(client, user, key="order-2")
    response = await buy(client, user, key="order-2", amount=2000)
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"


async def test_without_a_key_the_same_purchase_typed_differently_is_one_purchase(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user = await make_user(5000)
    first = await buy(client, user, phone="+2348030000001", amount=1000)
    second = await buy(client, user, phone="08030000001", amount=1000)
    assert first.json() == second.json()
    assert len(await rows_of(pool, user)) == 1
    other = await buy(client, user, phone="08030000001", amount=500)
    assert other.json()["transactionId"] != first.json()["transactionId"]


async def test_fifty_concurrent_identical_purchases_make_one_row_one_debit_one_call(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser, selcom: FakeSelcom
) -> None:
    user = await make_user(1500)
    responses = await asyncio.gather(*(buy(client, user) for _ in range(50)))
    assert {r.status_code for r in responses} <= {201, 409}
    ids = {r.json()["transactionId"] for r in responses if r.status_code == 201}
    assert len(ids) == 1
    [row] = await rows_of(pool, user)
    assert selcom.calls[("process", row["reference"])] == 1
    assert await balance_of(pool, user) == Decimal("500.00")


async def test_concurrent_different_purchases_never_overdraw_the_wallet(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user = await make_user(3000)
    responses = await asyncio.gather(*(buy(client, user, key=f"k{i}") for i in range(10)))
    assert sorted(r.status_code for r in responses) == [201] * 3 + [402] * 7
    assert await balance_of(pool, user) == Decimal("0.00")


async def test_a_request_that_crashed_after_its_commit_is_answered_from_its_row_when_retried(
    pool: asyncpg.Pool, make_user: MakeUser, client: httpx.AsyncClient
) -> None:
    user = await make_user(5000)
    first = await buy(client, user, key="crash-1")
    # Simulate a crash before `finish`: the key is still in flight and its lease has run out.
    await pool.execute(
        "UPDATE topup.idempotency_keys SET state = 'in_flight', result = NULL, "
        "locked_until = now() - interval '1 second' WHERE scope = $1",
        user,
    )
    retry = await buy(client, user, key="crash-1")
    assert retry.status_code == 201
    assert retry.json()["transactionId"] == first.json()["transactionId"]
    assert await balance_of(pool, user) == Decimal("4000.00")


async def test_a_provider_that_raises_leaves_the_topup_pending_not_failed(
    app: Starlette,
    pool: asyncpg.Pool,
    make_user: MakeUser,
    ports: TopupPorts,
    client: httpx.AsyncClient,
) -> None:
    class Exploding:
        name = "selcom"
        sells_data_by_amount = True

        def transaction_id(self, reference: str, now: object) -> str:
            return reference

        async def plans(self, carrier: str) -> None:
            return None

        async def process(self, order: object) -> object:
            raise RuntimeError("bug")

        async def query(self, transid: str) -> object:
            raise RuntimeError("bug")

    user = await make_user(5000)
    exploding: dict[str, object] = {**ports.providers, "selcom": Exploding()}
    app.state.ports = dataclasses.replace(ports, providers=exploding)  # type: ignore[arg-type]
    try:
        response = await buy(client, user)
    finally:
        app.state.ports = ports
    assert response.json()["status"] == "pending"
    assert await balance_of(pool, user) == Decimal("4000.00")


async def test_posting_without_a_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/topup", json={})
    assert response.status_code == 401


async def test_a_non_json_body_is_415_and_malformed_json_is_400(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    headers = bearer(await make_user(10))
    plain = await client.post(
        "/topup", content=b"x", headers={**headers, "Content-Type": "text/plain"}
    )
    broken = await client.post(
        "/topup", content=b"{", headers={**headers, "Content-Type": "application/json"}
    )
    assert (plain.status_code, broken.status_code) == (415, 400)


async def test_a_token_whose_user_has_no_wallet_is_404_wallet_not_found_and_writes_nothing(
    client: httpx.AsyncClient, pool: asyncpg.Pool, selcom: FakeSelcom
) -> None:
    stranger = f"user-without-wallet-{uuid.uuid4().hex}"  # a valid token, no users row
    calls_before = sum(selcom.calls.values())
    response = await buy(client, stranger, amount=1000)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "wallet_not_found"  # the same answer treasury gives
    assert await rows_of(pool, stranger) == []
    keys = await pool.fetchval(
        "SELECT count(*) FROM topup.idempotency_keys WHERE scope = $1", stranger
    )
    assert keys == 0
    assert sum(selcom.calls.values()) == calls_before
