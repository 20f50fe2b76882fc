"""A deposit notice Wema signed but we refuse: a 4xx that credits nobody, and the raw bytes kept
(once, with the reason) so that a person finds the customer's money even if Wema never retries."""

import hashlib
from collections.abc import Callable
from decimal import Decimal

import asyncpg
import pytest

from betfuz_common import jsonio
from betfuz_common.signatures import sign
from betfuz_testing.tokens import bearer
from services.treasury.tests.support import (
    WEMA_SECRET,
    AppClient,
    NewUser,
    OpenAccount,
    days_ago,
    deposit_payload,
)


def signed_bytes(body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "x-wema-signature": sign(body, WEMA_SECRET.encode(), "sha512"),
    }


def with_field(account_number: str, name: str, raw: bytes) -> bytes:
    """A valid notice with one field's JSON value replaced by exactly these bytes."""
    good = deposit_payload(account_number)
    body = jsonio.dumps({**good, name: None})
    return body.replace(f'"{name}":null'.encode(), f'"{name}":'.encode() + raw)


# case -> (the body, from the account number; the status; what the kept reason must name)
CASES: dict[str, tuple[Callable[[str], bytes], int, str]] = {
    "an amount with three decimals": (
        lambda n: with_field(n, "amount", b"1000.001"),
        422,
        "amount",
    ),
    "an amount in non-ASCII digits": (
        lambda n: with_field(n, "amount", jsonio.dumps("٥")),
        422,
        "amount",
    ),
    "a reference with a space": (
        lambda n: with_field(n, "transaction_reference", b'"WEMA TXN 1"'),
        422,
        "transaction_reference",
    ),
    "a date without a zone": (
        lambda n: with_field(n, "transaction_date", jsonio.dumps(days_ago(1).removesuffix("Z"))),
        422,
        "transaction_date",
    ),
    "a date in year one": (
        lambda n: with_field(n, "transaction_date", b'"0001-01-01T00:00:00Z"'),
        422,
        "transaction_date",
    ),
    "a date years ago": (
        lambda n: with_field(n, "transaction_date", jsonio.dumps(days_ago(401))),
        422,
        "transaction_date",
    ),
    "a date days ahead": (
        lambda n: with_field(n, "transaction_date", jsonio.dumps(days_ago(-2))),
        422,
        "transaction_date",
    ),
    "a NUL in the narration": (
        lambda n: with_field(n, "narration", b'"Deposit\\u0000to Betfuz"'),
        422,
        "narration",
    ),
    "a NUL in the sender's name": (
        lambda n: with_field(n, "sender_name", b'"MARY\\u0000JANE"'),
        422,
        "sender_name",
    ),
    "a lone surrogate in the narration": (
        lambda n: with_field(n, "narration", b'"Deposit \\ud800"'),
        422,
        "narration",
    ),
    "the amount given twice": (
        lambda n: with_field(n, "amount", b'5000,"amount":50'),
        400,
        "amount",
    ),
    "no JSON at all": (lambda n: b'{"account_number": "' + n.encode() + b'", ', 400, "JSON"),
}


async def kept(pool: asyncpg.Pool, body: bytes) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT provider, payload, reason, deliveries FROM treasury.refused_notifications "
        "WHERE payload_sha256 = $1",
        hashlib.sha256(body).hexdigest(),
    )


async def money_rows(pool: asyncpg.Pool, account: dict[str, str]) -> tuple[object, ...]:
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM treasury.bank_transactions WHERE bank_account_id = $1),"
        "       (SELECT count(*) FROM treasury.unmatched_deposits WHERE account_number = $2),"
        "       (SELECT count(*) FROM treasury.review_items),"
        "       (SELECT balance FROM treasury.bank_accounts WHERE id = $1),"
        "       (SELECT u.balance FROM public.users u"
        "          JOIN treasury.bank_accounts a ON a.user_id = u.id WHERE a.id = $1)",
        account["id"],
        account["accountNumber"],
    )
    assert row is not None
    return tuple(row)


@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_signed_deposit_we_refuse_credits_nobody_and_is_kept_once_with_its_reason(
    case: str,
    app_client: AppClient,
    new_user: NewUser,
    open_account: OpenAccount,
    pool: asyncpg.Pool,
) -> None:
    make, status, field = CASES[case]
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        body = make(account["accountNumber"])
        before = await money_rows(pool, account)
        first = await client.post("/treasury/webhook", content=body, headers=signed_bytes(body))
        after_first = await money_rows(pool, account)
        again = await client.post("/treasury/webhook", content=body, headers=signed_bytes(body))
        history = await client.get("/treasury/accounts/me/transactions", headers=bearer(user))
    assert first.status_code == again.status_code == status, first.text
    assert first.headers["content-type"] == "application/problem+json"
    assert before == after_first == await money_rows(pool, account)
    assert before[3:] == (Decimal(0), Decimal(0))
    (row,) = await kept(pool, body)
    assert (row["provider"], bytes(row["payload"])) == ("wema", body)
    assert field in row["reason"]
    assert row["deliveries"] == 2  # the redelivery is the same row, counted
    assert history.status_code == 200
    assert history.json()["items"] == []


async def test_a_refused_notice_with_a_bad_signature_is_not_kept(
    app_client: AppClient, pool: asyncpg.Pool
) -> None:
    body = with_field("0000000011", "amount", b"1000.001")
    async with app_client() as client:
        answer = await client.post(
            "/treasury/webhook",
            content=body,
            headers={**signed_bytes(body), "x-wema-signature": "00" * 64},
        )
    assert answer.status_code == 401
    assert await kept(pool, body) == []


async def test_a_deposit_dated_year_one_leaves_the_history_readable(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        for date in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"):
            payload = deposit_payload(account["accountNumber"], "10", transaction_date=date)
            body = jsonio.dumps(payload)
            refused = await client.post(
                "/treasury/webhook", content=body, headers=signed_bytes(body)
            )
            assert refused.status_code == 422
        good = deposit_payload(account["accountNumber"], "10")
        body = jsonio.dumps(good)
        credited = await client.post("/treasury/webhook", content=body, headers=signed_bytes(body))
        history = await client.get("/treasury/accounts/me/transactions", headers=bearer(user))
    assert credited.json()["status"] == "credited"
    assert history.status_code == 200
    items = history.json()["items"]
    assert [item["transactionReference"] for item in items] == [good["transaction_reference"]]
