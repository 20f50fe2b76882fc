import asyncio
import uuid

import asyncpg
import httpx

from betfuz_common.idempotency import stored_scope
from betfuz_testing.tokens import bearer
from sandboxes.wema.accounts import Bank
from services.treasury.tests.support import (
    AppClient,
    NewUser,
    Scripted,
    account_body,
    random_bvn,
    refusal,
)
from treasury.nuban import is_valid_nuban


async def rows_for(pool: asyncpg.Pool, user_id: str) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM treasury.bank_accounts WHERE user_id = $1", user_id)


async def test_an_account_is_created_read_back_and_its_bvn_masked_and_encrypted(
    app_client: AppClient, new_user: NewUser, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    bvn = random_bvn()
    async with app_client() as client:
        assert (await client.get("/treasury/accounts/me", headers=bearer(user))).status_code == 404
        created = await client.post(
            "/treasury/accounts", json=account_body(bvn), headers=bearer(user)
        )
        me = await client.get("/treasury/accounts/me", headers=bearer(user))
    assert created.status_code == 201, created.text
    account = created.json()
    assert account["bankName"] == "Wema Bank"
    assert account["accountName"] == "JOHN DOE"
    assert account["status"] == "active"
    assert account["balance"] == 0
    assert account["bvn"] == "*******" + bvn[-4:]
    assert is_valid_nuban(account["accountNumber"])
    assert me.json() == account
    assert bvn not in created.text + me.text
    (row,) = await rows_for(pool, user)
    assert bvn.encode() not in bytes(row["bvn_encrypted"])
    assert bvn.encode() not in bytes(row["bvn_hash"])


async def test_a_second_request_gets_409_with_the_existing_account_and_no_provider_call(
    app_client: AppClient, new_user: NewUser, bank: Bank
) -> None:
    user = await new_user()
    async with app_client() as client:
        first = await client.post("/treasury/accounts", json=account_body(), headers=bearer(user))
        again = await client.post("/treasury/accounts", json=account_body(), headers=bearer(user))
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["code"] == "account_exists"
    assert again.json()["account"] == first.json()
    assert len(bank.calls) == 1


async def test_twenty_concurrent_creations_by_one_user_make_one_account_and_one_call(
    app_client: AppClient, new_user: NewUser, bank: Bank, sandbox_transport: httpx.ASGITransport,
    pool: asyncpg.Pool,
) -> None:  # fmt: skip
    user = await new_user()
    async with app_client(wema_transport=Scripted(sandbox_transport, "slow")) as client:
        answers = await asyncio.gather(
            *(
                client.post("/treasury/accounts", json=account_body(), headers=bearer(user))
                for _ in range(20)
            )
        )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * 19
    assert len(bank.calls) == 1
    assert len(bank.by_reference) == 1
    assert len(await rows_for(pool, user)) == 1


async def test_a_bvn_linked_to_another_user_is_refused_exactly_as_the_bank_refuses_details(
    app_client: AppClient, new_user: NewUser, bank: Bank
) -> None:
    first, second, third = await new_user(), await new_user(), await new_user()
    bvn = random_bvn()
    async with app_client() as client:
        ok = await client.post("/treasury/accounts", json=account_body(bvn), headers=bearer(first))
        taken = await client.post(
            "/treasury/accounts", json=account_body(bvn), headers=bearer(second)
        )
        second_me = await client.get("/treasury/accounts/me", headers=bearer(second))
        calls_before_refusal = len(bank.calls)
        bank.failures.append(("reject", 0))
        refused_by_bank = await client.post(
            "/treasury/accounts", json=account_body(), headers=bearer(third)
        )
    assert ok.status_code == 201
    assert calls_before_refusal == 1  # the linked BVN never reached Wema
    assert refusal(taken) == refusal(refused_by_bank)
    assert refusal(taken)[0] == 422
    assert bvn not in taken.text
    assert second_me.status_code == 404


async def test_bad_fields_are_422_write_nothing_and_call_no_one(
    app_client: AppClient, new_user: NewUser, bank: Bank, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    body = account_body("123", firstName="J0hn", phoneNumber="+14155552671", email="nope")
    async with app_client() as client:
        answer = await client.post("/treasury/accounts", json=body, headers=bearer(user))
    assert answer.status_code == 422
    fields = {e["field"] for e in answer.json()["errors"]}
    assert fields == {"bvn", "firstName", "phoneNumber", "email"}
    assert await rows_for(pool, user) == []
    assert bank.calls == []


async def test_no_token_is_401_and_a_token_for_an_unknown_user_is_404(
    app_client: AppClient, bank: Bank
) -> None:
    async with app_client() as client:
        anonymous = await client.post("/treasury/accounts", json=account_body())
        stranger = await client.post(
            "/treasury/accounts", json=account_body(), headers=bearer("user-nobody-knows")
        )
    assert anonymous.status_code == 401
    assert stranger.status_code == 404
    assert stranger.json()["code"] == "wallet_not_found"  # the same answer topup gives
    assert bank.calls == []


async def test_a_lost_answer_is_504_and_the_retry_reuses_the_reference_so_wema_opens_one(
    app_client: AppClient, new_user: NewUser, bank: Bank, sandbox_transport: httpx.ASGITransport,
) -> None:  # fmt: skip
    user, body = await new_user(), account_body()
    async with app_client(wema_transport=Scripted(sandbox_transport, "lost")) as client:
        lost = await client.post("/treasury/accounts", json=body, headers=bearer(user))
        hidden = await client.get("/treasury/accounts/me", headers=bearer(user))
        retry = await client.post("/treasury/accounts", json=body, headers=bearer(user))
    assert lost.status_code == 504
    assert lost.headers["content-type"] == "application/problem+json"
    assert hidden.status_code == 404  # no half-made account is ever visible
    assert retry.status_code == 201
    assert len({call.reference for call in bank.calls}) == 1
    assert len(bank.calls) == 2
    (opened,) = bank.by_reference.values()
    assert retry.json()["accountNumber"] == opened["accountNumber"]


async def test_a_wema_5xx_is_502_and_a_retry_succeeds_with_the_same_reference(
    app_client: AppClient, new_user: NewUser, bank: Bank
) -> None:
    user, body = await new_user(), account_body()
    bank.failures.append(("error", 0))
    async with app_client() as client:
        failed = await client.post("/treasury/accounts", json=body, headers=bearer(user))
        retry = await client.post("/treasury/accounts", json=body, headers=bearer(user))
    assert failed.status_code == 502
    assert failed.json()["code"] == "provider_error"
    assert retry.status_code == 201
    assert len({call.reference for call in bank.calls}) == 1


async def test_a_refusal_by_wema_is_422_and_forgets_the_claim(
    app_client: AppClient, new_user: NewUser, bank: Bank, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    bank.failures.append(("reject", 0))
    async with app_client() as client:
        refused = await client.post("/treasury/accounts", json=account_body(), headers=bearer(user))
    assert refused.status_code == 422
    assert refused.json()["code"] == "provider_rejected"
    assert await rows_for(pool, user) == []


async def test_an_account_number_failing_the_nuban_check_is_never_stored(
    app_client: AppClient, new_user: NewUser, sandbox_transport: httpx.ASGITransport,
    pool: asyncpg.Pool,
) -> None:  # fmt: skip
    user = await new_user()
    async with app_client(wema_transport=Scripted(sandbox_transport, "bad_nuban")) as client:
        answer = await client.post("/treasury/accounts", json=account_body(), headers=bearer(user))
        me = await client.get("/treasury/accounts/me", headers=bearer(user))
    assert answer.status_code == 502
    assert me.status_code == 404
    (row,) = await rows_for(pool, user)
    assert row["status"] == "creating"
    assert row["account_number"] is None


async def test_an_idempotency_key_replays_the_first_answer(
    app_client: AppClient, new_user: NewUser, bank: Bank
) -> None:
    user = await new_user()
    body = account_body()
    headers = {**bearer(user), "Idempotency-Key": "open-account-1"}
    async with app_client() as client:
        first = await client.post("/treasury/accounts", json=body, headers=headers)
        replay = await client.post("/treasury/accounts", json=body, headers=headers)
        other_body = await client.post(
            "/treasury/accounts", json={**body, "firstName": "Jane"}, headers=headers
        )
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert other_body.status_code == 422
    assert len(bank.calls) == 1


async def test_a_replay_says_it_is_one_with_idempotent_replayed_true(
    app_client: AppClient, new_user: NewUser
) -> None:
    user, body = await new_user(), account_body()
    headers = {**bearer(user), "Idempotency-Key": "open-account-replayed"}
    async with app_client() as client:
        first = await client.post("/treasury/accounts", json=body, headers=headers)
        replay = await client.post("/treasury/accounts", json=body, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert "idempotent-replayed" not in first.headers
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Location"] == first.headers["Location"] == "/treasury/accounts/me"


async def test_a_128_character_subject_with_an_idempotency_key_opens_the_account_and_replays(
    app_client: AppClient, bank: Bank, pool: asyncpg.Pool
) -> None:
    user = ("user-" + uuid.uuid4().hex * 4)[:128]
    await pool.execute("INSERT INTO public.users (id) VALUES ($1)", user)
    body = account_body()
    headers = {**bearer(user), "Idempotency-Key": "k" * 255}
    async with app_client() as client:
        first = await client.post("/treasury/accounts", json=body, headers=headers)
        replay = await client.post("/treasury/accounts", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len(bank.calls) == 1
    scope = await pool.fetchval(
        "SELECT scope FROM treasury.idempotency_keys WHERE key = $1", "k" * 255
    )
    assert scope == stored_scope(f"accounts:{user}")  # too long for the column: its hash
