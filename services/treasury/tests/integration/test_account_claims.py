"""The 'creating' claim taken before Wema is called: a takeover never sends another BVN's
reference, a claim holds its BVN only for a bounded time and number of calls, and every
reference Wema may hold an account under is either on our account or recorded for a person."""

import asyncio
import uuid
from datetime import timedelta

import asyncpg
import httpx
import pytest

from betfuz_common.settings import load_settings
from betfuz_testing.fixtures import FreshDatabase
from betfuz_testing.tokens import bearer
from sandboxes.wema.accounts import Bank
from services.treasury.tests.support import (
    AppClient,
    NewUser,
    Scripted,
    account_body,
    random_bvn,
    refusal,
    settings_env,
)
from treasury.bvn import mask
from treasury.config import TreasurySettings
from treasury.service import CLAIM_ATTEMPTS

ORPHANED = "orphaned_wema_reference"


async def orphans(pool: asyncpg.Pool, user_id: str) -> dict[str, dict[str, object]]:
    """The references recorded as orphaned from this user's claims."""
    rows = await pool.fetch(
        "SELECT reference, detail FROM treasury.review_items "
        "WHERE reason = $1 AND detail->>'user_id' = $2",
        ORPHANED,
        user_id,
    )
    return {row["reference"]: row["detail"] for row in rows}


async def claim_of(pool: asyncpg.Pool, user_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT id, reference, status, attempts FROM treasury.bank_accounts WHERE user_id = $1",
        user_id,
    )


async def outlive(pool: asyncpg.Pool, account_id: str) -> None:
    """Move the claim past its lifetime (15 minutes in production)."""
    await pool.execute(
        "UPDATE treasury.bank_accounts SET claim_expires_at = now() - interval '1 second' "
        "WHERE id = $1",
        account_id,
    )


async def post(client: httpx.AsyncClient, user: str, body: dict[str, str]) -> httpx.Response:
    return await client.post("/treasury/accounts", json=body, headers=bearer(user))


async def test_a_stale_claim_taken_over_with_another_bvn_never_gets_the_first_bvns_account(
    app_client: AppClient,
    new_user: NewUser,
    bank: Bank,
    sandbox_transport: httpx.ASGITransport,
    pool: asyncpg.Pool,
) -> None:
    user, stranger = await new_user(), await new_user()
    bvn_a, bvn_b = random_bvn(), random_bvn()
    async with app_client(wema_transport=Scripted(sandbox_transport, "lost")) as client:
        lost = await post(client, user, account_body(bvn_a))  # Wema opened an account for A
        (first_reference,) = bank.by_reference
        switched = await post(client, user, account_body(bvn_b))
        a_again = await post(client, stranger, account_body(bvn_a))
    assert lost.status_code == 504
    assert switched.status_code == 201, switched.text
    opened_for_a = bank.by_reference[first_reference]["accountNumber"]
    assert switched.json()["accountNumber"] != opened_for_a
    assert switched.json()["bvn"] == mask(bvn_b)
    row = await claim_of(pool, user)
    assert row is not None
    assert row["reference"] != first_reference
    assert bank.by_reference[row["reference"]]["accountNumber"] == switched.json()["accountNumber"]
    # A is free for its owner, and the account Wema may hold for it is on record to be closed.
    assert a_again.status_code == 201
    assert a_again.json()["accountNumber"] != opened_for_a
    recorded = await orphans(pool, user)
    assert recorded[first_reference]["why"] == "bvn_changed"
    assert recorded[first_reference]["user_id"] == user
    assert bvn_a not in repr(recorded)


async def test_an_answer_for_a_claim_restarted_meanwhile_is_never_linked_to_the_new_bvn(
    app_client: AppClient,
    new_user: NewUser,
    bank: Bank,
    sandbox_transport: httpx.ASGITransport,
    pool: asyncpg.Pool,
) -> None:
    user = await new_user()
    # The first call outlives its lease; the second request takes the claim over with another
    # BVN while the first is still waiting for Wema.
    slow_first = Scripted(sandbox_transport, "slow", pause=2.0)
    async with app_client(wema_transport=slow_first, lease=timedelta(seconds=0.2)) as client:
        first = asyncio.create_task(post(client, user, account_body()))
        await asyncio.sleep(0.8)
        second = await post(client, user, account_body())
        first_answer = await first
    assert second.status_code == 201, second.text
    assert first_answer.status_code == 502
    row = await claim_of(pool, user)
    assert row is not None
    assert row["status"] == "active"
    # Wema saw two references (the slow call reaches it last) and opened an account for each.
    (first_reference,) = {call.reference for call in bank.calls} - {row["reference"]}
    opened = {ref: account["accountNumber"] for ref, account in bank.by_reference.items()}
    assert second.json()["accountNumber"] == opened[row["reference"]]
    assert second.json()["accountNumber"] != opened[first_reference]
    assert (await orphans(pool, user))[first_reference]["why"] == "bvn_changed"


