"""The two ways a credit can fail after the account was found: the user's row is gone (held,
nothing credited anywhere), or the UNIQUE backstop finds the reference already credited (the
whole delivery rolls back: no balance moves twice)."""

from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from betfuz_common import jsonio
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

        look_up = repo.look_up_deposit

        async def missed(*args: Any) -> tuple[None, repo.AccountRef | None]:
            _, account = await look_up(*args)
            return None, account  # as if the earlier credit were invisible to the look-up

        monkeypatch.setattr(repo, "look_up_deposit", missed)
        again = await post_deposit(client, payload)
    assert first.json()["status"] == "credited"
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert await balances(pool, user) == (Decimal(900), Decimal(900))
    assert await written_for(pool, payload["transaction_reference"]) == (1, 0)


async def test_neither_backstop_sends_a_balance_notification(
    app_client: AppClient,
    new_user: NewUser,
    open_account: OpenAccount,
    pool: asyncpg.Pool,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gone, credited = await new_user(), await new_user()
    received: list[str] = []
    listener = await asyncpg.connect(database_url)
    await listener.add_listener("balance_changed", lambda *args: received.append(args[3]))
    try:
        async with app_client() as client:
            orphan = await open_account(client, gone)
            await pool.execute("UPDATE public.users SET id = id || '-gone' WHERE id = $1", gone)
            held = deposit_payload(orphan["accountNumber"], "700")
            account = await open_account(client, credited)
            payload = deposit_payload(account["accountNumber"], "900")
            await post_deposit(client, payload)
            look_up = repo.look_up_deposit

            async def missed(*args: Any) -> tuple[None, repo.AccountRef | None]:
                return None, (await look_up(*args))[1]

            monkeypatch.setattr(repo, "look_up_deposit", missed)
            assert (await post_deposit(client, held)).json()["status"] == "held_for_review"
            assert (await post_deposit(client, payload)).json()["status"] == "duplicate"
        await listener.execute("SELECT 1")  # notifications of committed work arrive before this
    finally:
        await listener.close()
    references = [jsonio.loads(note)["transaction_reference"] for note in received]
    assert held["transaction_reference"] not in references
    assert references.count(payload["transaction_reference"]) == 1  # the first delivery's only
