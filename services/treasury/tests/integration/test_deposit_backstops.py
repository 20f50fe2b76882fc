"""The two ways a credit can fail after the account was found: the user's row is gone (held,
nothing credited anywhere), or the UNIQUE backstop finds the reference already credited (the
whole delivery rolls back: no balance moves twice)."""

from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from services.treasury.tests.support import (
    AppClient,
    NewUser,
    OpenAccount,
    balances,
    deposit_payload,
    post_deposit,
    written_for,
)
from treasury import repository as repo


async def test_a_deposit_for_an_account_whose_user_is_gone_is_held_and_credits_nothing(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        await pool.execute(
            "UPDATE public.users SET id = id || '-gone' WHERE id = $1", user
        )  # the account's user row no longer answers to its id
        payload = deposit_payload(account["accountNumber"], "700")
        answer = await post_deposit(client, payload)
    assert (answer.status_code, answer.json()["status"]) == (200, "held_for_review")
    assert await written_for(pool, payload["transaction_reference"]) == (0, 1)
    assert await pool.fetchval(
        "SELECT balance FROM treasury.bank_accounts WHERE id = $1", account["id"]
    ) == Decimal(0)
    reason = await pool.fetchval(
        "SELECT reason FROM treasury.unmatched_deposits WHERE transaction_reference = $1",
        payload["transaction_reference"],
    )
    assert reason == "user_missing"


async def test_a_credit_the_look_up_missed_is_stopped_by_the_unique_backstop_and_moves_nothing(
    app_client: AppClient,
    new_user: NewUser,
    open_account: OpenAccount,
    pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        payload = deposit_payload(account["accountNumber"], "900")
        first = await post_deposit(client, payload)

        async def missed(*_: Any) -> None:
            return None  # as if the earlier credit were invisible to the look-up

        monkeypatch.setattr(repo, "outcome_for_reference", missed)
        again = await post_deposit(client, payload)
    assert first.json()["status"] == "credited"
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert await balances(pool, user) == (Decimal(900), Decimal(900))
    assert await written_for(pool, payload["transaction_reference"]) == (1, 0)
