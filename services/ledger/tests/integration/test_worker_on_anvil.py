"""The recording worker end to end: real PostgreSQL, real anvil, the real BetLedger."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from betfuz_common.money import to_kobo
from betfuz_testing.processes import free_port
from ledger.bet_encoding import bet_hash
from ledger.chain import connect
from ledger.ports import BetToRecord, Finality, LedgerChainPort
from services.ledger.tests.integration.support import (
    SettingsFactory,
    add_slips,
    big_wins,
    chain_stats,
    entries_by_slip,
    make_worker,
    non_qualifying,
)

pytestmark = pytest.mark.chain


class SimulatedCrash(BaseException):
    """Stands for the process dying: a BaseException, so nothing in the worker catches it."""


class CrashAfterSend:
    """Sends for real, then dies before the worker can store the transaction hash."""

    def __init__(self, chain: LedgerChainPort) -> None:
        self._chain = chain
        self.sent: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._chain, name)

    async def record_bets(self, batch: Sequence[BetToRecord]) -> str:
        self.sent.append(await self._chain.record_bets(batch))
        raise SimulatedCrash


class CrashWhileWaiting:
    """Dies while waiting for finality: the hash is stored, the confirmation is not."""

    def __init__(self, chain: LedgerChainPort) -> None:
        self._chain = chain

    def __getattr__(self, name: str) -> object:
        return getattr(self._chain, name)

    async def wait_for_finality(self, tx_hashes: Sequence[str]) -> Finality:
        raise SimulatedCrash


def at(start: datetime, *, hours: float) -> Callable[[], datetime]:
    """A worker's clock stopped `hours` after `start`."""
    moment = start + timedelta(hours=hours)
    return lambda: moment


async def assert_recorded_once(
    pool: asyncpg.Pool, settings_stats: tuple[int, int], slips: Sequence[tuple[str, Decimal]]
) -> None:
    entries = await entries_by_slip(pool)
    assert sorted(entries) == sorted(sid for sid, _ in slips)
    for slip_id, amount in slips:
        entry = entries[slip_id]
        assert entry["status"] == "confirmed", (slip_id, entry["error_message"])
        assert entry["win_amount"] == amount
        assert entry["bet_hash"] == bet_hash(slip_id).hex()
        assert entry["tx_hash"].startswith("0x")
        assert len(entry["tx_hash"]) == 66
        assert entry["block_number"] > 0
    total_bets, total_kobo = settings_stats
    assert total_bets == len(slips)
    assert total_kobo == sum(to_kobo(amount) for _, amount in slips)


async def test_records_exactly_the_qualifying_wins_once_each_confirmed_with_tx_and_block(
    ledger_pool: asyncpg.Pool, chain_settings: SettingsFactory
) -> None:
    wins = big_wins(250)
    await add_slips(ledger_pool, [*wins, *non_qualifying(10)])
    settings = chain_settings(ledger_batch_size=100)

    result = await make_worker(ledger_pool, settings).tick()

    assert (result.claimed, result.sent, result.confirmed, result.failed) == (250, 250, 250, 0)
    assert len(result.transactions) == 3  # batches of 100, 100 and 50
    await assert_recorded_once(
        ledger_pool, await chain_stats(settings), [(s[0], s[2]) for s in wins]
    )
    async with connect(
        settings.polygon_rpc_url,
        settings.ledger_private_key.get_secret_value(),
        str(settings.ledger_contract_address),
    ) as chain:
        record = await chain.get_bet_record(bet_hash(wins[7][0]))
    assert record is not None
    assert record.amount_kobo == to_kobo(wins[7][2])

    again = await make_worker(ledger_pool, settings).tick()
    assert (again.claimed, again.sent, again.confirmed) == (0, 0, 0)


async def test_two_workers_at_once_record_each_win_once_and_fail_nothing(
    ledger_pool: asyncpg.Pool, chain_settings: SettingsFactory
) -> None:
    wins = big_wins(60)
    await add_slips(ledger_pool, wins)
    settings = chain_settings(ledger_batch_size=25)
    first, second = make_worker(ledger_pool, settings), make_worker(ledger_pool, settings)

    results = await asyncio.gather(first.tick(), second.tick(), first.tick(), second.tick())

    assert sum(r.sent for r in results) == 60
    assert sum(r.failed for r in results) == 0
    assert any(not r.ran for r in results)  # the tick lock turned a worker away
    await assert_recorded_once(
        ledger_pool, await chain_stats(settings), [(s[0], s[2]) for s in wins]
    )


