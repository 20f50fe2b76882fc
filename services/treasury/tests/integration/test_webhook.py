import asyncio
from decimal import Decimal

import asyncpg

from betfuz_common import jsonio
from betfuz_testing.tokens import bearer
from services.treasury.tests.support import (
    WEMA_NEXT_SECRET,
    AppClient,
    NewUser,
    OpenAccount,
    balances,
    days_ago,
    deposit_payload,
    post_deposit,
    signed,
    written_for,
)


async def test_a_signed_deposit_records_the_row_and_credits_both_balances(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount, pool: asyncpg.Pool
) -> None:
    user = await new_user(Decimal("100.00"))
    async with app_client() as client:
        account = await open_account(client, user)
        payload = deposit_payload(account["accountNumber"], "50000")
        answer = await post_deposit(client, payload)
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "credited",
        "transactionReference": payload["transaction_reference"],
    }
    assert await balances(pool, user) == (Decimal("50100.00"), Decimal("50000.00"))
    row = await pool.fetchrow(
        "SELECT * FROM treasury.bank_transactions WHERE transaction_reference = $1",
        payload["transaction_reference"],
    )
    assert row is not None
    assert (row["user_id"], row["bank_account_id"]) == (user, account["id"])
    assert (row["type"], row["status"], row["amount"]) == ("credit", "completed", Decimal(50000))
    assert row["sender_name"] == "MARY JANE"


