import asyncio
import uuid

import asyncpg
import pytest

from betfuz_common.errors import Problem
from betfuz_common.idempotency import Claim, IdempotencyStore, Replay, fingerprint

# Every service schema has the table; the topup one serves these library tests.
STORE = IdempotencyStore("topup")


def new_scope() -> str:
    return f"user-{uuid.uuid4().hex}"


async def test_the_first_request_owns_the_key_and_a_replay_gets_its_response(
    pool: asyncpg.Pool,
) -> None:
    scope, key, digest = new_scope(), "k1", fingerprint({"amount": 1})
    async with pool.acquire() as conn:
        assert await STORE.begin(conn, scope, key, digest) == Claim(resumed=False)
        await STORE.finish(conn, scope, key, 201, b'{"ok":true}')
        replay = await STORE.begin(conn, scope, key, digest)
    assert replay == Replay(201, b'{"ok":true}')


async def test_the_same_key_with_a_different_body_is_422(pool: asyncpg.Pool) -> None:
    scope = new_scope()
    async with pool.acquire() as conn:
        await STORE.begin(conn, scope, "k", fingerprint({"amount": 1}))
        with pytest.raises(Problem) as caught:
            await STORE.begin(conn, scope, "k", fingerprint({"amount": 2}))
    assert caught.value.status == 422


async def test_two_truly_concurrent_requests_one_owns_the_key_the_other_gets_409(
    pool: asyncpg.Pool,
) -> None:
    scope, digest = new_scope(), fingerprint({"amount": 5})
    gate = asyncio.Event()

    async def attempt() -> str:
        async with pool.acquire() as conn, conn.transaction():
            await gate.wait()
            try:
                result = await STORE.begin(conn, scope, "same", digest)
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
    scope, digest = new_scope(), fingerprint({"a": 1})
    async with pool.acquire() as conn:
        await STORE.begin(conn, scope, "k", digest)
        await STORE.release(conn, scope, "k")
        assert await STORE.begin(conn, scope, "k", digest) == Claim(resumed=False)


async def test_an_expired_key_is_treated_as_new_and_purged(pool: asyncpg.Pool) -> None:
    scope = new_scope()
    async with pool.acquire() as conn:
        await STORE.begin(conn, scope, "old", fingerprint({"a": 1}))
        await STORE.finish(conn, scope, "old", 201, b"{}")
        await conn.execute(
            "UPDATE topup.idempotency_keys SET expires_at = now() - interval '1 second' "
            "WHERE scope = $1",
            scope,
        )
        assert isinstance(await STORE.begin(conn, scope, "old", fingerprint({"a": 2})), Claim)
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
    scope, digest = new_scope(), fingerprint({"a": 1})
    async with pool.acquire() as conn:
        await STORE.begin(conn, scope, "k", digest)
        await conn.execute(
            "UPDATE topup.idempotency_keys SET locked_until = now() - interval '1 second' "
            "WHERE scope = $1",
            scope,
        )
        assert await STORE.begin(conn, scope, "k", digest) == Claim(resumed=True)