async def test_a_worker_killed_after_sending_and_before_storing_is_resumed_without_a_second_record(
    ledger_pool: asyncpg.Pool, chain_settings: SettingsFactory
) -> None:
    wins = big_wins(30)
    await add_slips(ledger_pool, wins)
    settings = chain_settings(ledger_batch_size=30)
    crashing: list[CrashAfterSend] = []

    def crash_after_send(chain: LedgerChainPort) -> LedgerChainPort:
        crashing.append(CrashAfterSend(chain))
        return crashing[-1]  # type: ignore[return-value]

    with pytest.raises(SimulatedCrash):
        await make_worker(ledger_pool, settings, wrap=crash_after_send).tick()

    entries = await entries_by_slip(ledger_pool)
    assert {e["status"] for e in entries.values()} == {"pending"}
    assert all(e["tx_hash"] is None for e in entries.values())
    [lost_tx] = crashing[0].sent

    result = await make_worker(ledger_pool, settings).tick()

    assert (result.sent, result.confirmed, result.failed) == (0, 30, 0)
    await assert_recorded_once(
        ledger_pool, await chain_stats(settings), [(s[0], s[2]) for s in wins]
    )
    entries = await entries_by_slip(ledger_pool)
    assert {e["tx_hash"] for e in entries.values()} == {lost_tx}  # the evidence of the first send


async def test_a_worker_killed_while_waiting_for_finality_is_resumed_from_the_stored_hash(
    ledger_pool: asyncpg.Pool, chain_settings: SettingsFactory
) -> None:
    wins = big_wins(12)
    await add_slips(ledger_pool, wins)
    settings = chain_settings()

    with pytest.raises(SimulatedCrash):
        await make_worker(ledger_pool, settings, wrap=CrashWhileWaiting).tick()  # type: ignore[arg-type]
    entries = await entries_by_slip(ledger_pool)
    assert {e["status"] for e in entries.values()} == {"submitted"}
    [sent_tx] = {e["tx_hash"] for e in entries.values()}

    result = await make_worker(ledger_pool, settings).tick()

    assert (result.sent, result.confirmed) == (0, 12)
    await assert_recorded_once(
        ledger_pool, await chain_stats(settings), [(s[0], s[2]) for s in wins]
    )
    assert {e["tx_hash"] for e in (await entries_by_slip(ledger_pool)).values()} == {sent_tx}


async def test_wins_stay_retryable_while_the_chain_is_unreachable_and_are_recorded_once_it_returns(
    ledger_pool: asyncpg.Pool, chain_settings: SettingsFactory
) -> None:
    wins = big_wins(20)
    await add_slips(ledger_pool, wins)
    dead_rpc = f"http://127.0.0.1:{free_port()}"
    now = datetime.now(UTC)
    down = make_worker(ledger_pool, chain_settings(polygon_rpc_url=dead_rpc), clock=lambda: now)

    outage = await down.tick()
    await down.tick()  # still backing off: the second tick changes nothing

    assert (outage.claimed, outage.failed) == (20, 20)
    entries = await entries_by_slip(ledger_pool)
    for entry in entries.values():
        assert entry["status"] == "failed"
        assert entry["attempts"] == 1
        assert entry["next_attempt_at"] > now
        assert "ConnectionError" in entry["error_message"] or "connect" in entry["error_message"]
        assert dead_rpc not in entry["error_message"]

    settings = chain_settings()
    too_soon = await make_worker(ledger_pool, settings, clock=lambda: now).tick()
    assert too_soon.sent == 0
    later = now + timedelta(seconds=settings.ledger_retry_base_seconds + 1)
    back = await make_worker(ledger_pool, settings, clock=lambda: later).tick()

    assert (back.sent, back.confirmed, back.failed) == (20, 20, 0)
    await assert_recorded_once(
        ledger_pool, await chain_stats(settings), [(s[0], s[2]) for s in wins]
    )


async def test_a_win_beyond_what_the_contract_holds_is_set_aside_and_the_valid_wins_are_recorded(
    ledger_pool: asyncpg.Pool, chain_settings: SettingsFactory
) -> None:
    wins = big_wins(5)
    bad = ("bet_too_big", "won", Decimal("999999999999999999.99"), wins[2][3])
    await add_slips(ledger_pool, [*wins, bad])
    settings = chain_settings(ledger_batch_size=100)  # all six in one batch
    now = datetime.now(UTC)

    result = await make_worker(ledger_pool, settings, clock=lambda: now).tick()

    assert (result.claimed, result.sent, result.confirmed, result.failed) == (6, 5, 5, 0)
    assert (result.set_aside, len(result.transactions)) == (1, 1)
    entries = await entries_by_slip(ledger_pool)
    refused = entries["bet_too_big"]
    assert refused["status"] == "failed"
    assert refused["set_aside_at"] == now
    assert refused["error_message"].startswith("Unrecordable: amount out of range")
    assert {entries[s[0]]["status"] for s in wins} == {"confirmed"}
    valid_kobo = sum(to_kobo(s[2]) for s in wins)
    assert await chain_stats(settings) == (5, valid_kobo)

    for hours in (1, 24, 24 * 30):  # past every backoff: never sent again
        again = await make_worker(ledger_pool, settings, clock=at(now, hours=hours)).tick()
        assert (again.sent, again.failed, again.set_aside) == (0, 0, 0)
    assert (await entries_by_slip(ledger_pool))["bet_too_big"] == refused
    assert await chain_stats(settings) == (5, valid_kobo)
    async with connect(
        settings.polygon_rpc_url,
        settings.ledger_private_key.get_secret_value(),
        str(settings.ledger_contract_address),
    ) as chain:
        assert await chain.get_bet_record(bet_hash("bet_too_big")) is None