async def test_a_claim_left_by_provider_failures_stops_holding_the_bvn_after_its_attempts(
    app_client: AppClient, new_user: NewUser, bank: Bank, pool: asyncpg.Pool
) -> None:
    parker, owner = await new_user(), await new_user()
    bvn = random_bvn()
    bank.failures.extend([("error", 0)] * CLAIM_ATTEMPTS)
    async with app_client() as client:
        held_back = []
        for attempt in range(CLAIM_ATTEMPTS):
            assert (await post(client, parker, account_body(bvn))).status_code == 502
            if attempt < CLAIM_ATTEMPTS - 1:
                held_back.append(await post(client, owner, account_body(bvn)))
        calls_while_held = len(bank.calls)
        parked = await claim_of(pool, parker)
        assert parked is not None
        # The last failure used the claim's last attempt: from then on it holds nothing.
        opened = await post(client, owner, account_body(bvn))
        parker_again = await post(client, parker, account_body(bvn))
        bank.failures.append(("reject", 0))
        refused_by_bank = await post(client, await new_user(), account_body())
    # While the claim was live the owner was refused as a bank refusal is, and Wema never asked.
    assert calls_while_held == CLAIM_ATTEMPTS
    assert [refusal(a) for a in held_back] == [refusal(refused_by_bank)] * (CLAIM_ATTEMPTS - 1)
    assert opened.status_code == 201, opened.text
    assert refusal(parker_again) == refusal(refused_by_bank)
    detail = (await orphans(pool, parker))[parked["reference"]]
    assert (detail["why"], detail["attempts"]) == ("claim_expired", CLAIM_ATTEMPTS)


async def test_a_claim_stops_holding_the_bvn_after_its_lifetime(
    app_client: AppClient, new_user: NewUser, bank: Bank, pool: asyncpg.Pool
) -> None:
    parker, owner = await new_user(), await new_user()
    bvn = random_bvn()
    bank.failures.append(("error", 0))
    async with app_client() as client:
        assert (await post(client, parker, account_body(bvn))).status_code == 502
        while_live = await post(client, owner, account_body(bvn))
        parked = await claim_of(pool, parker)
        assert parked is not None
        await outlive(pool, parked["id"])
        after_lifetime = await post(client, owner, account_body(bvn))
    assert while_live.status_code == 422
    assert after_lifetime.status_code == 201, after_lifetime.text
    assert await claim_of(pool, parker) is None
    assert (await orphans(pool, parker))[parked["reference"]]["why"] == "claim_expired"


async def test_a_claim_whose_wema_call_is_still_running_is_never_retired(
    app_client: AppClient, new_user: NewUser, bank: Bank, pool: asyncpg.Pool
) -> None:
    parker, owner = await new_user(), await new_user()
    bvn = random_bvn()
    bank.failures.append(("error", 0))
    async with app_client() as client:
        assert (await post(client, parker, account_body(bvn))).status_code == 502
        # Past its lifetime and its attempts, but a request holds the lease: its call may be
        # opening the account right now.
        await pool.execute(
            "UPDATE treasury.bank_accounts SET claim_expires_at = now() - interval '1 second', "
            "attempts = $2, locked_until = now() + interval '1 minute' WHERE user_id = $1",
            parker,
            CLAIM_ATTEMPTS,
        )
        refused = await post(client, owner, account_body(bvn))
    assert refused.status_code == 422
    still_held = await claim_of(pool, parker)
    assert still_held is not None
    assert still_held["status"] == "creating"
    assert await orphans(pool, parker) == {}


