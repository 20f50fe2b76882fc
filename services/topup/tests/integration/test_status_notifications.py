"""Every settlement tells LISTENers on `topup_status_changed`, from the statement that settles
it, when its transaction commits: once per status change, never for a duplicate, never for a
settlement that rolled back."""

import asyncio
import json
from typing import Any

import asyncpg
import httpx
import pytest

from betfuz_testing.wallets import MakeUser
from topup import repository as repo

from .conftest import buy

CHANNEL = "topup_status_changed"


class Listener:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.received: list[dict[str, Any]] = []

    def on_notify(self, _conn: object, _pid: int, _channel: str, payload: object, /) -> None:
        assert isinstance(payload, str)
        self.received.append(json.loads(payload))

    async def settled_for(self, topup_id: str) -> list[dict[str, Any]]:
        # A notification travels after the commit: a round trip on this connection lets it in.
        await self.conn.execute("SELECT 1")
        await asyncio.sleep(0.05)
        return [note for note in self.received if note["topup_id"] == topup_id]


@pytest.fixture
async def listener(database_url: str) -> Any:
    conn = await asyncpg.connect(database_url)
    listening = Listener(conn)
    await conn.add_listener(CHANNEL, listening.on_notify)
    yield listening
    await conn.close()


async def test_a_completed_purchase_is_announced_once_with_its_status(
    client: httpx.AsyncClient, make_user: MakeUser, listener: Listener
) -> None:
    user = await make_user(5000)
    body = (await buy(client, user, amount=1000)).json()
    assert await listener.settled_for(body["transactionId"]) == [
        {
            "topup_id": body["transactionId"],
            "user_id": user,
            "status": "completed",
            "reference": body["reference"],
        }
    ]


async def test_a_failed_purchase_is_announced_as_failed(
    client: httpx.AsyncClient, make_user: MakeUser, listener: Listener
) -> None:
    user = await make_user(5000)
    body = (await buy(client, user, phone="+2348030000002", amount=1000)).json()  # answered 051
    notes = await listener.settled_for(body["transactionId"])
    assert [note["status"] for note in notes] == ["failed"]


async def test_a_duplicate_settlement_and_a_rolled_back_one_announce_nothing(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser, listener: Listener
) -> None:
    user = await make_user(5000)
    done = (await buy(client, user, amount=1000)).json()
    pending = (await buy(client, user, phone="+2348030000003", amount=1000)).json()
    async with pool.acquire() as conn, conn.transaction():
        assert await repo.complete_pending(conn, done["reference"], None, None) is None
    async with pool.acquire() as conn:
        settling = conn.transaction()
        await settling.start()
        assert await repo.complete_pending(conn, pending["reference"], None, None) is not None
        await settling.rollback()  # the settling transaction fails after the status change
    assert len(await listener.settled_for(done["transactionId"])) == 1
    assert await listener.settled_for(pending["transactionId"]) == []
