"""Ledger cases and their actions on the real database, over the ops API in-process: an entry
that fails past its retries or can never be recorded becomes a case; `retry` puts it back in
the queue once and the slip is recorded once; `dismiss` waits for a second ops user.

The worker runs against the in-memory chain here (fake_chain.py); test_audit.py and the last
test below use anvil.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry

from betfuz_testing.anvil import Anvil
from betfuz_testing.tokens import bearer
from ledger.app import create_app, read_metrics
from ledger.bet_encoding import bet_hash
from ledger.chain import connect
from ledger.metrics import LedgerMetrics
from ledger.ports import ChainFactory, Recording
from ledger.worker import Worker, WorkerConfig
from services.ledger.tests.integration.fake_chain import FakeChain
from services.ledger.tests.integration.support import (
    SettingsFactory,
    add_slips,
    big_wins,
    chain_stats,
    entries_by_slip,
    make_worker,
    settings_for,
)

# Now, not a fixed date: an ops retry makes its entry due at the database's now().
START = datetime.now(UTC).replace(microsecond=0)
CONFIG = WorkerConfig(
    network="polygon-amoy",
    batch_size=10,
    finality_timeout=0.05,
    recheck_seconds=10,
    retry_base_seconds=30,
    retry_max_seconds=100,
    max_attempts=3,
)
ADA, BOLA = bearer("ops-ada", ["ops"]), bearer("ops-bola", ["ops"])


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake() -> FakeChain:
    return FakeChain()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def worker(
    ledger_pool: asyncpg.Pool, fake: FakeChain, clock: Clock, registry: CollectorRegistry
) -> Worker:
    return Worker(ledger_pool, fake.factory(), CONFIG, clock=clock, metrics=LedgerMetrics(registry))


@asynccontextmanager
async def ops_client(
    ledger_db: str, rpc_url: str, open_chain: ChainFactory | None, contract: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(settings_for(ledger_db, rpc_url, contract), chain_factory=open_chain)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://ledger.test") as http:
            yield http


@pytest.fixture
async def client(ledger_db: str, fake: FakeChain) -> AsyncIterator[httpx.AsyncClient]:
    async with ops_client(ledger_db, "http://127.0.0.1:9", fake.factory()) as http:
        yield http


async def open_cases(client: httpx.AsyncClient, kind: str | None = None) -> list[dict[str, Any]]:
    page = await client.get("/ledger/ops/cases", params={"limit": "100"}, headers=ADA)
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return [case for case in items if kind is None or case["kind"] == kind]


async def fail_past_retries(worker: Worker, fake: FakeChain, clock: Clock) -> None:
    fake.send_error = RuntimeError("gas required exceeds allowance")
    for _ in range(CONFIG.max_attempts):
        await worker.tick()
        clock.advance(CONFIG.retry_max_seconds + 1)


async def act(
    client: httpx.AsyncClient, case_id: int, action: str, headers: dict[str, str] = ADA
) -> httpx.Response:
    body = {"action": action, "reason": "checked with the node operator"}
    return await client.post(f"/ledger/ops/cases/{case_id}/actions", json=body, headers=headers)


async def test_an_entry_that_fails_past_its_retries_leaves_the_queue_as_an_entry_failing_case(
    ledger_pool: asyncpg.Pool,
    worker: Worker,
    fake: FakeChain,
    clock: Clock,
    client: httpx.AsyncClient,
    registry: CollectorRegistry,
) -> None:
    (win,) = big_wins(1)
    await add_slips(ledger_pool, [win])
    fake.send_error = RuntimeError("gas required exceeds allowance")

    for attempt in range(1, CONFIG.max_attempts):
        await worker.tick()
        clock.advance(CONFIG.retry_max_seconds + 1)
        assert (await entries_by_slip(ledger_pool))[win[0]]["set_aside_at"] is None, attempt
        assert await open_cases(client) == []
    last = await worker.tick()

    entry = (await entries_by_slip(ledger_pool))[win[0]]
    assert (entry["status"], entry["attempts"], entry["set_aside_at"]) == ("failed", 3, clock.now)
    assert (last.failed, last.set_aside) == (1, 1)
    (case,) = await open_cases(client)
    assert case["kind"] == "entry_failing"
    assert case["refs"] == {
        "betSlipId": win[0],
        "entryId": entry["id"],
        "txHash": None,
        "blockNumber": None,
    }
    assert case["amounts"] == [
        {
            "name": "payout",
            "amount": float(win[2]),
            "amountKobo": int(win[2] * 100),
            "currency": "NGN",
        }
    ]
    assert "gas required exceeds allowance" in case["reason"]
    assert case["allowedActions"] == ["retry", "dismiss"]
    assert registry.get_sample_value("ledger_entries_failed_total") == 3

    clock.advance(24 * 3600)  # past every backoff: it stays out of the queue
    assert (await worker.tick()).failed == 0
    assert len(fake.txs) == 0


async def test_a_retry_puts_the_entry_back_once_and_the_slip_is_recorded_once(
    ledger_pool: asyncpg.Pool,
    worker: Worker,
    fake: FakeChain,
    clock: Clock,
    client: httpx.AsyncClient,
) -> None:
    wins = big_wins(2)
    await add_slips(ledger_pool, wins)
    await fail_past_retries(worker, fake, clock)
    cases = await open_cases(client, "entry_failing")
    assert len(cases) == 2
    target = next(c for c in cases if c["refs"]["betSlipId"] == wins[0][0])

    answers = await asyncio.gather(*(act(client, target["id"], "retry") for _ in range(10)))

    assert sorted(a.status_code for a in answers) == [201] + [409] * 9
    applied = next(a.json() for a in answers if a.status_code == 201)
    assert (applied["status"], applied["needsApproval"], applied["movesMoney"]) == (
        "applied",
        False,
        False,
    )
    assert applied["outcome"]["requeued"] is True
    entry = (await entries_by_slip(ledger_pool))[wins[0][0]]
    assert (entry["set_aside_at"], entry["attempts"], entry["ops_retries"]) == (None, 0, 1)

    fake.send_error = None
    result = await worker.tick()
    again = await worker.tick()

    assert (result.sent, result.confirmed, again.sent) == (1, 1, 0)
    assert [bet.bet_hash for bet in fake.sent_batches[0]] == [bet_hash(wins[0][0])]
    assert len(fake.records) == 1
    entries = await entries_by_slip(ledger_pool)
    assert entries[wins[0][0]]["status"] == "confirmed"
    assert entries[wins[1][0]]["set_aside_at"] is not None  # its own case still waits
    remaining = await open_cases(client, "entry_failing")
    assert [c["refs"]["betSlipId"] for c in remaining] == [wins[1][0]]


async def test_a_retry_of_a_win_already_on_chain_confirms_it_from_its_event_without_a_send(
    ledger_pool: asyncpg.Pool,
    worker: Worker,
    fake: FakeChain,
    clock: Clock,
    client: httpx.AsyncClient,
) -> None:
    (win,) = big_wins(1)
    await add_slips(ledger_pool, [win])
    await fail_past_retries(worker, fake, clock)
    # Recorded after all, by a transaction whose answer never reached us.
    fake.block += 1
    fake.records[bet_hash(win[0])] = Recording("0x" + "77" * 32, fake.block, int(win[2] * 100))
    fake.send_error = None
    (case,) = await open_cases(client)
    assert (await act(client, case["id"], "retry")).status_code == 201

    result = await worker.tick()

    assert (result.sent, result.confirmed, len(fake.txs)) == (0, 1, 0)
    entry = (await entries_by_slip(ledger_pool))[win[0]]
    assert (entry["status"], entry["tx_hash"], entry["block_number"]) == (
        "confirmed",
        "0x" + "77" * 32,
        fake.block,
    )


async def test_a_retried_entry_that_fails_past_its_retries_again_opens_a_new_case(
    ledger_pool: asyncpg.Pool,
    worker: Worker,
    fake: FakeChain,
    clock: Clock,
    client: httpx.AsyncClient,
) -> None:
    await add_slips(ledger_pool, big_wins(1))
    await fail_past_retries(worker, fake, clock)
    (first,) = await open_cases(client)
    assert (await act(client, first["id"], "retry")).status_code == 201

    await fail_past_retries(worker, fake, clock)

    (second,) = await open_cases(client)
    assert second["id"] != first["id"]
    assert second["subject"].endswith("/round-1")


async def test_a_dismissal_waits_for_a_second_ops_user_and_leaves_the_entry_set_aside(
    ledger_pool: asyncpg.Pool,
    worker: Worker,
    fake: FakeChain,
    clock: Clock,
    client: httpx.AsyncClient,
) -> None:
    (win,) = big_wins(1)
    await add_slips(ledger_pool, [win])
    await fail_past_retries(worker, fake, clock)
    (case,) = await open_cases(client)

    proposed = await act(client, case["id"], "dismiss")
    assert (proposed.status_code, proposed.json()["status"]) == (201, "proposed")
    action = proposed.json()["id"]
    own = await client.post(f"/ledger/ops/actions/{action}/approve", json={}, headers=ADA)
    assert (own.status_code, own.json()["code"]) == (403, "four_eyes")
    assert len(await open_cases(client)) == 1

    approved = await client.post(f"/ledger/ops/actions/{action}/approve", json={}, headers=BOLA)

    assert (approved.status_code, approved.json()["status"]) == (201, "applied")
    assert approved.json()["outcome"]["dismissed"] is True
    assert await open_cases(client) == []
    detail = (await client.get(f"/ledger/ops/cases/{case['id']}", headers=ADA)).json()
    assert (detail["status"], detail["resolution"]) == ("resolved", "dismiss")
    assert [(h["proposedBy"], h["decidedBy"]) for h in detail["history"]] == [
        ("ops-ada", "ops-bola")
    ]
    entry = (await entries_by_slip(ledger_pool))[win[0]]
    assert (entry["status"], entry["set_aside_at"] is not None) == ("failed", True)
    fake.send_error = None
    clock.advance(24 * 3600)
    assert (await worker.tick()).sent == 0


async def test_an_unrecordable_entry_becomes_a_case_that_offers_no_retry(
    ledger_pool: asyncpg.Pool, worker: Worker, client: httpx.AsyncClient
) -> None:
    (win,) = big_wins(1)
    beyond_the_contract = (win[0], "won", Decimal("800000000000000.00"), win[3])
    await add_slips(ledger_pool, [beyond_the_contract])

    result = await worker.tick()

    assert result.set_aside == 1
    (case,) = await open_cases(client)
    assert case["kind"] == "entry_unrecordable"
    assert case["allowedActions"] == ["dismiss"]
    assert "amount out of range" in case["reason"]
    refused = await act(client, case["id"], "retry")
    assert (refused.status_code, refused.json()["code"]) == (422, "action_not_offered")


async def test_only_ops_tokens_reach_the_ledger_ops_api(client: httpx.AsyncClient) -> None:
    for headers in (bearer("officer-1", ["compliance"]), bearer("root", ["admin"]), bearer("p1")):
        answer = await client.get("/ledger/ops/cases", headers=headers)
        assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
    assert (await client.get("/ledger/ops/cases")).status_code == 401
    assert (await client.get("/ledger/ops/audit", headers=ADA)).status_code == 200


async def test_an_empty_case_id_is_a_404_problem_not_a_redirect(client: httpx.AsyncClient) -> None:
    for path in ("/ledger/ops/cases/", "/ledger/ops/cases//", "/ledger/entries/"):
        answer = await client.get(path, headers=ADA)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "application/problem+json"


async def test_the_backlog_gauge_counts_the_entries_the_worker_still_has_to_record(
    ledger_pool: asyncpg.Pool, worker: Worker, fake: FakeChain, clock: Clock
) -> None:
    await add_slips(ledger_pool, big_wins(4))
    fake.send_error = RuntimeError("node refused")
    await worker.tick()
    registry = CollectorRegistry()
    metrics = LedgerMetrics(registry)

    await read_metrics(ledger_pool, metrics)
    assert registry.get_sample_value("ledger_backlog_entries") == 4

    fake.send_error = None
    clock.advance(CONFIG.retry_max_seconds + 1)
    await worker.tick()
    await read_metrics(ledger_pool, metrics)
    assert registry.get_sample_value("ledger_backlog_entries") == 0
    assert registry.get_sample_value("ledger_audit_mismatches_total") == 0
    assert registry.get_sample_value("ledger_audit_last_run_timestamp_seconds") == 0


async def test_on_anvil_a_win_refused_by_the_contract_becomes_a_case_and_a_retry_records_it_once(
    ledger_pool: asyncpg.Pool,
    ledger_db: str,
    anvil: Anvil,
    chain_settings: SettingsFactory,
) -> None:
    (win,) = big_wins(1)
    await add_slips(ledger_pool, [win])
    settings = chain_settings(ledger_max_attempts=2, ledger_retry_base_seconds=0)
    address = str(settings.ledger_contract_address)
    key = settings.ledger_private_key.get_secret_value()
    async with connect(anvil.rpc_url, key, address) as admin:
        await admin.revoke_recorder(admin.sender_address)  # every recordBets now reverts

    for _ in range(2):
        await make_worker(ledger_pool, settings).tick()

    async with ops_client(ledger_db, anvil.rpc_url, None, address) as client:
        (case,) = await open_cases(client)
        assert case["kind"] == "entry_failing"
        assert "Unauthorized" in case["reason"]
        async with connect(anvil.rpc_url, key, address) as admin:
            await admin.grant_recorder(admin.sender_address)
        assert (await act(client, case["id"], "retry")).status_code == 201
        assert (await act(client, case["id"], "retry")).json()["code"] == "case_resolved"

        recorded = await make_worker(ledger_pool, settings).tick()
        again = await make_worker(ledger_pool, settings).tick()

        assert (recorded.sent, recorded.confirmed, again.sent) == (1, 1, 0)
        assert await chain_stats(settings) == (1, int(win[2] * 100))
        assert (await entries_by_slip(ledger_pool))[win[0]]["status"] == "confirmed"
        assert await open_cases(client) == []
