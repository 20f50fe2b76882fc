import asyncio
import base64
import hashlib
import hmac
import uuid
from decimal import Decimal

import asyncpg
import httpx
import pytest

from betfuz_testing.wallets import MakeUser, balance_of

from .conftest import buy, post_webhook, webhook_body


async def pending_topup(
    client: httpx.AsyncClient, make_user: MakeUser, balance: int = 3000
) -> tuple[str, str]:
    user = await make_user(balance)
    response = await buy(client, user, phone="08030000003")  # 111: in progress
    assert response.json()["status"] == "pending"
    return user, response.json()["reference"]


async def topup_row(pool: asyncpg.Pool, reference: str) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT * FROM topup.topup_transactions WHERE reference = $1", reference
    )
    assert row is not None
    return row


async def events_for(pool: asyncpg.Pool, reference: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT outcome FROM topup.webhook_events WHERE order_id = $1 ORDER BY id", reference
    )
    return [row["outcome"] for row in rows]


async def test_a_success_webhook_completes_the_topup_with_selcoms_reference(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user, reference = await pending_topup(client, make_user)
    response = await post_webhook(client, webhook_body(reference, "SUCCESS"))
    assert response.json() == {"received": True, "outcome": "applied"}
    row = await topup_row(pool, reference)
    assert (row["status"], row["external_reference"]) == ("completed", "SELCOM-REF-789")
    assert row["completed_at"] is not None
    assert await balance_of(pool, user) == Decimal("2000.00")


async def test_fifty_concurrent_duplicate_failure_webhooks_refund_exactly_once(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user, reference = await pending_topup(client, make_user)
    body = webhook_body(reference, "FAILED")
    responses = await asyncio.gather(*(post_webhook(client, body) for _ in range(50)))
    assert {r.status_code for r in responses} == {200}
    outcomes = sorted(r.json()["outcome"] for r in responses)
    assert outcomes == ["applied"] + ["duplicate"] * 49
    assert await balance_of(pool, user) == Decimal("3000.00")
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM topup.refunds r JOIN topup.topup_transactions t "
            "ON t.id = r.topup_id WHERE t.reference = $1",
            reference,
        )
        == 1
    )
    assert len(await events_for(pool, reference)) == 50


async def test_a_success_after_a_refund_moves_no_money_and_is_flagged_for_review(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user, reference = await pending_topup(client, make_user)
    await post_webhook(client, webhook_body(reference, "FAILED"))
    late = await post_webhook(client, webhook_body(reference, "SUCCESS"))
    assert late.status_code == 200
    assert late.json()["outcome"] == "contradicting"
    assert await balance_of(pool, user) == Decimal("3000.00")
    row = await topup_row(pool, reference)
    assert (row["status"], row["review_flag"]) == ("failed", "contradicting_status")
    assert row["metadata"]["review"]["reported_status"] == "completed"
    item = await pool.fetchrow("SELECT * FROM topup.review_items WHERE reference = $1", reference)
    assert item is not None
    assert item["reason"] == "contradicting_status"


async def test_a_failure_after_a_success_moves_no_money_and_is_flagged(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user, reference = await pending_topup(client, make_user)
    await post_webhook(client, webhook_body(reference, "SUCCESS"))
    late = await post_webhook(client, webhook_body(reference, "FAILED"))
    assert late.json()["outcome"] == "contradicting"
    assert await balance_of(pool, user) == Decimal("2000.00")


async def test_an_unknown_reference_is_recorded_for_review_and_answered_200(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    for _ in range(2):
        response = await post_webhook(client, webhook_body("TOPNOSUCHTHING", "SUCCESS"))
        assert response.json()["outcome"] == "unknown_reference"
    item = await pool.fetchrow(
        "SELECT * FROM topup.review_items WHERE reference = 'TOPNOSUCHTHING'"
    )
    assert item is not None
    assert (item["reason"], item["occurrences"], item["topup_id"]) == ("unknown_reference", 2, None)


async def test_a_pending_status_is_noted_and_changes_nothing(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user, reference = await pending_topup(client, make_user)
    response = await post_webhook(client, webhook_body(reference, "PENDING"))
    assert response.json()["outcome"] == "noted"
    assert await balance_of(pool, user) == Decimal("2000.00")


async def test_bad_or_missing_signatures_are_401_and_write_nothing(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user, reference = await pending_topup(client, make_user)
    body = webhook_body(reference, "FAILED")
    attempts = [
        await post_webhook(client, body, secret="wrong-secret"),
        await post_webhook(client, body, signature=""),
        await post_webhook(client, body, signature="not-hex"),
        await post_webhook(
            client,
            body + b" ",
            signature=hmac.new(b"integration-webhook-secret", body, hashlib.sha256).hexdigest(),
        ),
        await client.post(
            "/topup/webhook", content=body, headers={"Content-Type": "application/json"}
        ),
    ]
    assert [r.status_code for r in attempts] == [401] * 5
    assert attempts[0].json()["code"] == "invalid_signature"
    assert await events_for(pool, reference) == []
    assert await balance_of(pool, user) == Decimal("2000.00")


async def test_base64_signatures_and_the_rotated_secret_are_accepted(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    _, reference = await pending_topup(client, make_user)
    body = webhook_body(reference, "PENDING")
    mac = hmac.new(b"older-secret", body, hashlib.sha256).digest()
    response = await post_webhook(client, body, signature=base64.b64encode(mac).decode())
    assert response.status_code == 200


async def test_a_signed_but_incomplete_payload_is_422_settles_nothing_and_is_kept_raw_once(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    body = b'{"status": "SUCCESS", "nonce": "%s"}' % uuid.uuid4().hex.encode()
    first = await post_webhook(client, body)
    again = await post_webhook(client, body)
    assert first.status_code == again.status_code == 422
    assert first.json()["errors"][0]["field"] == "order_id"
    kept = await pool.fetch(
        "SELECT payload, reason, deliveries FROM topup.refused_notifications WHERE payload = $1",
        body,
    )
    assert [(bytes(r["payload"]), r["deliveries"]) for r in kept] == [(body, 2)]
    assert "order_id" in kept[0]["reason"]


@pytest.mark.parametrize("status", ["FAIL", "ERROR", "UNKNOWN", "TIMEOUT", "REVERSED"])
async def test_a_status_that_is_not_an_explicit_verdict_is_noted_and_refunds_nothing(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser, status: str
) -> None:
    # Selcom labels every non-success "FAIL", even "no response from upstream": no proof.
    user, reference = await pending_topup(client, make_user)
    response = await post_webhook(client, webhook_body(reference, status))
    assert response.json()["outcome"] == "noted"
    assert (await topup_row(pool, reference))["status"] == "pending"
    assert await balance_of(pool, user) == Decimal("2000.00")
    assert await events_for(pool, reference) == ["noted"]


async def test_a_signed_status_longer_than_its_column_is_422_and_kept_raw_not_a_500(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    body = webhook_body(f"TOP{uuid.uuid4().hex}", "9" * 40)
    response = await post_webhook(client, body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "status"
    kept = await pool.fetchval(
        "SELECT count(*) FROM topup.refused_notifications WHERE payload = $1", body
    )
    assert kept == 1
