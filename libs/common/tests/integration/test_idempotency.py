import asyncio
import uuid

import asyncpg
import pytest

from betfuz_common.errors import Problem
from betfuz_common.idempotency import (
    Claim,
    IdempotencyStore,
    IdempotentRequest,
    Replay,
    fingerprint,
)

# Every service schema has the table; the topup one serves these library tests.
STORE = IdempotencyStore("topup")


def new_scope() -> str:
    return f"user-{uuid.uuid4().hex}"


def req(scope: str, key: str, payload: object) -> IdempotentRequest:
    return IdempotentRequest(scope, key, fingerprint(payload))


async def test_the_first_request_owns_the_key_and_a_replay_gets_its_response(
    pool: asyncpg.Pool,
) -> None:
    request = req(new_scope(), "k1", {"amount": 1})
    async with pool.acquire() as conn:
        assert await STORE.begin(conn, request) == Claim(resumed=False)
        await STORE.finish(conn, request, {"ok": True})
        replay = await STORE.begin(conn, request)
    assert replay == Replay({"ok": True})


async def test_the_same_key_with_a_different_body_is_422(pool: asyncpg.Pool) -> None:
    scope = new_scope()
    async with pool.acquire() as conn:
        await STORE.begin(conn, req(scope, "k", {"amount": 1}))
        with pytest.raises(Problem) as caught:
            await STORE.begin(conn, req(scope, "k", {"amount": 2}))
    assert (caught.value.status, caught.value.code) == (422, "idempotency_key_reused")


async def test_two_truly_concurrent_requests_one_owns_the_key_the_other_gets_409(
    pool: asyncpg.Pool,
) -> None:
    request = req(new_scope(), "same", {"amount": 5})
    gate = asyncio.Event()

    async def attempt() -> str:
        async with pool.acquire() as conn, conn.transaction():
            await gate.wait()
            try:
                result = await STORE.begin(conn, request)
            except Problem as problem:
                return str(problem.status)
            # Hold the transaction open, as a request doing its work would.
            await asyncio.sleep(0.2)
            return "owner" if isinstance(result, Claim) else "replay"

    tasks = [asyncio.create_task(attempt()) for _ in range(10)]
    await asyncio.sleep(0.05)
    gate.set()
    outcomes = sorted(await asyncio.gather(*tasks))
    assert outcomes.count("owner") == 1
    assert outcomes.count("409") == 9


async def test_a_released_key_can_be_used_again(pool: asyncpg.Pool) -> None:
    request = req(new_scope(), "k", {"a": 1})
    async with pool.acquire() as conn:
        await STORE.begin(conn, request)
        await STORE.release(conn, request)
        assert await STORE.begin(conn, request) == Claim(resumed=False)


async def test_an_expired_key_is_treated_as_new_and_purged(pool: asyncpg.Pool) -> None:
    scope = new_scope()
    async with pool.acquire() as conn:
        await STORE.begin(conn, req(scope, "old", {"a": 1}))
        await STORE.finish(conn, req(scope, "old", {"a": 1}), {})
        await conn.execute(
            "UPDATE topup.idempotency_keys SET expires_at = now() - interval '1 second' "
            "WHERE scope = $1",
            scope,
        )
        assert isinstance(await STORE.begin(conn, req(scope, "old", {"a": 2})), Claim)
        await conn.execute(
            "UPDATE topup.idempotency_keys SET expires_at = now() - interval '1 second' "
            "WHERE scope = $1",
            scope,
        )
        assert await STORE.purge_expired(conn) >= 1
        count = await conn.fetchval(
            "SELECT count(*) FROM topup.idempotency_keys WHERE scope = $1", scope
        )
    assert count == 0


async def test_a_stale_in_flight_key_can_be_taken_over_by_the_same_request(
    pool: asyncpg.Pool,
) -> None:
    request = req(new_scope(), "k", {"a": 1})
    async with pool.acquire() as conn:
        await STORE.begin(conn, request)
        await conn.execute(
            "UPDATE topup.idempotency_keys SET locked_until = now() - interval '1 second' "
            "WHERE scope = $1",
            request.scope,
        )
        assert await STORE.begin(conn, request) == Claim(resumed=True)


async def test_a_key_finished_by_the_previous_release_replays_without_a_result(
    pool: asyncpg.Pool,
) -> None:
    request = req(new_scope(), "k", {"a": 1})
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO topup.idempotency_keys (scope, key, request_hash, state, "
            "response_status, response_body, locked_until, expires_at) "
            "VALUES ($1, $2, $3, 'done', 201, '{}', now(), now() + interval '1 hour')",
            request.scope,
            request.key,
            request.fingerprint,
        )
        assert await STORE.begin(conn, request) == Replay(None)


async def test_a_subject_of_128_characters_fits_beside_the_operation_name(
    pool: asyncpg.Pool,
) -> None:
    request = req("accounts:" + "s" * 128, "k", {"a": 1})
    other = req("accounts:" + "s" * 127 + "t", "k", {"a": 1})
    async with pool.acquire() as conn:
        assert await STORE.begin(conn, request) == Claim(resumed=False)
        await STORE.finish(conn, request, {"ok": 1})
        assert await STORE.begin(conn, request) == Replay({"ok": 1})
        assert await STORE.begin(conn, other) == Claim(resumed=False)  # hashed, still distinct
