"""Every sandbox behaviour, end to end: service process + sandbox process + real PostgreSQL."""

import asyncio
import secrets
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from betfuz_common import jsonio
from betfuz_common.signatures import sign
from betfuz_testing.tokens import bearer
from betfuz_testing.wallets import MakeUser, balance_of

from .conftest import SELCOM_SECRET, Stack, buy, sandbox_calls, settled

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("phone", "first_status", "final_status", "how"),
    [
        ("08030000001", "completed", "completed", "process"),
        ("08030000002", "failed", "failed", "process"),
        ("08030000003", "pending", "completed", "webhook"),
        ("08030000004", "pending", "failed", "webhook"),
        ("08030000005", "pending", "completed", "query"),
        ("08030000006", "pending", "failed", "query"),
        ("08030000007", "pending", "completed", "query"),  # provider timeout
        ("08030000008", "pending", "failed", "query"),  # provider timeout
        ("08030000009", "pending", "completed", "resubmit"),  # request lost on the way
    ],
    ids=[
        "success", "failure", "progress-then-success-webhook", "progress-then-failure-webhook",
        "ambiguous-then-success-query", "ambiguous-then-failure-query",
        "timeout-then-success-reconciled", "timeout-then-failure-reconciled",
        "lost-then-resubmitted",
    ],
)  # fmt: skip
async def test_each_sandbox_behaviour_ends_in_the_right_status_and_balance(
    stack: Stack,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool,
    make_user: MakeUser,
    phone: str,
    first_status: str,
    final_status: str,
    how: str,
) -> None:
    user = await make_user(5000)
    response = await buy(http, stack, user, phone)
    assert response.status_code == 201
    created = response.json()
    assert created["status"] == first_status
    view = await settled(http, stack, user, created["transactionId"])
    assert view["status"] == final_status
    expected = Decimal("4000.00") if final_status == "completed" else Decimal("5000.00")
    assert await balance_of(pool, user) == expected
    calls = await sandbox_calls(http, stack, created["reference"])
    if how == "webhook":
        assert calls["webhook"] >= 1
    if how in ("query", "resubmit"):
        assert calls["query"] >= 1
    assert calls["process"] == (2 if how == "resubmit" else 1)
    refunds = await pool.fetchval(
        "SELECT count(*) FROM topup.refunds WHERE topup_id = $1", created["transactionId"]
    )
    assert refunds == (1 if final_status == "failed" else 0)


@pytest.mark.parametrize(
    ("phone", "final_status"),
    [("08030000010", "completed"), ("08030000011", "failed")],
    ids=["lagging-then-success", "lagging-then-failure"],
)
async def test_a_resubmit_refused_as_a_duplicate_keeps_the_topup_pending_until_the_query_settles(
    stack: Stack,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool,
    make_user: MakeUser,
    phone: str,
    final_status: str,
) -> None:
    # 999; the query lags (404) although Selcom has the order; each re-submit with the same
    # transid is refused "409 duplicate transid". None of that is a failure: the topup stays
    # pending, is queried again, is flagged at the SLA, and only the query's verdict settles it.
    user = await make_user(5000)
    created = (await buy(http, stack, user, phone)).json()
    assert created["status"] == "pending"
    # Already past the SLA when reconciliation first looks, so the flag comes while it lags.
    await pool.execute(
        "UPDATE topup.topup_transactions SET created_at = now() - interval '1 hour' WHERE id = $1",
        created["transactionId"],
    )
    view = await settled(http, stack, user, created["transactionId"], within=60)
    assert view["status"] == final_status
    row = await pool.fetchrow(
        "SELECT review_flag, metadata FROM topup.topup_transactions WHERE id = $1",
        created["transactionId"],
    )
    assert row is not None
    assert row["review_flag"] == "sla_breached"
    calls = await sandbox_calls(http, stack, created["reference"])
    lag = 3  # sandboxes/selcom/behaviours.py
    assert (calls["query"], calls["duplicate"], calls["process"]) == (lag + 1, lag, lag + 1)
    assert row["metadata"]["resubmits"] == lag
    refunds = await pool.fetch(
        "SELECT source FROM topup.refunds WHERE topup_id = $1", created["transactionId"]
    )
    if final_status == "failed":
        assert [r["source"] for r in refunds] == ["query"]  # the verdict, not a duplicate
        assert await balance_of(pool, user) == Decimal("5000.00")
    else:
        assert refunds == []
        assert await balance_of(pool, user) == Decimal("4000.00")


