"""Worker decisions against an in-memory chain and the real database: batching, recovery
after a crash at each step, stuck transactions, backoff."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from betfuz_common.money import to_kobo
from ledger.bet_encoding import bet_hash
from ledger.metrics import LedgerMetrics
from ledger.ports import LedgerChainPort, Recording
from ledger.worker import TICK_LOCK_KEY, Worker, WorkerConfig
from services.ledger.tests.integration.fake_chain import FakeChain, FakeTx
from services.ledger.tests.integration.support import (
    SETTLED,
    Slip,
    add_slips,
    big_wins,
    entries_by_slip,
)

START = datetime(2025, 2, 1, 9, 0, tzinfo=UTC)
CONFIG = WorkerConfig(
    network="polygon-amoy",
    batch_size=3,
    finality_timeout=0.05,
    recheck_seconds=10,
    retry_base_seconds=30,
    retry_max_seconds=100,
)


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


async def statuses(pool: asyncpg.Pool) -> dict[str, str]:
    return {sid: row["status"] for sid, row in (await entries_by_slip(pool)).items()}


async def set_entries(pool: asyncpg.Pool, sql: str, *args: object) -> None:
    async with pool.acquire() as conn:
        await conn.execute(f"UPDATE ledger.ledger_entries SET {sql}", *args)  # noqa: S608


async def test_sends_every_due_win_in_batches_of_the_configured_size_with_exact_kobo(
    ledger_pool: asyncpg.Pool, worker: Worker, fake: FakeChain
) -> None:
    wins = big_wins(7)
    await add_slips(ledger_pool, wins)

    result = await worker.tick()

    assert [len(batch) for batch in fake.sent_batches] == [3, 3, 1]
    sent = {bet.bet_hash: bet.amount_kobo for batch in fake.sent_batches for bet in batch}
    assert sent == {bet_hash(sid): to_kobo(win) for sid, _, win, _ in wins}
    assert result.confirmed == 7
    assert set((await statuses(ledger_pool)).values()) == {"confirmed"}


async def test_the_bet_hash_is_the_sha256_of_the_utf8_bet_id_even_for_non_ascii_ids(
    ledger_pool: asyncpg.Pool, worker: Worker
) -> None:
    odd_id = "bet_ñandú_😀"
    await add_slips(ledger_pool, [(odd_id, "won", Decimal("1000000"), SETTLED)])

    await worker.tick()

    entry = (await entries_by_slip(ledger_pool))[odd_id]
    assert entry["bet_hash"] == bet_hash(odd_id).hex()


async def test_an_entry_already_on_chain_from_a_crashed_send_is_confirmed_without_a_send(
    ledger_pool: asyncpg.Pool, worker: Worker, fake: FakeChain, clock: Clock
) -> None:
    [win] = big_wins(1)
    await add_slips(ledger_pool, [win])
    fake.send_error = RuntimeError("boom")
    await worker.tick()  # claims the win; the send fails
    fake.send_error = None
    # What a crash between the send and the write leaves: marked as sending, no tx hash,
    # the win on chain.
    await set_entries(ledger_pool, "search_from_block = 90, status = 'pending'")
    fake.records[bet_hash(win[0])] = Recording("0x" + "ab" * 32, 95, to_kobo(win[2]))
    clock.advance(3600)

    result = await worker.tick()

    assert (result.sent, result.confirmed) == (0, 1)
    entry = (await entries_by_slip(ledger_pool))[win[0]]
    assert (entry["status"], entry["tx_hash"], entry["block_number"]) == (
        "confirmed",
        "0x" + "ab" * 32,
        95,
    )


async def test_an_entry_marked_as_sending_but_not_on_chain_is_sent_again(
    ledger_pool: asyncpg.Pool, worker: Worker, fake: FakeChain
) -> None:
    [win] = big_wins(1)
    await add_slips(ledger_pool, [win])
    fake.send_error = RuntimeError("the process died here")
    await worker.tick()
    fake.send_error = None
    await set_entries(
        ledger_pool, "search_from_block = 90, status = 'pending', next_attempt_at = $1", START
    )

    result = await worker.tick()

    assert (result.sent, result.confirmed) == (1, 1)


async def test_a_transaction_the_node_dropped_is_sent_again(
    ledger_pool: asyncpg.Pool, worker: Worker, fake: FakeChain
) -> None:
    wins = big_wins(2)
    await add_slips(ledger_pool, wins)
    fake.mine_on_send = False
    await worker.tick()  # sent, never mined, replaced: both wait as `submitted`
    for tx in fake.txs.values():
        tx.state = "dropped"  # e.g. evicted from the mempool
    fake.mine_on_send = True
    await set_entries(ledger_pool, "next_attempt_at = $1", START)

    result = await worker.tick()

    assert (result.sent, result.confirmed) == (2, 2)
    assert len(fake.txs) == 3  # original, its replacement, the fresh send after the drop


async def test_a_stuck_transaction_is_replaced_with_bumped_fees_and_confirmed_once_mined(
    ledger_pool: asyncpg.Pool, worker: Worker, fake: FakeChain, clock: Clock
) -> None:
    wins = big_wins(3)
    await add_slips(ledger_pool, wins)
    fake.mine_on_send = False

    first = await worker.tick()

    [original, replacement] = list(fake.txs)
    assert fake.replaced == [original]
    assert (first.sent, first.waiting, first.confirmed) == (3, 3, 0)
    entries = await entries_by_slip(ledger_pool)
    for entry in entries.values():
        assert entry["status"] == "submitted"
        assert entry["tx_hash"] == replacement
        assert list(entry["sent_tx_hashes"]) == [original, replacement]
        assert entry["next_attempt_at"] == START + timedelta(seconds=CONFIG.recheck_seconds)

    fake.mine(replacement)
    clock.advance(CONFIG.recheck_seconds)
    second = await worker.tick()

    assert (second.sent, second.confirmed) == (0, 3)
    assert {e["tx_hash"] for e in (await entries_by_slip(ledger_pool)).values()} == {replacement}


async def test_a_recording_not_final_yet_waits_and_is_confirmed_when_it_is(
    ledger_pool: asyncpg.Pool, worker: Worker, fake: FakeChain, clock: Clock
) -> None:
    wins = big_wins(2)
    await add_slips(ledger_pool, wins)
    fake.final = False

    first = await worker.tick()

    assert first.waiting == 2
    assert set((await statuses(ledger_pool)).values()) == {"submitted"}
    fake.final = True
    clock.advance(CONFIG.recheck_seconds)
    second = await worker.tick()
    assert (second.sent, second.confirmed) == (0, 2)


async def test_a_reverted_transaction_marks_the_batch_failed_and_the_retry_records_it(
    ledger_pool: asyncpg.Pool, worker: Worker, fake: FakeChain, clock: Clock
) -> None:
    wins = big_wins(2)
    await add_slips(ledger_pool, wins)
    fake.revert_on_mine = True

    first = await worker.tick()

    assert first.failed == 2
    entry = next(iter((await entries_by_slip(ledger_pool)).values()))
    assert entry["status"] == "failed"
    assert "reverted" in entry["error_message"]
    fake.revert_on_mine = False
    clock.advance(CONFIG.retry_base_seconds)
    second = await worker.tick()
    assert (second.sent, second.confirmed) == (2, 2)


async def test_failed_and_confirmed_recordings_are_counted_for_the_alerts(
    ledger_pool: asyncpg.Pool,
    worker: Worker,
    fake: FakeChain,
    clock: Clock,
    registry: CollectorRegistry,
) -> None:
    await add_slips(ledger_pool, big_wins(2))
    fake.revert_on_mine = True
    await worker.tick()
    assert registry.get_sample_value("ledger_entries_failed_total") == 2
    assert registry.get_sample_value("ledger_entries_confirmed_total") == 0
    fake.revert_on_mine = False
    clock.advance(CONFIG.retry_base_seconds)
    await worker.tick()
    assert registry.get_sample_value("ledger_entries_failed_total") == 2
    assert registry.get_sample_value("ledger_entries_confirmed_total") == 2


async def test_failures_back_off_exponentially_up_to_the_cap(
    ledger_pool: asyncpg.Pool, worker: Worker, fake: FakeChain, clock: Clock
) -> None:
    [win] = big_wins(1)
    await add_slips(ledger_pool, [win])
    fake.send_error = ConnectionError("node unreachable")
    delays = []
    for _ in range(4):
        await worker.tick()
        entry = (await entries_by_slip(ledger_pool))[win[0]]
        delays.append((entry["next_attempt_at"] - clock.now).total_seconds())
        assert entry["status"] == "failed"
        assert entry["error_message"] == "ConnectionError: node unreachable"
        clock.now = entry["next_attempt_at"]

    assert delays == [30, 60, 100, 100]
    assert entry["attempts"] == 4


async def test_entries_not_due_yet_are_left_alone(
    ledger_pool: asyncpg.Pool, worker: Worker, fake: FakeChain
) -> None:
    wins = big_wins(2)
    await add_slips(ledger_pool, wins)
    fake.send_error = ConnectionError("down")
    await worker.tick()
    fake.send_error = None

    result = await worker.tick()

    assert (result.sent, result.confirmed) == (0, 0)
    assert set((await statuses(ledger_pool)).values()) == {"failed"}


async def test_a_tick_is_skipped_while_another_worker_holds_the_lock(
    ledger_pool: asyncpg.Pool, worker: Worker, fake: FakeChain
) -> None:
    await add_slips(ledger_pool, big_wins(1))
    async with ledger_pool.acquire() as other:
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", TICK_LOCK_KEY)
        try:
            result = await worker.tick()
        finally:
            await other.execute("SELECT pg_advisory_unlock($1)", TICK_LOCK_KEY)

    assert not result.ran
    assert fake.txs == {}
    assert await statuses(ledger_pool) == {}


async def test_the_claim_scan_uses_the_partial_index_on_settled_wins(
    ledger_pool: asyncpg.Pool,
) -> None:
    async with ledger_pool.acquire() as conn:
        await conn.execute("SET enable_seqscan = off")  # a tiny table: force the planner's hand
        rows = await conn.fetch(
            """EXPLAIN SELECT bs.id FROM public.bet_slips bs
               WHERE bs.status = 'won' AND bs.potential_win >= 1000000
                 AND bs.settled_at IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM ledger.ledger_entries le
                                 WHERE le.bet_slip_id = bs.id)"""
        )
        await conn.execute("RESET enable_seqscan")
    plan = "\n".join(row[0] for row in rows)
    assert "bet_slips_settled_wins_by_amount" in plan, plan


# ---------------------------------------------------------------- wins that can never be recorded

# What a bet slip may hold (NUMERIC(20, 2)) and the contract never can (uint56 kobo).
TOO_BIG_FOR_THE_CONTRACT = Decimal("999999999999999999.99")


async def test_a_win_the_contract_cannot_hold_is_set_aside_and_the_rest_of_its_batch_is_recorded(
    ledger_pool: asyncpg.Pool,
    worker: Worker,
    fake: FakeChain,
    clock: Clock,
    registry: CollectorRegistry,
) -> None:
    wins = big_wins(5)
    # settled between the first and the second valid win: it falls in the first batch of 3
    bad = ("bet_too_big", "won", TOO_BIG_FOR_THE_CONTRACT, SETTLED + timedelta(seconds=0.5))
    await add_slips(ledger_pool, [*wins, bad])

    with capture_logs() as logs:
        result = await worker.tick()

    assert (result.claimed, result.confirmed, result.set_aside) == (6, 5, 1)
    sent = [bet.bet_hash for batch in fake.sent_batches for bet in batch]
    assert sorted(sent) == sorted(bet_hash(sid) for sid, _, _, _ in wins)
    assert [len(batch) for batch in fake.sent_batches] == [2, 3]
    entries = await entries_by_slip(ledger_pool)
    assert {entries[sid]["status"] for sid, _, _, _ in wins} == {"confirmed"}
    refused = entries["bet_too_big"]
    assert refused["status"] == "failed"
    assert refused["error_message"] == (
        "Unrecordable: amount out of range for the ledger: 999999999999999999.99 "
        "(at most 72057594037927935 kobo)"
    )
    assert refused["set_aside_at"] == START
    assert refused["win_amount"] == TOO_BIG_FOR_THE_CONTRACT  # kept exactly as the slip says
    [logged] = [e for e in logs if e["event"] == "ledger_entry_set_aside"]
    assert logged["log_level"] == "error"
    assert logged["bet_slip_id"] == "bet_too_big"
    assert registry.get_sample_value("ledger_entries_set_aside_total") == 1

    for _ in range(3):  # far past every backoff: it is never picked again
        clock.advance(CONFIG.retry_max_seconds * 10)
        later = await worker.tick()
        assert (later.sent, later.failed, later.set_aside) == (0, 0, 0)
    assert len(fake.sent_batches) == 2
    assert (await entries_by_slip(ledger_pool))["bet_too_big"] == refused
    assert registry.get_sample_value("ledger_entries_set_aside_total") == 1


async def test_an_entry_whose_stored_hash_is_not_its_bet_slips_is_set_aside_and_never_sent(
    ledger_pool: asyncpg.Pool, worker: Worker, fake: FakeChain
) -> None:
    [win, other] = big_wins(2)
    await add_slips(ledger_pool, [win, other])
    fake.send_error = ConnectionError("down")
    await worker.tick()  # claims both
    fake.send_error = None
    # An altered row: it would write this win under another bet's hash.
    await set_entries(
        ledger_pool,
        "bet_hash = $1, next_attempt_at = $2 WHERE bet_slip_id = $3",
        bet_hash("bet_someone_else").hex(),
        START,
        win[0],
    )
    await set_entries(ledger_pool, "next_attempt_at = $1", START)

    result = await worker.tick()

    assert (result.confirmed, result.set_aside) == (1, 1)
    assert [bet.bet_hash for bet in fake.sent_batches[-1]] == [bet_hash(other[0])]
    entry = (await entries_by_slip(ledger_pool))[win[0]]
    assert entry["status"] == "failed"
    assert entry["set_aside_at"] is not None
    assert "bet hash" in entry["error_message"]


async def test_an_entry_set_aside_stays_as_it_is_while_the_chain_is_unreachable(
    ledger_pool: asyncpg.Pool, worker: Worker, clock: Clock
) -> None:
    await add_slips(
        ledger_pool, [("bet_too_big", "won", TOO_BIG_FOR_THE_CONTRACT, SETTLED), *big_wins(1)]
    )
    await worker.tick()
    before = (await entries_by_slip(ledger_pool))["bet_too_big"]

    def unreachable() -> AbstractAsyncContextManager[LedgerChainPort]:
        raise ConnectionError("node unreachable")

    down = Worker(ledger_pool, unreachable, CONFIG, clock=clock)
    await add_slips(ledger_pool, big_wins(1, prefix="later"))
    clock.advance(CONFIG.retry_max_seconds * 10)
    outage = await down.tick()

    assert outage.failed == 1  # the new win, not the one set aside
    assert (await entries_by_slip(ledger_pool))["bet_too_big"] == before


UNUSED: Callable[..., object] | FakeTx | None = None


async def test_between_sweeps_the_claim_takes_recent_wins_and_the_next_sweep_takes_late_old_ones(
    ledger_pool: asyncpg.Pool, fake: FakeChain, clock: Clock
) -> None:
    """Between full sweeps the claim reads only wins settled within the window (the database's
    clock): a win settled long ago that turns up late is not lost, the next sweep takes it."""
    config = replace(CONFIG, claim_window_seconds=3600, claim_sweep_seconds=3600)
    worker = Worker(ledger_pool, fake.factory(), config, clock=clock)
    first = big_wins(2)
    await add_slips(ledger_pool, first)
    assert (await worker.tick()).claimed == 2  # the first tick is a full sweep

    now = datetime.now(UTC)
    recent: list[Slip] = [
        (f"recent_{i}", "won", Decimal(2_000_000), now - timedelta(minutes=5)) for i in "ab"
    ]
    old: list[Slip] = [
        (f"old_{i}", "won", Decimal(2_000_000), now - timedelta(days=2)) for i in "ab"
    ]
    await add_slips(ledger_pool, recent + old)
    assert (await worker.tick()).claimed == 2
    assert {"recent_a", "recent_b"} <= set(await entries_by_slip(ledger_pool))
    assert not {"old_a", "old_b"} & set(await entries_by_slip(ledger_pool))

    sweeping = Worker(ledger_pool, fake.factory(), replace(config, claim_sweep_seconds=0))
    assert (await sweeping.tick()).claimed == 2
    assert {"old_a", "old_b"} <= set(await entries_by_slip(ledger_pool))
