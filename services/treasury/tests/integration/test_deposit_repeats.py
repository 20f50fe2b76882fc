"""A transaction_reference seen before, again: the same deposit is a duplicate; the same
reference with another amount or account is a review item for a person, and moves no money."""

import asyncio
from decimal import Decimal
from typing import Any

import asyncpg
from structlog.testing import capture_logs

from services.treasury.tests.support import (
    AppClient,
    NewUser,
    OpenAccount,
    balances,
    deposit_payload,
    post_deposit,
    written_for,
)

REUSED = "deposit_reference_reused"


async def review_items(pool: asyncpg.Pool, reference: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT reason, detail, occurrences, resolved_at FROM treasury.review_items "
        "WHERE reference = $1 ORDER BY created_at",
        reference,
    )


async def test_a_credited_reference_repeated_with_another_amount_is_a_review_item_and_moves_nothing(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    with capture_logs() as events:
        async with app_client() as client:
            account = await open_account(client, user)
            original = deposit_payload(account["accountNumber"], "500")
            repeat = {**original, "amount": Decimal("50000")}
            credited = await post_deposit(client, original)
            reviewed = await post_deposit(client, repeat)
            redelivered = await post_deposit(client, repeat)
    assert credited.json()["status"] == "credited"
    assert reviewed.status_code == 200
    assert reviewed.json()["status"] == "held_for_review"
    assert redelivered.json()["status"] == "duplicate"
    assert await balances(pool, user) == (Decimal(500), Decimal(500))
    assert await written_for(pool, original["transaction_reference"]) == (1, 0)
    (item,) = await review_items(pool, original["transaction_reference"])
    assert (item["reason"], item["occurrences"], item["resolved_at"]) == (REUSED, 2, None)
    earlier, again = item["detail"]["earlier"], item["detail"]["repeat"]
    assert (earlier["outcome"], earlier["amount"]) == ("credited", Decimal(500))
    assert earlier["account_number"] == again["account_number"] == account["accountNumber"]
    assert again["amount"] == Decimal(50000)
    assert "another amount or account" in item["detail"]["why"]
    warned = [e for e in events if e["event"] == REUSED]
    assert [e["log_level"] for e in warned] == ["warning", "warning"]


async def test_a_credited_reference_repeated_for_another_account_credits_neither(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount, pool: asyncpg.Pool
) -> None:
    owner, other = await new_user(), await new_user()
    async with app_client() as client:
        first = await open_account(client, owner)
        second = await open_account(client, other)
        original = deposit_payload(first["accountNumber"], "700")
        await post_deposit(client, original)
        moved = await post_deposit(client, {**original, "account_number": second["accountNumber"]})
    assert moved.json()["status"] == "held_for_review"
    assert await balances(pool, owner) == (Decimal(700), Decimal(700))
    assert await balances(pool, other) == (Decimal(0), Decimal(0))
    (item,) = await review_items(pool, original["transaction_reference"])
    assert item["detail"]["earlier"]["account_number"] == first["accountNumber"]
    assert item["detail"]["repeat"]["account_number"] == second["accountNumber"]


async def test_a_held_reference_repeated_with_another_amount_is_a_review_item_too(
    app_client: AppClient, pool: asyncpg.Pool
) -> None:
    original = deposit_payload("0000000011", "999")  # a valid NUBAN nobody holds
    async with app_client() as client:
        held = await post_deposit(client, original)
        repeat = await post_deposit(client, {**original, "amount": Decimal("9.99")})
    assert held.json()["status"] == repeat.json()["status"] == "held_for_review"
    assert await written_for(pool, original["transaction_reference"]) == (0, 1)
    (item,) = await review_items(pool, original["transaction_reference"])
    assert item["detail"]["earlier"]["outcome"] == "held"
    assert item["detail"]["earlier"]["amount"] == Decimal(999)


async def test_the_same_deposit_redelivered_with_other_descriptive_fields_is_only_a_duplicate(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        original = deposit_payload(account["accountNumber"], "120.50")
        await post_deposit(client, original)
        again = await post_deposit(client, {**original, "narration": "resent", "amount": "120.5"})
    assert again.json()["status"] == "duplicate"
    assert await review_items(pool, original["transaction_reference"]) == []
    assert await balances(pool, user) == (Decimal("120.50"), Decimal("120.50"))


async def test_concurrent_deliveries_of_two_versions_of_one_reference_credit_one_and_review_one(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        small = deposit_payload(account["accountNumber"], "10")
        large: dict[str, Any] = {**small, "amount": Decimal("10000")}
        answers = await asyncio.gather(
            *(post_deposit(client, payload) for _ in range(50) for payload in (small, large))
        )
    outcomes = sorted(a.json()["status"] for a in answers)
    assert outcomes == ["credited"] + ["duplicate"] * 98 + ["held_for_review"]
    (credited,) = await pool.fetch(
        "SELECT amount FROM treasury.bank_transactions WHERE transaction_reference = $1",
        small["transaction_reference"],
    )
    user_balance, account_balance = await balances(pool, user)
    assert user_balance == account_balance == credited["amount"]
    (item,) = await review_items(pool, small["transaction_reference"])
    assert item["occurrences"] == 50
    assert item["detail"]["earlier"]["amount"] == credited["amount"]
    assert item["detail"]["repeat"]["amount"] != credited["amount"]