async def test_a_hundred_concurrent_identical_purchases_debit_once_and_call_selcom_once(
    stack: Stack, http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user = await make_user(1500)
    responses = await asyncio.gather(*(buy(http, stack, user, "08030000001") for _ in range(100)))
    assert {r.status_code for r in responses} <= {201, 409}
    created = {r.json()["transactionId"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    rows = await pool.fetch(
        "SELECT reference FROM topup.topup_transactions WHERE user_id = $1", user
    )
    assert len(rows) == 1
    assert (await sandbox_calls(http, stack, rows[0]["reference"]))["process"] == 1
    assert await balance_of(pool, user) == Decimal("500.00")


async def pending_row(pool: asyncpg.Pool, user: str, amount: Decimal) -> str:
    """A pending topup nobody will reconcile during the test (its next check is far away)."""
    reference = "TOPE2E" + secrets.token_hex(6).upper()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE public.users SET balance = balance - $2 WHERE id = $1", user, amount
        )
        await conn.execute(
            "INSERT INTO topup.topup_transactions (id, user_id, phone, carrier, amount, type, "
            "reference, idempotency_key, next_check_at) VALUES ($1, $2, '+2348030000001', 'mtn', "
            "$3, 'airtime', $4, $1, now() + interval '1 hour')",
            "top_" + reference.lower(),
            user,
            amount,
            reference,
        )
    return reference


def signed(payload: dict[str, Any], secret: str = SELCOM_SECRET) -> tuple[bytes, dict[str, str]]:
    body = jsonio.dumps(payload)
    signature = sign(body, secret.encode(), "sha256")
    return body, {"Content-Type": "application/json", "X-Selcom-Signature": signature}


async def test_fifty_duplicate_failure_webhooks_refund_once_and_a_late_success_is_flagged(
    stack: Stack, http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user = await make_user(3000)
    reference = await pending_row(pool, user, Decimal(1000))
    body, headers = signed({"order_id": reference, "status": "FAILED", "result_code": "0051"})
    url = f"{stack.api}/topup/webhook"
    responses = await asyncio.gather(
        *(http.post(url, content=body, headers=headers) for _ in range(50))
    )
    assert {r.status_code for r in responses} == {200}
    assert sorted(r.json()["outcome"] for r in responses) == ["applied"] + ["duplicate"] * 49
    assert await balance_of(pool, user) == Decimal("3000.00")
    late_body, late_headers = signed({"order_id": reference, "status": "SUCCESS"})
    late = await http.post(url, content=late_body, headers=late_headers)
    assert late.json()["outcome"] == "contradicting"
    assert await balance_of(pool, user) == Decimal("3000.00")
    flag = await pool.fetchval(
        "SELECT review_flag FROM topup.topup_transactions WHERE reference = $1", reference
    )
    assert flag == "contradicting_status"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Selcom-Signature": sign(b"other body", SELCOM_SECRET.encode(), "sha256")},
        {"X-Selcom-Signature": "0" * 64},
        {"X-Selcom-Signature": "garbage"},
        {},
    ],
    ids=["signature-of-another-body", "zeros", "garbage", "missing"],
)
async def test_a_webhook_with_a_bad_signature_is_401_and_writes_nothing(
    stack: Stack,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool,
    make_user: MakeUser,
    headers: dict[str, str],
) -> None:
    user = await make_user(3000)
    reference = await pending_row(pool, user, Decimal(1000))
    body = jsonio.dumps({"order_id": reference, "status": "FAILED"})
    response = await http.post(
        f"{stack.api}/topup/webhook",
        content=body,
        headers={"Content-Type": "application/json", **headers},
    )
    assert response.status_code == 401
    events = await pool.fetchval(
        "SELECT count(*) FROM topup.webhook_events WHERE order_id = $1", reference
    )
    assert events == 0
    assert await balance_of(pool, user) == Decimal("2000.00")
    status = await pool.fetchval(
        "SELECT status FROM topup.topup_transactions WHERE reference = $1", reference
    )
    assert status == "pending"


async def test_insufficient_funds_is_402_and_writes_nothing(
    stack: Stack, http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user = await make_user(100)
    response = await buy(http, stack, user, "08030000001", amount=1000)
    assert response.status_code == 402
    assert response.json()["code"] == "insufficient_funds"
    assert await balance_of(pool, user) == Decimal("100.00")
    rows = await pool.fetchval(
        "SELECT count(*) FROM topup.topup_transactions WHERE user_id = $1", user
    )
    assert rows == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "+447911123456", "carrier": "mtn", "amount": 1000, "type": "airtime"}, "phone"),
        ({"phone": "0803000000", "carrier": "mtn", "amount": 1000, "type": "airtime"}, "phone"),
        ({"carrier": "mtn", "amount": 1000, "type": "airtime"}, "phone"),
        (
            {"phone": "08030000001", "carrier": "vodafone", "amount": 1000, "type": "airtime"},
            "carrier",
        ),
        ({"phone": "08030000001", "carrier": "mtn", "amount": 1000, "type": "voice"}, "type"),
        ({"phone": "08030000001", "carrier": "mtn", "amount": 0, "type": "data"}, "amount"),
        ({"phone": "08030000001", "carrier": "mtn", "amount": -100, "type": "data"}, "amount"),
        ({"phone": "08030000001", "carrier": "mtn", "amount": 10.001, "type": "data"}, "amount"),
        ({"phone": "08030000001", "carrier": "mtn", "amount": "1e3", "type": "data"}, "amount"),
        (
            {"phone": "08030000001", "carrier": "mtn", "amount": 10_000_000, "type": "data"},
            "amount",
        ),
    ],
)
async def test_invalid_input_is_a_422_naming_the_field_and_writes_nothing(
    stack: Stack, http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser,
    body: dict[str, Any], field: str,
) -> None:  # fmt: skip
    user = await make_user(1_000_000)
    response = await http.post(f"{stack.api}/topup", json=body, headers=bearer(user))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [err["field"] for err in response.json()["errors"]] == [field]
    rows = await pool.fetchval(
        "SELECT count(*) FROM topup.topup_transactions WHERE user_id = $1", user
    )
    assert rows == 0
    assert await balance_of(pool, user) == Decimal("1000000.00")


async def test_the_sandbox_refuses_a_request_whose_digest_is_wrong(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    body = {"transid": "TOPX", "utilitycode": "TOP", "utilityref": "08030000001", "amount": 1,
            "vendor": "V", "pin": "0", "msisdn": "2348030000001"}  # fmt: skip
    response = await http.post(
        f"{stack.sandbox}/v1/utilitypayment/process",
        json=body,
        headers={"Digest": "d3Jvbmc=", "Digest-Method": "HS256", "Signed-Fields": "transid"},
    )
    assert response.status_code == 401
    assert (await sandbox_calls(http, stack, "TOPX"))["process"] == 0