async def test_a_duplicate_delivery_answers_200_and_changes_nothing(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        payload = deposit_payload(account["accountNumber"], "700")
        first = await post_deposit(client, payload)
        again = await post_deposit(client, payload)
    assert first.json()["status"] == "credited"
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert await balances(pool, user) == (Decimal(700), Decimal(700))
    assert await written_for(pool, payload["transaction_reference"]) == (1, 0)


async def test_a_thousand_concurrent_deliveries_of_one_deposit_credit_exactly_once(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        payload = deposit_payload(account["accountNumber"], "1234.56")
        answers = await asyncio.gather(*(post_deposit(client, payload) for _ in range(1000)))
    outcomes = [a.json()["status"] for a in answers]
    assert {a.status_code for a in answers} == {200}
    assert outcomes.count("credited") == 1
    assert outcomes.count("duplicate") == 999
    assert await balances(pool, user) == (Decimal("1234.56"), Decimal("1234.56"))
    assert await written_for(pool, payload["transaction_reference"]) == (1, 0)


async def test_many_different_deposits_at_once_all_land_without_deadlock(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        payloads = [deposit_payload(account["accountNumber"], "10.01") for _ in range(100)]
        answers = await asyncio.gather(
            *(post_deposit(client, p) for p in payloads for _ in range(3))
        )
    assert [a.json()["status"] for a in answers].count("credited") == 100
    assert await balances(pool, user) == (Decimal("1001.00"), Decimal("1001.00"))


async def test_kobo_amounts_are_exact(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        for amount in ("50000.50", "0.25", "0.01"):
            await post_deposit(client, deposit_payload(account["accountNumber"], amount))
        listed = await client.get("/treasury/accounts/me/transactions", headers=bearer(user))
        me = await client.get("/treasury/accounts/me", headers=bearer(user))
    assert await balances(pool, user) == (Decimal("50000.76"), Decimal("50000.76"))
    assert b'"amount":50000.50' in listed.content
    assert b'"balance":50000.76' in me.content


async def test_a_bad_or_missing_signature_is_401_and_writes_nothing(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        payload = deposit_payload(account["accountNumber"])
        wrong_key = await post_deposit(client, payload, secret="not-the-secret")
        body, headers = signed(payload)
        tampered = await client.post(
            "/treasury/webhook", content=body.replace(b"50000", b"90000"), headers=headers
        )
        unsigned = await client.post(
            "/treasury/webhook", content=body, headers={"content-type": "application/json"}
        )
        garbage = await client.post(
            "/treasury/webhook", content=b"{not json", headers={"x-wema-signature": "00"}
        )
    for answer in (wrong_key, tampered, unsigned, garbage):
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/problem+json"
    assert await written_for(pool, payload["transaction_reference"]) == (0, 0)
    assert await balances(pool, user) == (Decimal(0), Decimal(0))


async def test_a_deposit_signed_with_the_next_rotation_secret_is_accepted(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        payload = deposit_payload(account["accountNumber"])
        answer = await post_deposit(client, payload, secret=WEMA_NEXT_SECRET)
    assert answer.json()["status"] == "credited"


async def test_non_positive_or_malformed_amounts_are_422_and_write_nothing(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        payloads = [
            deposit_payload(account["accountNumber"], amount) for amount in ("0", "-5", "1.001")
        ]
        payloads.append({**deposit_payload(account["accountNumber"]), "amount": "lots"})
        answers = [await post_deposit(client, p) for p in payloads]
    for payload, answer in zip(payloads, answers, strict=True):
        assert answer.status_code == 422
        assert await written_for(pool, payload["transaction_reference"]) == (0, 0)
    assert await balances(pool, user) == (Decimal(0), Decimal(0))


async def test_a_deposit_to_an_unknown_account_is_held_for_review_and_credits_nobody(
    app_client: AppClient, pool: asyncpg.Pool
) -> None:
    payload = deposit_payload("0000000011", "999")  # a valid Wema NUBAN nobody holds
    async with app_client() as client:
        held = await post_deposit(client, payload)
        again = await post_deposit(client, payload)
    assert held.status_code == 200
    assert held.json()["status"] == "held_for_review"
    assert again.json()["status"] == "duplicate"
    assert await written_for(pool, payload["transaction_reference"]) == (0, 1)
    row = await pool.fetchrow(
        "SELECT reason, amount, payload FROM treasury.unmatched_deposits "
        "WHERE transaction_reference = $1",
        payload["transaction_reference"],
    )
    assert row is not None
    assert (row["reason"], row["amount"]) == ("unknown_account", Decimal(999))
    assert row["payload"]["sender_name"] == "MARY JANE"


async def test_deposits_to_suspended_or_closed_accounts_are_held_and_credit_nobody(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount, pool: asyncpg.Pool
) -> None:
    for status in ("suspended", "closed"):
        user = await new_user()
        async with app_client() as client:
            account = await open_account(client, user)
            await pool.execute(
                "UPDATE treasury.bank_accounts SET status = $2 WHERE id = $1", account["id"], status
            )
            payload = deposit_payload(account["accountNumber"])
            answer = await post_deposit(client, payload)
        assert answer.json()["status"] == "held_for_review"
        assert await balances(pool, user) == (Decimal(0), Decimal(0))
        reason = await pool.fetchval(
            "SELECT reason FROM treasury.unmatched_deposits WHERE transaction_reference = $1",
            payload["transaction_reference"],
        )
        assert reason == f"account_{status}"


async def test_when_the_user_row_is_gone_the_whole_credit_rolls_back_and_is_held(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        await pool.execute("DELETE FROM public.users WHERE id = $1", user)
        payload = deposit_payload(account["accountNumber"])
        answer = await post_deposit(client, payload)
    assert answer.json()["status"] == "held_for_review"
    # The transaction row and the account increment were written, then rolled back together.
    assert await written_for(pool, payload["transaction_reference"]) == (0, 1)
    balance = await pool.fetchval(
        "SELECT balance FROM treasury.bank_accounts WHERE id = $1", account["id"]
    )
    assert balance == 0


async def test_a_credit_notifies_balance_changed_listeners_on_commit(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount, database_url: str
) -> None:
    user = await new_user(Decimal("5.00"))
    received: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(database_url)
    await listener.add_listener("balance_changed", lambda *args: received.put_nowait(args[3]))
    try:
        async with app_client() as client:
            account = await open_account(client, user)
            payload = deposit_payload(account["accountNumber"], "20.50")
            await post_deposit(client, payload)
            while True:  # other tests' credits may share the channel
                note = jsonio.loads(await asyncio.wait_for(received.get(), 10))
                if note["user_id"] == user:
                    break
    finally:
        await listener.close()
    assert note["balance"] == Decimal("25.50")
    assert note["account_balance"] == Decimal("20.50")
    assert note["transaction_reference"] == payload["transaction_reference"]
    assert set(note) == {
        "user_id", "balance", "bank_account_id", "account_balance", "amount",
        "transaction_reference",
    }  # fmt: skip


async def test_deposits_delivered_out_of_order_are_all_credited_and_listed_newest_first(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        dated = [
            deposit_payload(account["accountNumber"], "1", transaction_date=days_ago(6 - d))
            for d in range(1, 6)
        ]
        for payload in [dated[3], dated[0], dated[4], dated[2], dated[1], dated[3]]:
            await post_deposit(client, payload)
        listed = await client.get("/treasury/accounts/me/transactions", headers=bearer(user))
    references = [item["transactionReference"] for item in listed.json()["items"]]
    assert references == [p["transaction_reference"] for p in reversed(dated)]
    assert await balances(pool, user) == (Decimal(5), Decimal(5))


async def test_concurrent_deliveries_while_the_account_flips_status_end_in_one_outcome_each(
    app_client: AppClient,
    new_user: NewUser,
    open_account: OpenAccount,
    pool: asyncpg.Pool,
    database_url: str,
) -> None:
    user = await new_user()
    flipping = asyncio.Event()
    async with app_client() as client:
        account = await open_account(client, user)
        payloads = [deposit_payload(account["accountNumber"], "3.33") for _ in range(30)]
        flipper = await asyncpg.connect(database_url)

        async def flip() -> None:
            # Suspend and reactivate the account as fast as the database allows, so deliveries
            # look it up in both states while others are between look-up and write.
            status = "suspended"
            while not flipping.is_set():
                await flipper.execute(
                    "UPDATE treasury.bank_accounts SET status = $2 WHERE id = $1",
                    account["id"],
                    status,
                )
                status = "active" if status == "suspended" else "suspended"
                await asyncio.sleep(0)

        flips = asyncio.create_task(flip())
        try:
            answers = await asyncio.gather(
                *(post_deposit(client, p) for _ in range(10) for p in payloads)
            )
        finally:
            flipping.set()
            await flips
            await flipper.close()
    assert {a.status_code for a in answers} == {200}
    for payload in payloads:
        credited, held = await written_for(pool, payload["transaction_reference"])
        assert credited + held == 1, payload["transaction_reference"]
    credits = await pool.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM treasury.bank_transactions WHERE user_id = $1", user
    )
    assert await balances(pool, user) == (credits, credits)
    outcomes = [a.json()["status"] for a in answers]
    assert outcomes.count("credited") + outcomes.count("held_for_review") == len(payloads)


async def test_a_deposit_dated_outside_the_plausible_window_is_422_kept_raw_and_credits_nobody(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    # Year 1 at +23:59 is year 0 in UTC, and the last instant of 9999 at -23:59 is year 10000:
    # neither can be stored (they were a 500); 1999 and 2100 are no bank's transaction date.
    dates = [
        "0001-01-01T00:00:00+23:59",
        "9999-12-31T23:59:59.999999-23:59",
        "1999-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
    ]
    async with app_client() as client:
        account = await open_account(client, user)
        payloads = [
            deposit_payload(account["accountNumber"], transaction_date=date) for date in dates
        ]
        answers = [await post_deposit(client, p) for p in payloads]
    for payload, answer in zip(payloads, answers, strict=True):
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == "transaction_date"
        assert await written_for(pool, payload["transaction_reference"]) == (0, 0)
        kept = await pool.fetchval(
            "SELECT count(*) FROM treasury.refused_notifications WHERE payload = $1",
            signed(payload)[0],
        )
        assert kept == 1
    assert await balances(pool, user) == (Decimal(0), Decimal(0))
