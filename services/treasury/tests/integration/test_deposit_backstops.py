"""The two ways a credit can fail after the account was found: the user's row is gone (held,
nothing credited anywhere), or the UNIQUE backstop finds the reference already credited (the
whole delivery rolls back: no balance moves twice)."""

import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal

import asyncpg
import pytest

from betfuz_common import jsonio
from betfuz_common.db import Conn
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

LookUp = Callable[[Conn, str, str], Awaitable[tuple[repo.Earlier | None, repo.AccountRef | None]]]


def blind_look_up(look_up: LookUp) -> LookUp:
    """The look-up as if the reference's earlier outcome were invisible to it: it asks about a
    reference nobody used, so it finds (and locks) the named account as for a first delivery."""

    async def missed(
        conn: Conn, _: str, account_number: str
    ) -> tuple[repo.Earlier | None, repo.AccountRef | None]:
        return await look_up(conn, f"never-used-{uuid.uuid4().hex}", account_number)

    return missed


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

        monkeypatch.setattr(repo, "look_up_deposit", blind_look_up(repo.look_up_deposit))
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
            monkeypatch.setattr(repo, "look_up_deposit", blind_look_up(repo.look_up_deposit))
            assert (await post_deposit(client, held)).json()["status"] == "held_for_review"
            assert (await post_deposit(client, payload)).json()["status"] == "duplicate"
        await listener.execute("SELECT 1")  # notifications of committed work arrive before this
    finally:
        await listener.close()
    references = [jsonio.loads(note)["transaction_reference"] for note in received]
    assert held["transaction_reference"] not in references
    assert references.count(payload["transaction_reference"]) == 1  # the first delivery's only


async def test_the_look_up_of_a_repeat_finds_the_earlier_outcome_and_locks_no_account_row(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        payload = deposit_payload(account["accountNumber"], "300")
        await post_deposit(client, payload)
    reference, number = payload["transaction_reference"], account["accountNumber"]
    async with pool.acquire() as conn, conn.transaction():
        earlier, named = await repo.look_up_deposit(conn, reference, number)
        async with pool.acquire() as other, other.transaction():
            # NOWAIT: an error at once if the repeat's look-up had locked the row
            await other.execute(
                "SELECT 1 FROM treasury.bank_accounts WHERE account_number = $1 "
                "FOR NO KEY UPDATE NOWAIT",
                number,
            )
    assert earlier is not None
    assert (earlier.outcome, earlier.amount, earlier.account_number) == (
        "credited",
        Decimal(300),
        number,
    )
    assert named is None