async def test_the_owner_retrying_after_the_lifetime_gets_a_new_reference_and_the_old_is_recorded(
    app_client: AppClient, new_user: NewUser, bank: Bank, pool: asyncpg.Pool
) -> None:
    user, body = await new_user(), account_body()
    bank.failures.append(("error", 0))
    async with app_client() as client:
        assert (await post(client, user, body)).status_code == 502
        stale = await claim_of(pool, user)
        assert stale is not None
        await outlive(pool, stale["id"])
        opened = await post(client, user, body)
    assert opened.status_code == 201
    fresh = await claim_of(pool, user)
    assert fresh is not None
    assert fresh["reference"] != stale["reference"]
    assert fresh["attempts"] == 1
    assert (await orphans(pool, user))[stale["reference"]]["why"] == "claim_expired"


async def test_a_refusal_after_an_unanswered_call_records_the_reference_wema_may_have_used(
    app_client: AppClient,
    new_user: NewUser,
    bank: Bank,
    sandbox_transport: httpx.ASGITransport,
    pool: asyncpg.Pool,
) -> None:
    user, body = await new_user(), account_body()
    async with app_client(wema_transport=Scripted(sandbox_transport, "lost")) as client:
        assert (await post(client, user, body)).status_code == 504
        bank.failures.append(("reject", 0))
        refused = await post(client, user, body)
    assert refused.status_code == 422
    assert await claim_of(pool, user) is None
    (reference,) = bank.by_reference  # opened by the first call, whose answer was lost
    detail = (await orphans(pool, user))[reference]
    assert (detail["why"], detail["attempts"]) == ("refused_after_no_answer", 2)


async def test_a_refusal_on_the_first_call_records_nothing(
    app_client: AppClient, new_user: NewUser, bank: Bank, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    bank.failures.append(("reject", 0))
    async with app_client() as client:
        assert (await post(client, user, account_body())).status_code == 422
    assert await orphans(pool, user) == {}


# Index maintenance made slow for users named "race-…", in an index that comes before the
# user's unique index and the BVN's (the indexes are rebuilt after it), so that a second insert
# checks the user's index while the first is still on its way to it. "claims": only while the
# row is a claim; "every change": the activation's update too, which then crosses the second
# insert on both unique indexes (each waits on the other: a deadlock PostgreSQL breaks).
SLOW_INDEX = """
CREATE FUNCTION treasury.slow_for_races(user_id text, status text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF user_id LIKE 'race-%' AND (status = 'creating' OR {every_change}) THEN
        PERFORM pg_sleep(0.5);
    END IF;
    RETURN user_id;
END $$;
CREATE INDEX slow_first ON treasury.bank_accounts (treasury.slow_for_races(user_id, status));
ALTER TABLE treasury.bank_accounts
    DROP CONSTRAINT bank_accounts_user_id_key,
    ADD CONSTRAINT bank_accounts_user_id_key UNIQUE (user_id),
    DROP CONSTRAINT bank_accounts_bvn_hash_key,
    ADD CONSTRAINT bank_accounts_bvn_hash_key UNIQUE (bvn_hash);
"""


@pytest.mark.parametrize("slow", ["claims", "every change"])
async def test_a_users_own_racing_request_gets_a_siblings_409_never_a_refusal_nor_a_500(
    slow: str,
    app_client: AppClient,
    fresh_database: FreshDatabase,
    bank: Bank,
) -> None:
    # Two requests of one user with one BVN, the second a moment after the first. Its insert
    # passes the user's index before the first reaches it, then fails on the BVN's (by then the
    # caller's own) or deadlocks with the first's activation. Neither may surface: the answer is
    # a sibling request's, never the refusal for someone else's BVN, never a 500.
    url = await fresh_database("claim_race")
    conn = await asyncpg.connect(url)
    try:
        every_change = "true" if slow == "every change" else "false"
        await conn.execute(SLOW_INDEX.format(every_change=every_change))
        user = f"race-{uuid.uuid4().hex}"
        await conn.execute("INSERT INTO public.users (id) VALUES ($1)", user)
    finally:
        await conn.close()
    body = account_body()
    async with app_client(load_settings(TreasurySettings, settings_env(url))) as client:
        first = asyncio.create_task(post(client, user, body))
        await asyncio.sleep(0.2)  # the first insert is inside the slow index now
        second = await post(client, user, body)
        opened = await first
    assert opened.status_code == 201, opened.text
    assert second.status_code == 409, second.text
    assert second.json()["code"] in ("account_creation_in_progress", "account_exists")
    assert len(bank.calls) == 1
